"""How well the published scores follow the truth's change between years (the synthetic region's).

Over the chips whose mean truth changed by more than MIN_TRUTH_CHANGE between the first and the last
year scored, Spearman of (score last - score first) against (truth last - truth first), with a shuffled
control (the same score changes in random orders, mean and SD over permutations) that must come out
near 0. Chips whose truth did not move carry no change to follow, only the scorer's year-to-year
noise, so they are left out; how many chips remain is part of the figure.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from publisher.atomic import atomic_path

#: A chip's mean truth must move by more than this (on the 0-1 scale) to count as changed: below it the
#: imagery shows hardly a house more (a few pixels of roof in a 3.4 km chip).
MIN_TRUTH_CHANGE = 0.03
#: Permutations of the shuffled control.
PERMUTATIONS = 200


@dataclass(frozen=True)
class ChangeAgreement:
    """Agreement of score change with truth change over ``n`` changed chips (None below 3 chips)."""

    first_year: int
    last_year: int
    min_truth_change: float
    n: int
    spearman: float | None
    shuffled_mean: float | None
    shuffled_sd: float | None

    def lines(self) -> list[str]:
        """Two lines for the terminal."""
        head = f"Change {self.first_year} -> {self.last_year} (chips whose truth moved > {self.min_truth_change:g}: {self.n})"
        if self.spearman is None:
            return [head, "  too few changed chips for a figure"]
        return [head, f"  Spearman of score change vs truth change {self.spearman:5.2f}; shuffled control "
                      f"{self.shuffled_mean:5.2f} +- {self.shuffled_sd:.2f} ({PERMUTATIONS} permutations)"]


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def assess_change(scores: pd.DataFrame, truth: pd.DataFrame, min_truth_change: float = MIN_TRUTH_CHANGE,
                  seed: int = 0) -> ChangeAgreement | None:
    """Change agreement between the first and last year of a chip-score table (tile, datetime, row, col,
    score) and :func:`publisher.imagery.truth.chip_truth_table`'s output; None when fewer than two years
    were scored."""
    scored = scores.assign(year=pd.to_datetime(scores["datetime"], utc=True, format="mixed").dt.year)
    joined = scored.merge(truth, on=["tile", "year", "row", "col"], how="inner").dropna(subset=["score", "truth"])
    years = sorted(joined["year"].unique())
    if len(years) < 2:
        return None
    first, last = years[0], years[-1]
    keys = ["tile", "row", "col"]
    pair = joined[joined["year"] == first].merge(joined[joined["year"] == last], on=keys, suffixes=("_0", "_1"))
    d_truth = (pair["truth_1"] - pair["truth_0"]).to_numpy()
    changed = np.abs(d_truth) > min_truth_change
    d_truth, d_score = d_truth[changed], (pair["score_1"] - pair["score_0"]).to_numpy()[changed]
    rho = _spearman(d_score, d_truth)
    shuffled_mean = shuffled_sd = None
    if rho is not None:
        rng = np.random.default_rng(seed)
        control = [_spearman(rng.permutation(d_score), d_truth) for _ in range(PERMUTATIONS)]
        shuffled_mean, shuffled_sd = float(np.mean(control)), float(np.std(control))
    return ChangeAgreement(int(first), int(last), min_truth_change, int(changed.sum()), rho, shuffled_mean, shuffled_sd)


def write_change_report(change: ChangeAgreement, folder: Path) -> list[Path]:
    """``change.json`` in ``folder`` (beside the quality report's files)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "change.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(asdict(change), indent=2))
    return [path]
