"""MPI speed-up of `devscore publish`: the same 4 granule-years with `mpiexec -n 1` and `-n 2`."""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from publisher.scores import GranuleYear, scores_to_table

TILES = ("48RUU", "48RVU", "48RUT", "48RVT")
GOAL_SPEEDUP = 1.7


def _table(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    when = dt.datetime(2023, 4, 12, 3, 35, tzinfo=dt.timezone.utc)
    granules = [GranuleYear(t, 2023, when, None, rng.random((32, 32), dtype=np.float32)) for t in TILES]
    path = folder / "scores.csv"
    scores_to_table(granules).to_csv(path, index=False)
    return path


def _publish_seconds(ranks: int, table: Path, folder: Path) -> float:
    bindir = Path(sys.executable).parent
    catalog = folder / f"catalog-n{ranks}"
    shutil.rmtree(catalog, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [str(bindir / "mpiexec"), "-n", str(ranks), str(bindir / "devscore"), "publish", "--scores", str(table),
         "--catalog", str(catalog), "--device", "cpu", "--no-progress"],
        check=True, capture_output=True,
    )
    return time.perf_counter() - start


def run(quick: bool = False) -> str:
    """Median wall time of the whole command (start-up included) with 1 and 2 ranks."""
    repeats = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = _table(folder)
        _publish_seconds(1, table, folder)  # warm the file cache and GDAL's first-use costs
        one = statistics.median(_publish_seconds(1, table, folder) for _ in range(repeats))
        two = statistics.median(_publish_seconds(2, table, folder) for _ in range(repeats))
    speedup = one / two
    verdict = "meets" if speedup >= GOAL_SPEEDUP else "misses"
    return "\n".join([
        "### MPI: publish 4 granule-years, `mpiexec -n 1` vs `-n 2`",
        "",
        "| ranks | median wall time (s) | speed-up |",
        "|---|---|---|",
        f"| 1 | {one:.2f} | 1.00 |",
        f"| 2 | {two:.2f} | {speedup:.2f} |",
        "",
        f"Goal: speed-up >= {GOAL_SPEEDUP} on 2 cores. Result {speedup:.2f}: {verdict} the goal "
        f"({repeats} run(s) each, full-size granules, whole command including start-up).",
    ])
