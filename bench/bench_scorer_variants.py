"""What lifts the scorer within a CPU time budget: scorer variants trained on one small synthetic region.

One region (``devscore synth``), its chips and one heuristic ranking (or one per K range) are made once;
each variant then trains (``publisher.scoring.train``), scores and is measured against the region's truth
with the quality report (:mod:`publisher.quality`): Spearman all / plain, the cluster-target baseline the
scorer learns from, and the training seconds. The ranker's own index (built-up share B) is shown too:
on this synthetic world it is a near-oracle, since the scenes paint roofs where the truth is high.

Test-time augmentation rows score the previous row's model again over 4 or 8 rotations and flips of each
chip (``publisher.scoring.tta``; no training, the time is the scoring's). The RGB rows feed the scorer the
chip's colour channels instead of the method's luma (``TrainConfig.bands``, docs/science.md). Without ``--region`` (and without
``--quick``) the demo's setting is also trained and measured on the issue's hold-out: a region made with
another seed on other granules (``devscore synth --seed 7 --tiles 48RUV,48RVV,48RVS,48RWU --years 2023``).
``python -m bench.bench_scorer_variants --region DIR`` measures on a region already made.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from bench.common import table
from devscore.demo import DEMO_TRAIN
from publisher.imagery.cut import cut_chips
from publisher.imagery.synth import synthesize
from publisher.imagery.truth import chip_truth_table
from publisher.mpi import world
from publisher.quality import CLUSTER_TARGETS, RANKER_INDEX, assess, cluster_targets, ranker_index
from publisher.ranking.rank import rank_chips
from publisher.scoring.infer import score_chips
from publisher.scoring.train import TrainConfig, train

TILES, YEARS = ("48RUU", "48RVU", "48RVT"), (2023,)
#: The issue's hold-out region: other granules, another seed.
HOLDOUT_TILES, HOLDOUT_SEED = ("48RUV", "48RVV", "48RVS", "48RWU"), 7
#: A variant: (name, rank options, training config or None to score the previous row's model again, warm start
#: from the first model, views each chip is scored from).
Variant = tuple[str, dict, "TrainConfig | None", bool, int]
#: The demo's training (64 px, 4 epochs x 20 steps); quick mode halves its steps.
BASE = TrainConfig(**DEMO_TRAIN)
QUICK_BASE = replace(BASE, steps_per_epoch=10)


def _variants(base: TrainConfig, quick: bool) -> list[Variant]:
    """The variants (:data:`Variant`); every variant but the input sides, the views and RGB runs at the method's
    32 px, so each row changes one thing against the first (RGB against the 64 px one-view row)."""
    gray32 = replace(base, input_size=32)
    longer = replace(gray32, max_epochs=base.max_epochs * 2, patience=base.max_epochs * 2)
    variants: list[Variant] = [
        ("32 px input (the method's thumbnail)", {}, gray32, False, 1),
        ("64 px input, one view", {}, base, False, 1),
        ("64 px, scored over 4 rotations (the demo's)", {}, None, False, 4),
        ("64 px, scored over 8 rotations and flips", {}, None, False, 8),
        ("64 px, RGB input (the method's is grayscale), one view", {}, replace(base, bands="rgb"), False, 1),
        ("64 px, RGB, scored over 4 rotations", {}, None, False, 4),
        ("32 px, 2x training steps", {}, longer, False, 1),
        ("32 px, warm start from the first model", {}, gray32, True, 1),
        ("32 px, K 6-30, 10 levels", {"k_min": 6, "k_max": 30, "levels": 10}, gray32, False, 1),
    ]
    if not quick:
        variants.insert(4, ("96 px input", {}, replace(base, input_size=96), False, 1))
        variants.append(("32 px, seed loss (METHOD stage 3)", {}, replace(gray32, loss="seed"), False, 1))
    return variants


def _region(folder: Path, tiles: tuple[str, ...] = TILES, seed: int = 0) -> Path:
    synthesize(folder, tiles, YEARS, scenes_per_year=1, size=1098, seed=seed, progress=False)
    return folder


def measure(region: Path, work: Path, variants: list[Variant]) -> list[list[str]]:
    """Train, score and assess every variant on ``region``; one table row each."""
    torch.set_num_threads(1)
    source = region / "source"
    tiles = sorted({p.stem.split("_")[0] for p in (region / "truth").glob("*.tif")})
    years = sorted({int(p.stem.split("_")[1]) for p in (region / "truth").glob("*.tif")})
    chips = work / "chips"
    cut_chips([(t, y) for t in tiles for y in years], {"source_catalog": source, "max_cloud": 100}, chips, world())
    truth = chip_truth_table(region, chips)
    index = ranker_index(chips)
    rankings: dict[str, Path] = {}
    rows, base_model, model = [], None, None
    for name, rank_options, config, warm, views in variants:
        key = repr(sorted(rank_options.items()))
        if key not in rankings:
            rankings[key] = work / f"ranking-{len(rankings)}"
            rank_chips(chips, rankings[key], progress=False, **rank_options)
        spent = "training reused"
        if config is not None:
            if warm:
                config = replace(config, weights=str(base_model))
            start = time.perf_counter()
            model = train(rankings[key], chips, work / f"model-{len(rows)}", config, progress=False,
                          device="cpu").checkpoint
            spent = f"{time.perf_counter() - start:.0f} s"
            base_model = base_model or model
        start = time.perf_counter()
        scores_path = score_chips(model, chips, work / f"scores-{len(rows)}.parquet", progress=False,
                                  device="cpu", views=views)
        scoring = time.perf_counter() - start
        scores = pd.read_parquet(scores_path)
        report = assess(scores, truth, baselines={CLUSTER_TARGETS: cluster_targets(rankings[key]), RANKER_INDEX: index})
        targets, b = report.baselines
        fmt = lambda a: "n/a" if a.spearman is None else f"{a.spearman:.3f}"  # noqa: E731
        rows.append([name, f"{fmt(report.all)} / {fmt(report.plain)}",
                     f"[{report.interval_all.low:.2f}, {report.interval_all.high:.2f}]",
                     f"{fmt(targets.all)} / {fmt(targets.plain)}", f"{fmt(b.all)} / {fmt(b.plain)}",
                     spent, f"{scoring:.0f} s"])
        print(rows[-1], flush=True)
    return rows


def run(quick: bool = False, region: Path | None = None) -> str:
    """Markdown section: one row per variant."""
    base = QUICK_BASE if quick else BASE
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        label = region.name if region else f"synthetic {', '.join(TILES)} {', '.join(map(str, YEARS))}, grid 1098"
        holdout = region is None and not quick
        region = region or _region(work / "region")
        rows = measure(region, work, _variants(base, quick))
        if holdout:  # the demo's setting on the hold-out: another seed, other granules
            held = _region(work / "holdout", HOLDOUT_TILES, HOLDOUT_SEED)
            for row in measure(held, work / "holdout-work", [
                    ("64 px, 4 rotations, hold-out (seed 7: " + ", ".join(HOLDOUT_TILES) + ")", {}, base, False, 4)]):
                rows.append(row)
    return "\n".join([
        "### Scorer variants (`bench/bench_scorer_variants.py`)",
        "",
        f"Region: {label}; heuristic ranker; CPU, torch at 1 thread; base training "
        f"{base.max_epochs} x {base.steps_per_epoch} steps of batch {base.batch_size}. Spearman "
        "against the synthetic truth per chip (all / plain). Cluster targets: each chip given its cluster's target "
        "(the scorer's teacher). Ranker index: the heuristic ranker's built-up share B, a near-oracle on this world.",
        "",
        table(["variant", "published all / plain", "95 % block bootstrap (all)", "cluster targets all / plain",
               "ranker index all / plain", "training", "scoring"], rows),
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--region", type=Path, default=None, help="a `devscore synth` region to measure on")
    args = parser.parse_args()
    print(run(args.quick, args.region))
