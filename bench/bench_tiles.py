"""Warm PNG tiles, zoom 8 to 12 over one published granule, 16 concurrent clients on loopback:
the devscore server (with its tile cache, and with the cache off) against a bare TiTiler TilerFactory
serving the same COG, in the same run."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np

from bench.common import free_port, running_server, table
from catalog.ingest import publish_table
from catalog.reader import StaticCatalog
from publisher.scores import GranuleYear, scores_to_table

CLIENTS = 16
ZOOMS = range(8, 13)
GOAL_RATE, GOAL_P99_MS, GOAL_RATIO = 150.0, 150.0, 0.9
RENDER = "colormap_name=rdylgn_r&rescale=0,1"


async def _load(urls: list[str], total: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(urls[i % len(urls)])

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            url = queue.get_nowait()
            start = time.perf_counter()
            response = await http.get(url)
            latencies.append((time.perf_counter() - start) * 1000)
            errors += response.status_code not in (200, 204)

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=CLIENTS)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    return total / elapsed, latencies, errors


def _row(name: str, rate: float, latencies: list[float], errors: int) -> list[object]:
    p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
    return [name, f"{rate:.0f}", f"{p50:.0f}", f"{p99:.0f}", errors]


def run(quick: bool = False) -> str:
    """Markdown section: tiles/s, p50, p99 and errors of both servers, and their ratio."""
    total = 300 if quick else 3000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scores = np.random.default_rng(0).random((32, 32), dtype=np.float32)
        granule = GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 1, tzinfo=dt.timezone.utc), None, scores)
        scores_to_table([granule]).to_csv(folder / "scores.csv", index=False)
        publish_table(folder / "scores.csv", folder / "catalog", device="cpu", progress=False)
        cog = StaticCatalog(folder / "catalog").asset_path("devscore-scores", "48RVU-2023", "score")
        tms = morecantile.tms.get("WebMercatorQuad")
        west, south, east, north = granule.grid.bbox
        tiles = [t for z in ZOOMS for t in tms.tiles(west + 0.05, south + 0.05, east - 0.05, north - 0.05, [z])]
        bindir = Path(sys.executable).parent
        servers = {
            "devscore item tiles (tile cache on, the default)": ("tiler_app.asgi:app", {}),
            "devscore item tiles, --tile-cache-mb 0 (every tile rendered)": ("tiler_app.asgi:app",
                                                                            {"DEVSCORE_TILE_CACHE_MB": "0"}),
            "bare TiTiler TilerFactory (?url=)": ("bench.bare_titiler:app", {}),
        }
        results = {}
        for name, (target, extra) in servers.items():
            port = free_port()
            env = dict(os.environ, DEVSCORE_CATALOG=str(folder / "catalog"),
                       DEVSCORE_TILE_CACHE_DIR=str(folder / f"tile-cache-{port}"), **extra)
            probe = f"http://127.0.0.1:{port}/docs"
            with running_server([str(bindir / "uvicorn"), target, "--port", str(port), "--workers", "2",
                                 "--log-level", "warning"], probe, env):
                if target.startswith("tiler_app"):
                    urls = [f"http://127.0.0.1:{port}/collections/devscore-scores/items/48RVU-2023/tiles/"
                            f"WebMercatorQuad/{t.z}/{t.x}/{t.y}.png" for t in tiles]
                else:
                    urls = [f"http://127.0.0.1:{port}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?url={cog}&{RENDER}"
                            for t in tiles]
                asyncio.run(_load(urls, len(urls)))  # warm: every tile once
                results[name] = asyncio.run(_load(urls, total))
    (ours_rate, ours_lat, ours_err), (plain_rate, _, plain_err), (bare_rate, _, _) = results.values()
    ratio, plain_ratio = ours_rate / bare_rate, plain_rate / bare_rate
    p99 = float(np.percentile(ours_lat, 99))
    verdict = "; ".join([
        f">= {GOAL_RATE:.0f} tiles/s: {'met' if ours_rate >= GOAL_RATE else 'missed'}",
        f"p99 <= {GOAL_P99_MS:.0f} ms: {'met' if p99 <= GOAL_P99_MS else 'missed'}",
        f"zero errors: {'met' if ours_err + plain_err == 0 else 'missed'}",
        f">= {GOAL_RATIO}x bare TiTiler: {'met' if ratio >= GOAL_RATIO else 'missed'} ({ratio:.2f}x; "
        f"{plain_ratio:.2f}x with the cache off)",
    ])
    return "\n".join([
        f"### Warm PNG tiles, zoom {ZOOMS.start}-{ZOOMS.stop - 1}, {len(tiles)} tiles over 48RVU, {CLIENTS} concurrent clients",
        "",
        table(["server (uvicorn, 2 workers)", "tiles/s", "p50 ms", "p99 ms", "errors"],
              [_row(name, *res) for name, res in results.items()]),
        "",
        f"Goals: {verdict}. {total} requests each after one warm-up pass over every tile; client (httpx, asyncio) "
        "and servers share the same 2 cores; the 2 workers share one tile cache (diskcache). With the cache off a "
        "tile costs about 20-25 ms of rio-tiler's warped read from the UTM COG, for devscore as for bare TiTiler.",
    ])
