"""Acquisition from a local STAC API over HTTP (the path a Planetary Computer run takes): time to choose
the best scene of a granule-year and to read it as chips, and the bytes read over HTTP against the size
of the files."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time

import uvicorn

from bench.common import free_port, synthetic_region, table
from catalog.api.app import create_app

SELECT = """
import json, time
from publisher.imagery.acquire import search_scenes, select_scene
start = time.perf_counter()
items = search_scenes("48RVU", 2023, stac_api="{base}", max_cloud=100)
best, ranked = select_scene(items, "48RVU", 2023)
print(json.dumps({{"seconds": time.perf_counter() - start, "href": best.href, "candidates": len(ranked)}}))
"""
READ = """
import json, time
from publisher.imagery.extract import extract_chips
from publisher.mpi import world
start = time.perf_counter()
with extract_chips("{href}", world()) as chips:
    print(json.dumps({{"seconds": time.perf_counter() - start, "chips": len(chips.chips)}}))
"""


class ByteCounter:
    """ASGI middleware counting the body bytes and requests of the file routes (``/files/...``)."""

    def __init__(self, app) -> None:
        self.app, self.bytes, self.requests = app, 0, 0

    async def __call__(self, scope, receive, send):
        is_file = scope["type"] == "http" and scope["path"].startswith("/files/")
        self.requests += is_file

        async def counting_send(message):
            if is_file and message["type"] == "http.response.body":
                self.bytes += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting_send)


def _client(code: str) -> dict:
    """Run the client in a fresh interpreter, so GDAL's HTTP caches start empty each time."""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _measure(counter: ByteCounter, code: str) -> tuple[dict, int, int]:
    counter.bytes = counter.requests = 0
    result = _client(code)
    return result, counter.bytes, counter.requests


def run(quick: bool = False) -> str:
    """Markdown section: select and read times, bytes and requests over HTTP."""
    repeats = 1 if quick else 3
    region = synthetic_region(size=1098 if quick else 10980)
    source = region / "source"
    sizes = {p.parent.name: p.stat().st_size for p in source.glob("sentinel-2-l2a/*/visual.tif")}
    counter = ByteCounter(create_app(source))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(counter, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        selects = [_measure(counter, SELECT.format(base=base)) for _ in range(repeats)]
        href = selects[0][0]["href"]
        reads = [_measure(counter, READ.format(href=href)) for _ in range(repeats)]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    chosen = href.rstrip("/").split("/")[-2]
    total, chosen_size = sum(sizes.values()), sizes[chosen]
    select_s = statistics.median(r[0]["seconds"] for r in selects)
    read_s = statistics.median(r[0]["seconds"] for r in reads)
    select_bytes, select_requests = selects[0][1], selects[0][2]
    read_bytes, read_requests = reads[0][1], reads[0][2]
    mib = 2**20
    rows = [
        [f"search + choose among {len(sizes)} scenes (blank share from the smallest overview)", f"{select_s:.2f}",
         f"{select_bytes / mib:.2f}", select_requests, f"{total / mib:.0f} (all scenes)", f"{select_bytes / total:.2%}"],
        ["read the chosen scene as 1024 chips (/vsicurl/ range reads)", f"{read_s:.2f}", f"{read_bytes / mib:.1f}",
         read_requests, f"{chosen_size / mib:.0f} (chosen scene)", f"{read_bytes / chosen_size:.0%}"],
    ]
    return "\n".join([
        f"### Acquisition over HTTP from a local STAC API ({'1098 px, quick' if quick else '10980 px'} scenes of 48RVU 2023)",
        "",
        table(["step", "median s", "MiB read", "HTTP requests", "file size MiB", "read / size"], rows),
        "",
        f"Goal: read only what is needed. Choosing reads {select_bytes / total:.2%} of the candidates' bytes (headers "
        f"and the smallest overview); reading the chosen scene's chips reads {read_bytes / chosen_size:.0%} of its file "
        "(the full-resolution tiles once, no overviews). Medians of "
        f"{repeats} run(s), each in a fresh interpreter; bytes and requests from the first run; the STAC API "
        "(stac-fastapi over the SQLite index) and the files are served by uvicorn on 127.0.0.1.",
    ])
