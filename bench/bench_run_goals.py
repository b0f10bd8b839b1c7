"""Issue 16's goals for `devscore run` on a CPU machine, each command in its own process whose peak resident
memory (its own and its children's, from wait4) and wall time are measured:

(a) two granule-years at the real 10 m grid (10980 px) through `devscore run --profile cpu`: peak under 4 GB;
(b) `devscore run --bbox <two granules> --years 2021` on a grid-2196 synthetic region with no training
    option: at most 15 minutes, under 4 GB, Spearman against the truth >= 0.75 overall and >= 0.65 on the plain;
(c) `devscore publish` of one granule-year of (a)'s scores: peak under 1 GB.

Each run is long (a: about 15 minutes of `devscore synth` once, then the run), so every figure is one run,
not a median. Quick mode runs the same commands on small grids with a tiny training, to check they work:
its figures are not the goals'."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.common import WORK, run_stage_seconds, table

GOAL_PEAK_MB = 4096
GOAL_BBOX_S = 15 * 60
GOAL_QUALITY_ALL, GOAL_QUALITY_PLAIN = 0.75, 0.65
GOAL_PUBLISH_MB = 1024
#: Two granules around Chengdu (48RUU, 48RVU: `devscore tiles --bbox 103.8,30.3,104.3,30.6`).
BBOX = "103.8,30.3,104.3,30.6"
TILE, YEARS = "48RVU", (2020, 2021)
#: Quick mode: small grids and a tiny training.
QUICK_GRID, QUICK_TRAIN = 640, ["--input-size", "32", "--epochs", "1", "--steps-per-epoch", "2"]


@dataclass
class Measured:
    """One command: wall seconds, peak resident memory of it and its children (MB), its standard output."""

    seconds: float
    peak_mb: float
    stdout: str


def measure(args: list[str], cwd: Path) -> Measured:
    """Run ``args`` to completion; its peak RSS from ``wait4`` (the child's own rusage, not this process's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err, env={**os.environ, "OMP_NUM_THREADS": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({proc.returncode}): {stderr[-3000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, stdout)


def quality(stdout: str) -> tuple[float, float]:
    """(all, plain) Spearman of the published scores against the truth, from the run's summary."""
    match = re.search(r"^published scores\s+(-?\d\.\d+)\s+(-?\d\.\d+)", stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no quality table in the output: {stdout[-2000:]}")
    return float(match[1]), float(match[2])


def _region(name: str, args: list[str]) -> Path:
    """A `devscore synth` region made once and kept in bench/work."""
    folder = WORK / name
    if not (folder / "source" / "catalog.json").exists():
        measure([_bin("devscore"), "synth", "--out", str(folder), *args], WORK)
    return folder


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _verdict(ok: bool, quick: bool) -> str:
    return "(quick: not the goal's sizes)" if quick else ("met" if ok else "missed")


def run(quick: bool = False) -> str:
    """Markdown section: the three goals with their figures and verdicts."""
    WORK.mkdir(parents=True, exist_ok=True)
    grid_a, grid_b = (QUICK_GRID, QUICK_GRID) if quick else (10980, 2196)
    train = QUICK_TRAIN if quick else []
    years = ",".join(map(str, YEARS))
    region_a = _region(f"goals-{TILE}-{grid_a}", ["--tiles", TILE, "--years", years, "--scenes-per-year", "2",
                                                 "--size", str(grid_a)])
    region_b = _region(f"goals-bbox-{grid_b}", ["--bbox", BBOX, "--years", "2021", "--size", str(grid_b)])
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        work = Path(tmp)
        a = measure([_bin("devscore"), "run", "--tiles", TILE, "--years", years, "--source-catalog",
                     str(region_a / "source"), "--out", str(work / "a"), "--profile", "cpu", "--no-progress", *train], work)
        b = measure([_bin("devscore"), "run", "--bbox", BBOX, "--years", "2021", "--source-catalog",
                     str(region_b / "source"), "--out", str(work / "b"), "--no-progress", *train], work)
        scores = pd.read_parquet(work / "a" / "scores.parquet")
        one = scores[pd.to_datetime(scores["datetime"], utc=True).dt.year == YEARS[-1]]
        one.to_parquet(work / "one.parquet", index=False)
        c = measure([_bin("devscore"), "publish", "--scores", str(work / "one.parquet"), "--catalog",
                     str(work / "c"), "--device", "cpu", "--no-progress"], work)
    stages_a, stages_b = run_stage_seconds(a.stdout), run_stage_seconds(b.stdout)
    q_all, q_plain = quality(b.stdout)
    rows = [
        [f"(a) `devscore run --profile cpu`, {TILE} {years}, grid {grid_a}", f"{a.seconds:.0f} s",
         f"{a.peak_mb:.0f} MB", f"train {stages_a.get('train', 0):.0f} s", f"peak < {GOAL_PEAK_MB} MB",
         _verdict(a.peak_mb < GOAL_PEAK_MB, quick)],
        [f"(b) `devscore run --bbox {BBOX} --years 2021`, grid {grid_b}", f"{b.seconds:.0f} s", f"{b.peak_mb:.0f} MB",
         f"Spearman {q_all:.2f} all, {q_plain:.2f} plain", f"<= {GOAL_BBOX_S // 60} min, < {GOAL_PEAK_MB} MB, >= "
         f"{GOAL_QUALITY_ALL} / {GOAL_QUALITY_PLAIN}",
         _verdict(b.seconds <= GOAL_BBOX_S and b.peak_mb < GOAL_PEAK_MB and q_all >= GOAL_QUALITY_ALL
                  and q_plain >= GOAL_QUALITY_PLAIN, quick)],
        [f"(c) `devscore publish`, one granule-year of (a) ({len(one)} chips)", f"{c.seconds:.1f} s",
         f"{c.peak_mb:.0f} MB", "", f"peak < {GOAL_PUBLISH_MB} MB", _verdict(c.peak_mb < GOAL_PUBLISH_MB, quick)],
    ]
    return "\n".join([
        "### `devscore run` on a CPU: the issue 16 goals", "",
        table(["command", "wall", "peak RSS", "detail", "goal", "verdict"], rows), "",
        "One run each (no medians: (a) alone takes tens of minutes); peak RSS is the command's own and its "
        "children's (wait4). Stage seconds of (b): " + ", ".join(f"{k} {v:.0f}" for k, v in stages_b.items()) + ".",
    ])
