"""One granule-year from scene to published item, end to end: `devscore run` (scene search and chips,
heuristic ranking, a small training, scoring, publishing, offline validation, the truth comparison)
under `mpiexec -n 1` and `mpiexec -n 2`, each run from a fresh output folder: median wall time of the
whole command and the seconds of every stage, from the stage table the run prints."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import run_stage_seconds, synthetic_region, table
from catalog.validate import default_schema_dir
from devscore.demo import DEMO_SIZE, DEMO_TRAIN, QUICK_SIZE

TILE, YEAR = "48RVU", 2023
#: What each stage gives the ranks to share when there is one granule-year (publisher/pipeline.py,
#: devscore/run.py): only the chips' rows are split; the rest runs on rank 0.
SPLIT = {
    "chips": "scene search on rank 0; the chip rows split over the ranks (Gatherv)",
    "rank": "rank 0; the others wait",
    "train": "rank 0; the others wait",
    "score": "granule-years over ranks: the one goes to rank 0",
    "publish": "granule-years over ranks: rank 0, with cores/N GDAL threads",
    "validate": "rank 0",
    "quality": "rank 0",
}
#: The demo's epoch (DEMO_TRAIN, the CPU profile: its steps, batch and learning rate) and as many epochs as the
#: demo trains.
STEPS = DEMO_TRAIN["steps_per_epoch"]
EPOCHS, QUICK_EPOCHS, QUICK_STEPS = DEMO_TRAIN["max_epochs"], 2, 3


def _run(ranks: int, region: Path, out: Path, epochs: int, steps: int) -> tuple[float, dict[str, float]]:
    """Wall time of one `mpiexec -n ranks devscore run` into the fresh folder ``out``, and its stage seconds."""
    bindir = Path(sys.executable).parent
    args = [str(bindir / "mpiexec"), "-n", str(ranks), str(bindir / "devscore"), "run", "--tiles", TILE,
            "--years", str(YEAR), "--source-catalog", str(region / "source"), "--out", str(out),
            "--ranker", "heuristic", "--input-size", str(DEMO_TRAIN["input_size"]), "--epochs", str(epochs),
            "--steps-per-epoch", str(steps), "--batch-size", str(DEMO_TRAIN["batch_size"]),
            "--lr", str(DEMO_TRAIN["lr"]), "--device", "cpu", "--no-progress"]
    if default_schema_dir().is_dir():
        args += ["--schemas", str(default_schema_dir())]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"devscore run -n {ranks} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return seconds, run_stage_seconds(proc.stdout)


def run(quick: bool = False) -> str:
    """Markdown section: median wall time and stage seconds with 1 and 2 ranks, and their ratio."""
    size, repeats = (QUICK_SIZE, 1) if quick else (DEMO_SIZE, 3)
    epochs, steps = (QUICK_EPOCHS, QUICK_STEPS) if quick else (EPOCHS, STEPS)
    region = synthetic_region(size=size)
    runs: dict[int, list[tuple[float, dict[str, float]]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        for attempt in range(repeats):  # alternate the rank counts so a drift in load hits both alike
            for ranks in runs:
                runs[ranks].append(_run(ranks, region, Path(tmp) / f"n{ranks}-{attempt}", epochs, steps))
    wall = {n: statistics.median(r[0] for r in runs[n]) for n in runs}
    stages = {n: {s: statistics.median(r[1][s] for r in runs[n]) for s in runs[n][0][1]} for n in runs}
    rows = [[f"`{name}`", f"{stages[1][name]:.1f}", f"{stages[1][name] / wall[1]:.0%}", f"{stages[2][name]:.1f}",
             f"{stages[1][name] / stages[2][name]:.2f}" if stages[2][name] > 0 else "", SPLIT.get(name, "")]
            for name in stages[1]]
    other = {n: wall[n] - sum(stages[n].values()) for n in runs}
    rows.append(["start-up, imports, MPI launch (wall minus stages)", f"{other[1]:.1f}", f"{other[1] / wall[1]:.0%}",
                 f"{other[2]:.1f}", f"{other[1] / other[2]:.2f}", "every rank"])
    rows.append(["**whole command**", f"**{wall[1]:.1f}**", "100%", f"**{wall[2]:.1f}**",
                 f"**{wall[1] / wall[2]:.2f}**", ""])
    training = ("a token training" if quick else "the demo's epoch size")
    schemas = (f"offline against {default_schema_dir()}" if default_schema_dir().is_dir()
               else "without the extension schemas (none found; set DEVSCORE_STAC_SCHEMAS)")
    return "\n".join([
        f"### One granule-year end to end: `devscore run`, `mpiexec -n 1` vs `-n 2`{', quick' if quick else ''}",
        "",
        table(["stage", "-n 1 (s)", "share of -n 1", "-n 2 (s)", "speed-up (-n 1 / -n 2)", "what -n 2 splits"], rows),
        "",
        f"{TILE} {YEAR}, one synthetic region at grid {size} ({109800 / size:.0f} m pixels; 3 scenes, the best one "
        f"chosen), scene search to a validated item (validated {schemas}) plus the Spearman against the truth; "
        f"heuristic ranker, ResNet-18 at {DEMO_TRAIN['input_size']} px on the CPU for {epochs} epoch(s) of {steps} "
        f"steps of batch {DEMO_TRAIN['batch_size']} per POG level ({training}). "
        f"Medians of {repeats} run(s) per rank count, each from a fresh output folder, the rank "
        "counts alternating. One granule-year gives MPI little to split: only the chip rows of the scene are "
        "shared out; ranking and training run on rank 0 while the other rank waits (asleep, "
        "`Communicator.idle_barrier`), and scoring and publishing go by granule-year, so the one granule-year "
        "stays on rank 0, publishing with half the GDAL threads. A speed-up near 1, or below (the second "
        "rank's start-up and imports take a core at the same time as rank 0's), is the expected result; "
        "`bench_mpi` measures publishing with granule-years to share.",
    ])
