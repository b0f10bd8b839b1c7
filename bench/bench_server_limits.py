"""The worst case the request limits allow (issues 8 and 20), on both routers: a mix of the most expensive
requests still accepted (1024 px tiles with buffers, 2048 px previews, bbox and feature images,
full-granule statistics at max_size 2048 with MAX_BANDS bands (a repeated band is read once),
16-feature statistics) on the score layers and on the night lights (item and year mosaic), sent by 8
concurrent clients to `uvicorn tiler_app.asgi:app --workers 2` with the tile cache off: peak RSS of the
server and of one worker, p50/p99/max latency, errors; then the same mix one request at a time (the 5 s
goal of one request). The probe's refused requests (tile x of 2^63, 4096 px night-light tiles, a zoom past
the served ones, 64 repeated bidx, unusable CRSs, oversized bodies) are a row of their own: all must be
4xx. Plain 256 px tiles on the same server are the reference row."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np
import psutil

from bench.common import free_port, running_server, table
from catalog.nightlights.ingest import ingest
from publisher.grid import TileGrid
from tests.nightlights_fixtures import publish_field_scores, write_vnl_like
from tiler_app import budget, limits
from tiler_app.security import process_environment

CLIENTS = 8
WORKERS = 2
GOAL_RSS_MB = 1024
GOAL_SECONDS = 5.0
ALONE = "worst allowed mix, one client at a time"
ITEM = "/collections/devscore-scores/items/48RVU-2023"
LIGHTS_ITEM = "/nightlights/items/48RVU-2023"
LIGHTS_YEAR = "/nightlights/years/2023"


def _feature(west: float, south: float, size: float) -> dict:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _worst_requests(tiles: list[morecantile.Tile]) -> list[tuple[str, str, dict | None]]:
    """(method, path, JSON body) of the costliest requests the limits accept."""
    side = limits.MAX_IMAGE_SIDE
    native = 0.2  # degrees: about 20 x 22 km, just under MAX_IMAGE_PIXELS at 10 m
    collection = {"type": "FeatureCollection",
                  "features": [_feature(104.0 + 0.05 * i, 30.0, 0.2) for i in range(limits.MAX_FEATURES)]}
    bands = "&".join(["bidx=1"] * limits.MAX_BANDS)
    requests = [
        ("GET", f"{ITEM}/preview.png?max_size={side}", None),
        ("GET", f"{ITEM}/statistics?max_size={side}&histogram_bins={limits.MAX_HISTOGRAM_BINS}&{bands}", None),
        ("GET", f"{ITEM}/bbox/103.9,29.7,105.1,30.8/{side}x{side}.tif", None),
        ("GET", f"{ITEM}/bbox/104.0,30.0,{104.0 + native},{30.0 + native * 0.9}.tif", None),
        ("POST", f"{ITEM}/feature/{side}x{side}.png", _feature(103.9, 29.7, 1.1)),
        ("POST", f"{ITEM}/statistics?max_size={limits.MAX_COVERAGE_SIDE // limits.DEFAULT_COVER_SCALE}", collection),
    ]
    requests += [("GET", f"{ITEM}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?tilesize={limits.MAX_TILESIZE}"
                         f"&buffer={limits.MAX_TILE_BUFFER}", None) for t in tiles]
    lights = [
        ("GET", f"{LIGHTS_ITEM}/preview.png?max_size={side}", None),
        ("GET", f"{LIGHTS_ITEM}/statistics?max_size={side}&histogram_bins={limits.MAX_HISTOGRAM_BINS}&{bands}", None),
        ("GET", f"{LIGHTS_ITEM}/bbox/103.9,29.7,105.1,30.8/{side}x{side}.tif", None),
        ("POST", f"{LIGHTS_ITEM}/feature/{side}x{side}.png", _feature(103.9, 29.7, 1.1)),
        ("POST", f"{LIGHTS_ITEM}/statistics?max_size={limits.MAX_COVERAGE_SIDE // limits.DEFAULT_COVER_SCALE}",
         collection),
    ]
    for prefix in (LIGHTS_ITEM, LIGHTS_YEAR):
        lights += [("GET", f"{prefix}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?tilesize={limits.MAX_TILESIZE}"
                           f"&buffer={limits.MAX_TILE_BUFFER}", None) for t in tiles[:5]]
    return requests + lights


def _refused_requests() -> list[tuple[str, str, dict | None]]:
    """The probe's requests (issue 20) that must be refused, each answered 4xx."""
    big = {"type": "FeatureCollection", "features": [_feature(104.0, 30.0, 0.1)] * 8000}
    return [
        ("GET", f"{LIGHTS_ITEM}/tiles/WebMercatorQuad/10/10000000000000000000/421.png", None),
        ("GET", f"{LIGHTS_YEAR}/tiles/WebMercatorQuad/10/421/10000000000000000000.png", None),
        ("GET", f"{LIGHTS_YEAR}/tiles/WebMercatorQuad/9/406/214.png?tilesize=4096", None),
        # the probe's z20 is served now (over-zoom, issue 17: a cheap upsampled tile, 204 beside the data); the
        # first zoom past the served ones is refused
        ("GET", f"{LIGHTS_YEAR}/tiles/WebMercatorQuad/{limits.OVERZOOM_MAX + 1}/0/0.png", None),
        ("GET", f"{LIGHTS_YEAR}/tiles/CanadianNAD83_LCC/2/1/1.png", None),
        ("GET", f"{LIGHTS_ITEM}/statistics?max_size=0", None),
        ("GET", f"{ITEM}/statistics?max_size=2048&" + "&".join(["bidx=1"] * 64), None),
        ("GET", f"{ITEM}/point/104.5,30.5?coord_crs=EPSG:5703", None),
        ("GET", f"{ITEM}/preview.png?max_size=64&dst_crs=EPSG:5800", None),
        ("POST", f"{LIGHTS_ITEM}/statistics", big),
        ("POST", "/stac/search", big),
        ("GET", "/layers?q=" + "a" * (budget.MAX_URL_BYTES + 1), None),
    ]


async def _load(base: str, requests: list, total: int, expect_ok: bool = True,
                clients: int = CLIENTS) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(requests[i % len(requests)])

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            method, path, body = queue.get_nowait()
            start = time.perf_counter()
            response = await http.request(method, base + path, json=body)
            latencies.append((time.perf_counter() - start) * 1000)
            errors += response.status_code != 200 if expect_ok else not 400 <= response.status_code < 500

    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - start, latencies, errors


class _PeakRSS:
    """Samples the RSS of a process tree (the uvicorn supervisor and its workers) in a thread."""

    def __init__(self, pid: int) -> None:
        self.root, self.peak, self.peak_worker = psutil.Process(pid), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                workers = [p.memory_info().rss for p in self.root.children(recursive=True)]
                total = self.root.memory_info().rss + sum(workers)
            except psutil.Error:
                break
            self.peak, self.peak_worker = max(self.peak, total), max(self.peak_worker, max(workers, default=0))
            time.sleep(0.05)

    def __enter__(self) -> "_PeakRSS":
        self.peak = self.peak_worker = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run(quick: bool = False) -> str:
    """Markdown section: requests/s, p50, p99, errors and peak server RSS for the worst mix and plain tiles."""
    rounds = 1 if quick else 4
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalog = publish_field_scores(folder, ("48RVU",), 2023)
        ingest([write_vnl_like(folder / "VNL_npp_2023_global.average.dat.tif", (103.7, 29.5, 105.35, 31.0), 2023)],
               2023, catalog)
        tms = morecantile.tms.get("WebMercatorQuad")
        west, south, east, north = TileGrid.from_tile_id("48RVU").bbox
        tiles = [t for z in (9, 11, 13) for t in tms.tiles(west + 0.1, south + 0.1, east - 0.1, north - 0.1, [z])]
        rng = np.random.default_rng(1)
        worst_tiles = [tiles[i] for i in rng.choice(len(tiles), 10, replace=False)]
        worst = _worst_requests(worst_tiles)
        plain = [("GET", f"{ITEM}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png", None) for t in tiles]
        port = free_port()
        env = dict(os.environ, **process_environment(), DEVSCORE_CATALOG=str(folder / "catalog"),
                   DEVSCORE_TILE_CACHE_MB="0")  # the environment `devscore serve` gives its workers
        base = f"http://127.0.0.1:{port}"
        with running_server([str(Path(sys.executable).parent / "uvicorn"), "tiler_app.asgi:app", "--port", str(port),
                             "--workers", str(WORKERS), "--log-level", "warning"], f"{base}/layers", env) as proc:
            asyncio.run(_load(base, plain, len(plain)))  # warm both workers' GDAL caches and imports
            rows, peaks, worker_peaks, slowest = [], {}, {}, {}
            refused = _refused_requests()
            for name, requests, total, ok, clients in (
                    ("worst allowed mix, both routers", worst, len(worst) * rounds, True, CLIENTS),
                    (ALONE, worst, len(worst), True, 1),
                    ("the probe's refused requests (errors: not 4xx)", refused, len(refused) * rounds, False, CLIENTS),
                    ("plain 256 px tiles (reference)", plain, len(plain) * rounds, True, CLIENTS)):
                with _PeakRSS(proc.pid) as rss:
                    elapsed, latencies, errors = asyncio.run(_load(base, requests, total, ok, clients))
                peaks[name], worker_peaks[name], slowest[name] = rss.peak / 2**20, rss.peak_worker / 2**20, max(latencies)
                rows.append([name, total, f"{total / elapsed:.1f}", f"{np.percentile(latencies, 50):.0f}",
                             f"{np.percentile(latencies, 99):.0f}", f"{max(latencies):.0f}", errors,
                             f"{rss.peak / 2**20:.0f}", f"{rss.peak_worker / 2**20:.0f}"])
    worst_peak = peaks["worst allowed mix, both routers"]
    worker_peak = worker_peaks["worst allowed mix, both routers"]
    verdict = (f"peak RSS < {GOAL_RSS_MB} MB per worker: {'met' if worker_peak < GOAL_RSS_MB else 'missed'} "
               f"({worker_peak:.0f} MB); all {WORKERS} workers and the supervisor together "
               f"{'under' if worst_peak < GOAL_RSS_MB else 'over'} {GOAL_RSS_MB} MB")
    return "\n".join([
        f"### Worst-case request mix under the limits ({WORKERS} workers, {CLIENTS} concurrent clients, tile cache off)",
        "",
        table(["requests", "count", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "peak server RSS MB (all processes)",
               "peak RSS MB (one worker)"], rows),
        "",
        f"Goal: {verdict} ({worst_peak:.0f} MB; {worst_peak / peaks['plain 256 px tiles (reference)']:.2f}x the "
        f"plain-tile run). Each request of the mix alone (one client): slowest {slowest[ALONE] / 1000:.1f} s, "
        f"{'within' if slowest[ALONE] < GOAL_SECONDS * 1000 else 'over'} {GOAL_SECONDS:g} s; under {CLIENTS} clients "
        f"the p99 adds the queueing of a CPU-bound mix on the machine's cores. The mix: preview and statistics at max_size {limits.MAX_IMAGE_SIDE}, a full-granule "
        f"bbox TIFF at {limits.MAX_IMAGE_SIDE} px, a native-resolution bbox just under MAX_IMAGE_PIXELS, a "
        f"{limits.MAX_IMAGE_SIDE} px feature image, statistics of {limits.MAX_FEATURES} features (max_size x "
        f"cover_scale = {limits.MAX_COVERAGE_SIDE}) and "
        f"{limits.MAX_TILESIZE} px tiles with buffer {limits.MAX_TILE_BUFFER}, on the score layers and the night "
        f"lights (item and year mosaic), each sent {rounds} time(s). Before "
        "the limits single requests reached 2 to 7.4 GB (issue 8), and the night-light routes 2.8 GB, 19 s or "
        "forever (issue 20). RSS sampled every 50 ms over the supervisor and "
        "its workers; client and server share the machine's cores.",
    ])
