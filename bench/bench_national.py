"""A national-scale catalog (bench/national.py: every MGRS tile over a country-sized area x 5 years x the
score and night-light collections, items only) in both backends, side by side in one run: load time,
STAC search p50/p99 (bbox + datetime, 10 and 1,000 results, paging), year-mosaic tiles over a region of
50 granules with the tile cache off, and server memory, for the embedded SQLite index (static catalog)
and pgstac (a PostgreSQL started by scripts/pgstac-db.sh), each served by `devscore serve` with 1 and 4
worker processes. The searches of 10 come from wrk (bench.common.wrk_load), the heavier requests from
httpx."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np
import psutil

from bench.common import free_port, running_server, table, wrk_load
from bench.national import COUNTRY, generate, pgstac_documents
from catalog.api.backend import StaticCatalogBackend
from catalog.reader import StaticCatalog
from publisher.grid import TileGrid

ROOT = Path(__file__).resolve().parents[1]
#: A province instead of the country in quick mode.
QUICK_AREA = (102.0, 27.0, 109.0, 33.0)
GOAL_SEARCH_P50_MS, GOAL_TILE_P50_MS, GOAL_SCALING = 50.0, 150.0, 1.6


#: Concurrent clients, and the most tiles of the region requested (each once: cold).
CLIENTS, MAX_TILES = 8, 60
#: Seconds of searches of 10 per server, after a warm-up of WARMUP_S.
SEARCH_S, WARMUP_S = 10, 3


async def _load(urls: list[str], total: int) -> tuple[float, list[float], int]:
    """Requests per second, latencies (ms) and errors of ``total`` GETs over ``urls`` from CLIENTS clients."""
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
            try:
                response = await http.get(url)
                errors += response.status_code not in (200, 204)
            except httpx.HTTPError:  # a dropped connection is an error of the run, not the end of it
                errors += 1
            latencies.append((time.perf_counter() - start) * 1000)

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=CLIENTS)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        return total / (time.perf_counter() - start), latencies, errors


def _start_pgstac(folder: Path) -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "pgstac-db.sh"), "start", str(folder)], capture_output=True,
                          text=True, env={**os.environ, "PYTHON": sys.executable}, check=True)
    return done.stdout.strip().splitlines()[-1]


def _rss_mb(proc: subprocess.Popen) -> float:
    root = psutil.Process(proc.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def _search_urls(base: str, area: tuple[float, float, float, float], count: int, limit: int, rng) -> list[str]:
    west, south, east, north = area
    urls = []
    for _ in range(count):
        x, y = rng.uniform(west, east - 1), rng.uniform(south, north - 1)
        size = 1.0 if limit <= 10 else 8.0
        urls.append(f"{base}/stac/search?bbox={x:.3f},{y:.3f},{x + size:.3f},{y + size:.3f}"
                    f"&datetime=2023-01-01T00:00:00Z/2023-12-31T23:59:59Z&limit={limit}")
    return urls


def _paging_ms(base: str, area: tuple[float, float, float, float]) -> tuple[float, int]:
    """Median milliseconds per page following `next` links (100 items a page) over the whole area and year."""
    west, south, east, north = area
    url = f"{base}/stac/search?bbox={west},{south},{east},{north}&datetime=2023-01-01T00:00:00Z/2023-12-31T23:59:59Z&limit=100"
    times, pages = [], 0
    with httpx.Client(timeout=120) as http:
        while url and pages < 30:
            start = time.perf_counter()
            page = http.get(url).json()
            times.append((time.perf_counter() - start) * 1000)
            pages += 1
            url = next((link["href"] for link in page.get("links", []) if link["rel"] == "next"), None)
    return float(np.median(times)), pages


def _tile_urls(base: str, region_tiles: list[str]) -> list[str]:
    tms = morecantile.tms.get("WebMercatorQuad")
    boxes = np.array([TileGrid.from_tile_id(t).bbox for t in region_tiles])
    west, south = boxes[:, 0].min(), boxes[:, 1].min()
    east, north = boxes[:, 2].max(), boxes[:, 3].max()
    urls = [f"{base}/collections/devscore-scores/years/2023/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
            for z in (7, 8, 9) for t in tms.tiles(west, south, east, north, [z])]
    return [urls[i] for i in np.random.default_rng(0).permutation(len(urls))[:MAX_TILES]]


def _pct(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.0f} / {np.percentile(values, 99):.0f}"


def run(quick: bool = False) -> str:
    """Markdown section: the side-by-side table and the goals."""
    area = QUICK_AREA if quick else COUNTRY
    searches = 60 if quick else 300
    work = Path(tempfile.mkdtemp(prefix="devscore-national-"))
    pg = Path(tempfile.mkdtemp(prefix="devscore-national-pg-"))  # its own: handed to user postgres
    try:
        start = time.perf_counter()
        national = generate(work / "catalog", area)
        generated = time.perf_counter() - start
        dsn = _start_pgstac(pg)
        from catalog.pgstac.load import load

        collections, items = pgstac_documents(national)
        start = time.perf_counter()
        load(dsn, collections, items)
        loads = {"pgstac": time.perf_counter() - start}
        start = time.perf_counter()
        StaticCatalogBackend(StaticCatalog(national.root)).collections()  # read every item file, index in SQLite
        loads["SQLite"] = time.perf_counter() - start
        rows, rates = [], {}
        rng = np.random.default_rng(0)
        for backend in ("SQLite", "pgstac"):
            for workers in (1, 4):
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                source = ["--pgstac", dsn] if backend == "pgstac" else ["--catalog", str(national.root)]
                args = [str(Path(sys.executable).parent / "devscore"), "serve", *source, "--port", str(port),
                        "--workers", str(workers), "--tile-cache-mb", "0"]
                with running_server(args, f"{base}/stac/", timeout_s=600) as proc:
                    paths = [url.removeprefix(base) for url in _search_urls(base, area, searches, 10, rng)]
                    wrk_load(base, paths, CLIENTS, WARMUP_S)  # every worker up and warm
                    rate10, p50, p99, err10 = wrk_load(base, paths, CLIENTS, SEARCH_S)
                    rate1k, lat1k, err1k = asyncio.run(_load(_search_urls(base, area, 20, 1000, rng), 20))
                    page_ms, pages = _paging_ms(base, area)
                    tiles = _tile_urls(base, national.region_tiles)
                    _, lat_tiles, err_tiles = asyncio.run(_load(tiles, len(tiles)))
                    rss = _rss_mb(proc)
                rates[backend, workers] = rate10
                rows.append([backend, workers, f"{rate10:.0f}", f"{p50:.0f} / {p99:.0f}", _pct(lat1k), f"{page_ms:.0f} ({pages})",
                             _pct(lat_tiles), f"{rss:.0f}", err10 + err1k + err_tiles])
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "pgstac-db.sh"), "stop", str(pg)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg, ignore_errors=True)
    scaling = {b: rates[b, 4] / rates[b, 1] for b in ("SQLite", "pgstac")}
    return "\n".join([
        f"### National-scale catalog: {len(national.items):,} items ({len(national.items) // 10:,} MGRS tiles x 5 years x "
        f"2 collections over {area}), SQLite vs pgstac",
        "",
        f"Load: pgstac {loads['pgstac']:.1f} s (pypgstac Loader, one transaction); SQLite {loads['SQLite']:.1f} s (read "
        f"every item file, index in memory; each server process does this when it starts). Items generated in "
        f"{generated:.0f} s.",
        "",
        table(["backend", "server processes", "search/s (10 results)", "search p50 / p99 ms (10)",
               "search p50 / p99 ms (1,000)", "ms per page of 100 (pages)",
               f"year-mosaic tile p50 / p99 ms (cold, {len(national.region_tiles)} granules, z7-9)", "server RSS MB",
               "errors"], rows),
        "",
        f"4 processes vs 1 (searches of 10 per second): SQLite {scaling['SQLite']:.2f}x, pgstac {scaling['pgstac']:.2f}x "
        f"(goal {GOAL_SCALING}x). Goals: search p50 <= {GOAL_SEARCH_P50_MS:.0f} ms and mosaic tile p50 <= "
        f"{GOAL_TILE_P50_MS:.0f} ms on both (read them off the table). {CLIENTS} concurrent keep-alive connections on the "
        f"same machine as the servers and the database: searches of 10 (random 1 degree bboxes in 2023) for {SEARCH_S} s "
        "from wrk; searches of 1,000 (8 degree bboxes), paging and cold year-mosaic tiles (each tile once, the tile "
        "cache off) from httpx. Servers are `devscore serve --workers N`.",
    ])
