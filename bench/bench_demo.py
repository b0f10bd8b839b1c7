"""`make demo`'s wall time by stage: `python -m devscore.demo --no-serve` once in a fresh folder (the
synthetic region, then every `devscore run` stage over 4 granules x 2 years), from the state files the
demo writes (demo-state.json, run/run-state.json) and, for the stages they do not record, its summary."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import run_stage_seconds, table
from devscore.demo import DEMO_SIZE, DEMO_TILES, DEMO_TRAIN, DEMO_YEARS, QUICK_SIZE, QUICK_TRAIN

GOAL_SECONDS = 600


def _recorded(path: Path) -> dict[str, float]:
    """Seconds per stage in a run-state file (publisher/runstate.py)."""
    return {name: record["seconds"] for name, record in json.loads(path.read_text()).items()}


def run(quick: bool = False) -> str:
    """Markdown section: the demo's wall time and each stage's seconds and share of it."""
    size, train = (QUICK_SIZE, QUICK_TRAIN) if quick else (DEMO_SIZE, DEMO_TRAIN)
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        out = Path(tmp)
        args = [sys.executable, "-m", "devscore.demo", "--out", str(out), "--no-serve"] + (["--quick"] if quick else [])
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"the demo failed ({proc.returncode}): {proc.stderr[-3000:]}")
        recorded = {**_recorded(out / "demo-state.json"), **_recorded(out / "run" / "run-state.json")}
    printed = run_stage_seconds(proc.stdout)
    stages = {"synth": (recorded["synth"], "demo-state.json")}
    stages.update({name: (recorded[name], "run/run-state.json") if name in recorded else (seconds, "printed summary")
                   for name, seconds in printed.items()})
    rows = [[f"`{name}`", f"{seconds:.1f}", f"{seconds / wall:.0%}", source] for name, (seconds, source) in stages.items()]
    other = wall - sum(seconds for seconds, _ in stages.values())
    rows.append(["start-up, imports, bookkeeping (wall minus stages)", f"{other:.1f}", f"{other / wall:.0%}", ""])
    rows.append(["**whole demo**", f"**{wall:.1f}**", "100%", "measured around the process"])
    verdict = "" if quick else f" Goal <= {GOAL_SECONDS} s on 2 cores: {'met' if wall <= GOAL_SECONDS else 'missed'}."
    # the demo's night-light table (score vs lights beside the ceiling and the built-up baseline) and change agreement
    lines = proc.stdout.splitlines()
    lights = [line for line in lines if line.startswith("|")]
    change = next((lines[i : i + 2] for i, line in enumerate(lines) if line.startswith("Change ")), [])
    return "\n".join([
        f"### `make demo`, wall time by stage{' (--quick)' if quick else ''}",
        "",
        table(["stage", "seconds", "share", "from"], rows),
        "",
        f"`python -m devscore.demo --no-serve{' --quick' if quick else ''}` once, in a fresh folder (one run: the "
        f"full demo takes minutes), so every stage runs: {len(DEMO_TILES)} granules x {len(DEMO_YEARS)} years at "
        f"grid {size} ({109800 / size:.0f} m pixels), heuristic ranker, ResNet-18 at {train['input_size']} px for at "
        f"most {train['max_epochs']} epochs of {train['steps_per_epoch']} steps of batch {train['batch_size']} per "
        f"POG level, on 1 rank (no mpiexec), serving left out.{verdict}",
        "",
        "The demo's night lights: score vs lights beside the ceiling (truth vs lights) and the baseline "
        "(the heuristic ranker's built-up share vs lights), then the change agreement between its first and last year:",
        "",
        *lights,
        "",
        *change,
    ])
