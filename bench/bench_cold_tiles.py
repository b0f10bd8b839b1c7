"""Cold (uncached) PNG tiles of one score COG, zoom 8 to 14, 16 concurrent connections on loopback, in one
run: bare TiTiler on the published COG (the baseline), bare TiTiler on a web-optimized copy (rio-cogeo,
Web-Mercator-aligned), TiTiler with devscore's chip-grid reader (``tiler_app.gridtiles``), and the
devscore server with its tile cache off (which uses that reader). Every app runs under the same server
(``tiler_app.supervisor.run_server``: uvicorn, 2 workers each on its own socket) and the load comes from
wrk, so the apps differ and nothing else."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

import morecantile
import numpy as np
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from bench.bench_tiles import CLIENTS, RENDER
from bench.common import free_port, running_server, table, wrk_load
from catalog.ingest import publish_table
from catalog.reader import StaticCatalog
from publisher.scores import GranuleYear, scores_to_table

ZOOMS = range(8, 15)
GOAL_RATIO, GOAL_P99_MS = 4.0, 150.0
#: Worker processes of every server measured.
WORKERS = 2


def _web_optimized(cog: Path, out: Path) -> Path:
    profile = cog_profiles.get("zstd")
    cog_translate(str(cog), str(out), profile, web_optimized=True, resampling="nearest",
                  overview_resampling="nearest", quiet=True)
    return out


def run(quick: bool = False) -> str:
    """Markdown section: tiles/s, p50, p99 and errors of each path; ratios against bare TiTiler."""
    per_zoom = 12 if quick else 40
    seconds = 10 if quick else 30
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scores = np.random.default_rng(0).random((32, 32), dtype=np.float32)
        granule = GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 1, tzinfo=dt.timezone.utc), None, scores)
        scores_to_table([granule]).to_csv(folder / "scores.csv", index=False)
        publish_table(folder / "scores.csv", folder / "catalog", device="cpu", progress=False)
        cog = StaticCatalog(folder / "catalog").asset_path("devscore-scores", "48RVU-2023", "score")
        web = _web_optimized(cog, folder / "web.tif")
        tms = morecantile.tms.get("WebMercatorQuad")
        west, south, east, north = granule.grid.bbox
        rng = np.random.default_rng(1)
        tiles = []
        for z in ZOOMS:
            inside = list(tms.tiles(west + 0.05, south + 0.05, east - 0.05, north - 0.05, [z]))
            tiles += [inside[i] for i in rng.choice(len(inside), min(per_zoom, len(inside)), replace=False)]

        def titiler_paths(path: Path) -> list[str]:
            return [f"/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?url={path}&{RENDER}" for t in tiles]

        def devscore_paths(path: Path) -> list[str]:
            return [f"/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
                    for t in tiles]

        variants = {
            "bare TiTiler, published COG (baseline)": ("bench.bare_titiler:app", cog, titiler_paths),
            "bare TiTiler, web-optimized COG (rio-cogeo)": ("bench.bare_titiler:app", web, titiler_paths),
            "TiTiler + devscore chip-grid reader, published COG": ("bench.grid_titiler:app", cog, titiler_paths),
            "devscore item tiles, --tile-cache-mb 0": ("tiler_app.asgi:app", cog, devscore_paths),
        }
        results = {}
        for name, (target, path, make_paths) in variants.items():
            port = free_port()
            env = dict(os.environ, DEVSCORE_CATALOG=str(folder / "catalog"), DEVSCORE_TILE_CACHE_MB="0")
            serve = f"from tiler_app.supervisor import run_server; run_server({target!r}, '127.0.0.1', {port}, {WORKERS})"
            base = f"http://127.0.0.1:{port}"
            with running_server([sys.executable, "-c", serve], f"{base}/docs", env):
                paths = make_paths(path)
                wrk_load(base, paths, CLIENTS, 3)  # every worker up and warm
                results[name] = wrk_load(base, paths, CLIENTS, seconds)
    base = results["bare TiTiler, published COG (baseline)"][0]
    rows = [[name, f"{rate:.0f}", f"{p50:.0f}", f"{p99:.0f}", errors, f"{rate / base:.2f}x"]
            for name, (rate, p50, p99, errors) in results.items()]
    rate, _, p99, _ = results["devscore item tiles, --tile-cache-mb 0"]
    verdict = (f">= {GOAL_RATIO:.0f}x bare TiTiler uncached: {'met' if rate / base >= GOAL_RATIO else 'missed'} "
               f"({rate / base:.2f}x); p99 <= {GOAL_P99_MS:.0f} ms with {CLIENTS} clients: "
               f"{'met' if p99 <= GOAL_P99_MS else 'missed'} ({p99:.0f} ms)")
    return "\n".join([
        f"### Cold PNG tiles (no tile cache), zoom {ZOOMS.start}-{ZOOMS.stop - 1}, {len(tiles)} tiles over 48RVU, "
        f"{CLIENTS} concurrent connections",
        "",
        table([f"app (devscore's server, {WORKERS} workers)", "tiles/s", "p50 ms", "p99 ms", "errors", "vs bare"], rows),
        "",
        f"Goals: {verdict}. {seconds} s of requests from wrk each, cycling through the tiles, every one rendered "
        "(no tile cache; GDAL's block cache stays on, as in production); wrk and the servers share the "
        "machine's cores. The chip-grid reader "
        "takes each output pixel's chip by inverse projection (a 17 x 17 lattice, interpolated) from the "
        "COG's 32 x 32 chip values, read once per file: no raster read per tile; its pixels equal the "
        "warped read's more than 2 output pixels from a chip edge (tests/test_gridtiles.py).",
    ])
