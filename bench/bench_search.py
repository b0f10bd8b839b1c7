"""STAC item search with bbox + datetime over 10,000 and 100,000 generated items: the SQLite index
alone and through the HTTP API (stac-fastapi on uvicorn, loopback)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import free_port, table
from catalog.api.index import SearchQuery, SQLiteIndex

GOAL_P50_MS = 20.0
QUERIES = 200
SERVER = """
import os, uvicorn
from catalog.api.app import create_stac_api
from catalog.api.index import SQLiteIndex
index = SQLiteIndex(os.environ["BENCH_DB"])
app = create_stac_api(index, files_url=lambda request: "http://127.0.0.1/files")
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_level="warning")
"""


def _items(n: int, rng: np.random.Generator):
    """n granule-year-like items: 1 degree squares anywhere on land-ish latitudes, years 2016-2025."""
    lons, lats = rng.uniform(-179, 178, n), rng.uniform(-60, 70, n)
    years = rng.integers(2016, 2026, n)
    for i in range(n):
        west, south = float(lons[i]), float(lats[i])
        bbox = [west, south, west + 1.0, south + 1.0]
        year = int(years[i])
        yield {
            "type": "Feature", "stac_version": "1.1.0", "id": f"item-{i}", "collection": "bench",
            "bbox": bbox,
            "geometry": {"type": "Polygon", "coordinates": [[[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]],
                                                              [bbox[0], bbox[3]], [bbox[0], bbox[1]]]]},
            "properties": {"datetime": f"{year}-06-01T00:00:00Z", "start_datetime": f"{year}-01-01T00:00:00Z",
                           "end_datetime": f"{year}-12-31T23:59:59Z"},
            "links": [], "assets": {},
        }, f"bench/item-{i}/item-{i}.json"


def _queries(rng: np.random.Generator) -> list[tuple[list[float], str]]:
    out = []
    for _ in range(QUERIES):
        west, south = float(rng.uniform(-170, 160)), float(rng.uniform(-50, 60))
        year = int(rng.integers(2016, 2026))
        out.append(([west, south, west + 5.0, south + 5.0], f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z"))
    return out


def _measure(n: int, folder: Path) -> list[object]:
    rng = np.random.default_rng(n)
    db = folder / f"index-{n}.sqlite"
    index = SQLiteIndex(str(db))
    index.add_collection({"type": "Collection", "id": "bench", "description": "bench", "links": [],
                          "license": "other", "extent": {}, "stac_version": "1.1.0"})
    start = time.perf_counter()
    index.add_items(_items(n, rng))
    load_s = time.perf_counter() - start
    queries = _queries(rng)
    raw = []
    for bbox, interval in queries:
        start = time.perf_counter()
        index.search(SearchQuery(bbox=bbox, interval=tuple(dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                                                         for v in interval.split("/")), limit=10))
        raw.append((time.perf_counter() - start) * 1000)
    port = free_port()
    env = dict(os.environ, BENCH_DB=str(db), BENCH_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-c", SERVER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        http, matched = [], 0
        with httpx.Client(timeout=30) as client:
            for bbox, interval in queries:
                start = time.perf_counter()
                response = client.get(f"http://127.0.0.1:{port}/search",
                                      params={"bbox": ",".join(map(str, bbox)), "datetime": interval, "limit": 10})
                http.append((time.perf_counter() - start) * 1000)
                matched += response.json()["numberMatched"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    p50 = float(np.percentile(http, 50))
    return [f"{n:,}", f"{load_s:.1f}", f"{np.percentile(raw, 50):.1f}", f"{np.percentile(raw, 99):.1f}",
            f"{p50:.1f}", f"{np.percentile(http, 99):.1f}", f"{matched / QUERIES:.1f}", p50]


def run(quick: bool = False) -> str:
    """Markdown section with p50/p99 latencies per catalog size."""
    sizes = (1_000,) if quick else (10_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_measure(n, Path(tmp)) for n in sizes]
    p50_largest = rows[-1].pop()
    for row in rows[:-1]:
        row.pop()
    verdict = "met" if p50_largest <= GOAL_P50_MS else "missed"
    return "\n".join([
        "### Item search, bbox (5 x 5 degrees) + one-year datetime, limit 10",
        "",
        table(["items", "index load (s)", "index p50 ms", "index p99 ms", "HTTP p50 ms", "HTTP p99 ms",
               "mean matches"], rows),
        "",
        f"Goal: HTTP p50 <= {GOAL_P50_MS:.0f} ms at the largest size: {verdict} ({p50_largest:.1f} ms). "
        f"{QUERIES} random queries per size; the API runs on uvicorn in its own process.",
    ])
