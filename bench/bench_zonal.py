"""Figures per place and change (issue 18): `devscore zonal` over the demo's synthetic counties, `POST /zonal`
latency warm for each county polygon (goal: p50 <= 300 ms), and the change items (`publish_changes`, one
10 m COG per granule and year pair), on a catalog of the demo's four granules and two years (random chip
scores; the cost does not depend on the values)."""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from shapely.geometry import mapping

from bench.common import free_port, running_server, table
from catalog.change import publish_changes
from catalog.ingest import publish_table
from publisher.scores import GranuleYear, scores_to_table
from publisher.zonal.counties import COUNTY_FIELD, synthetic_counties, write_counties

TILES = ("48RUU", "48RVU", "48RUT", "48RVT")
YEARS = (2022, 2023)
GOAL_P50_MS = 300


def _catalog(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    granules = []
    for tile in TILES:
        for year in YEARS:
            scores = rng.random((32, 32), dtype=np.float32)
            scores[rng.random((32, 32)) < 0.1] = np.nan
            granules.append(GranuleYear(tile, year, dt.datetime(year, 4, 1, tzinfo=dt.timezone.utc), None, scores))
    scores_to_table(granules).to_csv(folder / "scores.csv", index=False)
    publish_table(folder / "scores.csv", folder / "catalog", device="cpu", progress=False)
    return folder / "catalog"


def run(quick: bool = False) -> str:
    """Markdown section: CLI time for every county, and POST /zonal p50/p95 per request."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalog = _catalog(folder)
        start = time.perf_counter()
        changes = publish_changes(catalog)
        change_s = time.perf_counter() - start
        zones = folder / "counties.gpkg"
        write_counties(TILES, zones)
        counties = synthetic_counties(TILES)
        exe = str(Path(sys.executable).parent / "devscore")
        start = time.perf_counter()
        subprocess.run([exe, "zonal", "--zones", str(zones), "--id-field", COUNTY_FIELD, "--catalog", str(catalog)],
                       check=True, capture_output=True)
        cli_s = time.perf_counter() - start
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with running_server([exe, "serve", "--catalog", str(catalog), "--port", str(port)], f"{base}/layers"):
            bodies = [mapping(g) for g in counties.geometry]
            repeats = 1 if quick else 5
            with httpx.Client(timeout=60) as client:
                client.post(f"{base}/zonal", json=bodies[0]).raise_for_status()  # warm: chip tables read once
                times = []
                for _ in range(repeats):
                    for body in bodies:
                        t = time.perf_counter()
                        client.post(f"{base}/zonal", json=body).raise_for_status()
                        times.append((time.perf_counter() - t) * 1000)
    areas = counties.to_crs(32648).area / 1e6
    p50, p95 = statistics.median(times), float(np.percentile(times, 95))
    rows = [["devscore change (publish_changes)", f"{changes.total_items} granule-year pairs, 10980 px COGs",
             f"{change_s:.1f} s ({change_s / changes.total_items:.1f} s each)"],
            ["devscore zonal (CLI, whole process)", f"{len(counties)} counties x {len(YEARS)} years", f"{cli_s:.1f} s"],
            ["POST /zonal warm, p50", f"{len(times)} requests, counties {areas.min():.0f}-{areas.max():.0f} km2 "
             f"(median {areas.median():.0f})", f"{p50:.0f} ms (goal <= {GOAL_P50_MS})"],
            ["POST /zonal warm, p95", "", f"{p95:.0f} ms"]]
    header = "### bench_zonal: figures per place and change\n\n" + __doc__.split("\n\n")[0]
    return header + "\n\n" + table(["what", "input", "time"], rows)


if __name__ == "__main__":
    print(run())
