"""Which training loss scores the synthetic region best? Trains the seed and the rank loss (and a control on
shuffled targets) on a ranking built from the region's known truth, scores every chip, and prints Spearman
against the truth, overall and over the plain.

    python scripts/compare_losses.py --region R --chips C --work /tmp/x --input-size 34 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from publisher.scoring.infer import score_chips
from publisher.scoring.train import TrainConfig, train
from tests.ranking_fixture import build_ranking, spearman_against_truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", type=Path, required=True)
    parser.add_argument("--chips", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--input-size", type=int, default=34)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", default="seed,rank,seed-shuffled,rank-shuffled")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    rows = []
    for run in args.runs.split(","):
        loss, _, shuffled = run.partition("-")
        ranking = args.work / f"ranking-{'shuffled' if shuffled else 'truth'}"
        truth = build_ranking(args.region, args.chips, ranking, shuffle_seed=3 if shuffled else None)
        out = args.work / run
        start = time.perf_counter()
        result = train(ranking, args.chips, out, TrainConfig(loss=loss, input_size=args.input_size,
                                                           max_epochs=args.epochs, patience=args.patience),
                       progress=False, resume=(out / "last.pt").exists())
        seconds = time.perf_counter() - start
        scores = score_chips(result.checkpoint, args.chips, out / "scores.parquet", progress=False)
        figures = spearman_against_truth(scores, truth)
        rows.append({"run": run, **figures, "epochs": result.epochs_run, "best_epoch": result.best_epoch,
                     "seconds": round(seconds)})
        print(json.dumps(rows[-1]), flush=True)
    print("| loss | Spearman overall | Spearman plain | chips (plain) | epochs (best) | training s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['overall']:.3f} | {r['plain']:.3f} | {r['chips']} ({r['plain_chips']}) | "
              f"{r['epochs']} ({r['best_epoch']}) | {r['seconds']} |")


if __name__ == "__main__":
    main()
