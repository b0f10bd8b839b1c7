"""The scorer ensemble (issue 18 item 2): the ensemble stage's time and what each member count buys. On a
synthetic region taken through chips, ranking and the CPU profile's training, further members are trained
from the main model on bootstrap resamples of the POGs (publisher/scoring/ensemble.py) and every member
scores every chip; for each member count N the table gives the extra training and scoring time, the
calibration (Spearman of each chip's spread vs its absolute rank error against the truth; goal > 0.2) with
its shuffled control, and the Spearman against the truth of the main model's scores and of the members'
mean. ``python -m bench.bench_ensemble --run DIR --region DIR`` measures an existing run folder (a demo's
``run/`` and ``region/``)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import table
from devscore.demo import DEMO_SIZE, DEMO_TILES, DEMO_TRAIN, DEMO_YEARS, QUICK_SIZE, QUICK_TRAIN
from publisher.profiles import ENSEMBLE
from publisher.scores import UNCERTAINTY_COLUMN

#: Members measured (the main model included) and each further member's steps, full and quick.
FULL_MEMBERS, QUICK_MEMBERS = 7, 3
QUICK_STEPS = 2


def measure(run_dir: Path, region: Path, members: int, steps: int) -> list[list[object]]:
    """Rows of the table for a run folder holding chips/, ranking/ and model/model.pt."""
    from publisher.imagery.truth import chip_truth_table
    from publisher.quality import assess
    from publisher.scoring.ensemble import EnsembleConfig, combine, train_members
    from publisher.scoring.infer import score_granule
    from publisher.imagery.chipfiles import list_chip_files
    from publisher.scoring.model import load_scorer, pick_device

    chips, ranking, main = run_dir / "chips", run_dir / "ranking", run_dir / "model" / "model.pt"
    with tempfile.TemporaryDirectory() as tmp:
        train_seconds = [0.0]
        checkpoints = [main]
        for k in range(2, members + 1):  # one member at a time, each timed (a trained member is kept)
            start = time.perf_counter()
            checkpoints = train_members(ranking, chips, main, Path(tmp), EnsembleConfig(members=k, steps=steps), {},
                                        device="cpu", progress=False)
            train_seconds.append(time.perf_counter() - start)
        dev = pick_device("cpu")
        files = list_chip_files(chips)
        per_member, score_seconds = [], []
        for checkpoint in checkpoints:
            model, _ = load_scorer(checkpoint)
            model.eval()
            start = time.perf_counter()
            per_member.append([score_granule(model, f, dev) for f in files])
            score_seconds.append(time.perf_counter() - start)
    truth = chip_truth_table(region, chips)
    rows = []
    for n in range(1, members + 1):
        frames = [[per_member[m][g] for m in range(n)] for g in range(len(files))]
        main_table = pd.concat([combine(f, "main") for f in frames], ignore_index=True)
        mean_table = pd.concat([combine(f, "mean") for f in frames], ignore_index=True)
        main_q = assess(main_table if n > 1 else main_table.drop(columns=UNCERTAINTY_COLUMN), truth)
        mean_q = assess(mean_table.drop(columns=UNCERTAINTY_COLUMN), truth)
        c = main_q.calibration
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        rows.append([n, f"{sum(train_seconds[:n]):.0f}", f"{sum(score_seconds[:n]) - score_seconds[0]:.0f}",
                     "n/a" if c is None else f"{fmt(c.all.spearman)} {_interval(c)}",
                     "n/a" if c is None or c.shuffled.mean is None else f"{c.shuffled.mean:+.3f}",
                     "n/a" if c is None else f"{c.mean_spread:.4f}",
                     f"{fmt(main_q.all.spearman)} / {fmt(main_q.plain.spearman)}",
                     f"{fmt(mean_q.all.spearman)} / {fmt(mean_q.plain.spearman)}"])
    return rows


def _interval(c) -> str:
    return "" if c.interval.low is None else f"[{c.interval.low:.2f}, {c.interval.high:.2f}]"


def _prepare(folder: Path, quick: bool) -> tuple[Path, Path, float]:
    """A synthetic region and its run through chips, ranking and training; returns (run, region, train s)."""
    from publisher.imagery.synth import synthesize
    from publisher.mpi import world
    from publisher.pipeline import RunConfig, run_stages

    size, train, tiles = (QUICK_SIZE, QUICK_TRAIN, DEMO_TILES[:1]) if quick else (DEMO_SIZE, DEMO_TRAIN, DEMO_TILES)
    years = DEMO_YEARS[-1:] if quick else DEMO_YEARS
    synthesize(folder / "region", tiles, years, size=size, seed=0, progress=False)
    config = RunConfig(tiles=list(tiles), years=list(years), out=folder / "run",
                       search={"source_catalog": folder / "region" / "source"}, train_options=train, progress=False)
    result = run_stages(config, world(), announce=lambda line: None)
    return folder / "run", folder / "region", next(s.seconds for s in result.stages if s.name == "train")


def run(quick: bool = False, run_dir: Path | None = None, region: Path | None = None) -> str:
    """Markdown section: per member count, the ensemble's extra time, calibration and quality."""
    import torch

    torch.set_num_threads(1 if quick else torch.get_num_threads())
    members, steps = (QUICK_MEMBERS, QUICK_STEPS) if quick else (FULL_MEMBERS, ENSEMBLE["steps"])
    with tempfile.TemporaryDirectory() as tmp:
        train_s = None
        if run_dir is None:
            run_dir, region, train_s = _prepare(Path(tmp), quick)
        rows = measure(run_dir, region, members, steps)
    header = "### bench_ensemble: the scorer ensemble's cost and calibration\n\n" + __doc__.split("\n\n")[0]
    note = (f"\n\nFurther members: {steps} steps each from the main model"
            + (f"; the main model's training took {train_s:.0f} s." if train_s else "."))
    return header + note + "\n\n" + table(
        ["members", "extra training s", "extra scoring s", "calibration (95 % block bootstrap)", "shuffled",
         "mean spread", "Spearman main all / plain", "Spearman mean all / plain"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--run", type=Path, default=None, help="an existing run folder (chips/, ranking/, model/)")
    parser.add_argument("--region", type=Path, default=None, help="its synthetic region (with truth/)")
    args = parser.parse_args()
    print(run(args.quick, args.run, args.region))
