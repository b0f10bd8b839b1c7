"""How the score change between years agrees with the truth's change (the synthetic region's growth).

Per granule and year pair of :func:`publisher.change.year_pairs`: Spearman between each chip's score change
and its mean-truth change, pooled over all pairs, with a shuffled control (the same changes in a random
order) that must come out near 0. Chips are matched by tile, row and col.

Beside it, the figure the world's growth is judged by (docs/synthetic-world.md): over the chips whose
mean truth moved by more than MIN_TRUTH_CHANGE between the first and the last year scored, Spearman of
the score change against the truth change, with the shuffled control's mean and SD over PERMUTATIONS
orders. Chips whose truth did not move carry only the scorer's year-to-year noise, so they are left
out there; how many chips remain is part of the figure.

Beside it, the same chips against the truth's change on the scores' own scale: the truth mapped onto the
scores' distribution by quantiles (the truth at quantile q becomes the score at quantile q, over all the
matched chips of both years; marginals only, no fit of score on truth). A score is ordinal (the quality
figure is a Spearman for that reason) and its scale is the ranker's: the demo's scorer learns level targets
spaced on a log scale of built-up share, so a village that doubles moves it more than a town that grows
more in absolute terms, and on the raw scale even a perfect scorer on that scale falls far short of 1
(docs/science.md). The raw figure stays the headline; the scaled one says whether the scores move where,
and as much as, their own scale says the truth moved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from publisher.atomic import atomic_write_text
from publisher.change import year_pairs
from publisher.quality import Agreement

#: A chip's mean truth must move by more than this (on the 0-1 scale) to count as changed: below it the
#: imagery shows hardly a house more (a few pixels of roof in a 3.4 km chip).
MIN_TRUTH_CHANGE = 0.03
#: Permutations of the changed chips' shuffled control.
PERMUTATIONS = 200


@dataclass(frozen=True)
class ChangedChips:
    """Score change against truth change, first to last year, over the ``n`` chips whose truth moved by
    more than ``min_truth_change`` (None below 3 chips), with the shuffled control's mean and SD."""

    first_year: int
    last_year: int
    min_truth_change: float
    n: int
    spearman: float | None
    shuffled_mean: float | None
    shuffled_sd: float | None
    scaled_spearman: float | None = None
    scaled_shuffled_mean: float | None = None
    scaled_shuffled_sd: float | None = None

    def lines(self) -> list[str]:
        """Three lines for the terminal."""
        head = (f"changed chips {self.first_year} -> {self.last_year} (truth moved > {self.min_truth_change:g}): "
                f"{self.n}")
        if self.spearman is None:
            return [head, "  too few changed chips for a figure"]
        scaled = ("n/a" if self.scaled_spearman is None else f"{self.scaled_spearman:5.2f}; shuffled control "
                  f"{self.scaled_shuffled_mean:5.2f} +- {self.scaled_shuffled_sd:.2f}")
        return [head, f"  Spearman of score change vs truth change {self.spearman:5.2f}; shuffled control "
                      f"{self.shuffled_mean:5.2f} +- {self.shuffled_sd:.2f} ({PERMUTATIONS} permutations)",
                f"  against the truth's change on the scores' scale (truth quantile-mapped to the scores) {scaled}"]


def on_score_scale(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``truth`` mapped onto the distribution of ``scores`` by quantiles: the value at quantile q (mid-rank,
    ties averaged) of ``truth`` becomes the q-th quantile of ``scores``. Uses the two marginals only."""
    q = (rankdata(truth) - 0.5) / len(truth)
    return np.quantile(scores, q)


def _with_control(d_score: np.ndarray, d_truth: np.ndarray, seed: int) -> tuple[float | None, float | None, float | None]:
    """(Spearman, shuffled mean, shuffled SD over PERMUTATIONS orders of ``d_score``)."""
    rho = Agreement.of(d_score, d_truth).spearman
    if rho is None:
        return None, None, None
    rng = np.random.default_rng(seed)
    control = [Agreement.of(rng.permutation(d_score), d_truth).spearman for _ in range(PERMUTATIONS)]
    return rho, float(np.mean(control)), float(np.std(control))


def changed_chips(joined: pd.DataFrame, min_truth_change: float = MIN_TRUTH_CHANGE, seed: int = 0) -> ChangedChips | None:
    """:class:`ChangedChips` of a table of tile, year, row, col, score, truth; None with fewer than two years."""
    years = sorted(joined["year"].unique())
    if len(years) < 2:
        return None
    first, last = years[0], years[-1]
    keys = ["tile", "row", "col"]
    pair = joined[joined["year"] == first].merge(joined[joined["year"] == last], on=keys, suffixes=("_0", "_1"))
    d_truth = (pair["truth_1"] - pair["truth_0"]).to_numpy()
    moved = np.abs(d_truth) > min_truth_change
    d_score = (pair["score_1"] - pair["score_0"]).to_numpy()
    raw = _with_control(d_score[moved], d_truth[moved], seed)
    n = len(pair)
    scaled = on_score_scale(np.concatenate([pair["truth_0"], pair["truth_1"]]),
                            np.concatenate([pair["score_0"], pair["score_1"]]))
    on_scale = _with_control(d_score[moved], (scaled[n:] - scaled[:n])[moved], seed)
    return ChangedChips(int(first), int(last), min_truth_change, int(moved.sum()), *raw, *on_scale)


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of one granule's change over one year pair."""

    id: str
    change: Agreement
    mean_score_change: float | None
    mean_truth_change: float | None


@dataclass(frozen=True)
class ChangeAgreement:
    """Per granule and pair, pooled, and the shuffled control of the pooled figure."""

    pairs: list[PairAgreement]
    all: Agreement
    shuffled_control: Agreement
    changed: ChangedChips | None = None

    def lines(self) -> list[str]:
        """A small table for the terminal."""
        fmt = lambda a: "  n/a" if a.spearman is None else f"{a.spearman:5.2f}"  # noqa: E731
        rows = [f"{'granule-pair':<18} {'n':>5} {'Spearman':>8} {'score chg':>9} {'truth chg':>9}"]
        for p in self.pairs:
            rows.append(f"{p.id:<18} {p.change.n:>5} {fmt(p.change):>8} {p.mean_score_change or 0:>9.3f} "
                        f"{p.mean_truth_change or 0:>9.3f}")
        rows.append(f"{'all':<18} {self.all.n:>5} {fmt(self.all):>8}")
        rows.append(f"shuffled control: Spearman {fmt(self.shuffled_control).strip()} (should be near 0)")
        return rows + (self.changed.lines() if self.changed is not None else [])


def change_agreement(scores: pd.DataFrame, truth: pd.DataFrame, seed: int = 0) -> ChangeAgreement | None:
    """Agreement of chip score changes with chip truth changes; None when no granule has two years.
    ``scores``: tile, datetime, row, col, score; ``truth``: :func:`publisher.imagery.truth.chip_truth_table`."""
    scored = scores.assign(year=pd.to_datetime(scores["datetime"], utc=True, format="mixed").dt.year)
    joined = scored.merge(truth, on=["tile", "year", "row", "col"]).dropna(subset=["score", "truth"])
    pairs, score_changes, truth_changes = [], [], []
    for tile, g in joined.groupby("tile", sort=True):
        by_year = {y: t.set_index(["row", "col"]) for y, t in g.groupby("year")}
        for y0, y1 in year_pairs(list(by_year)):
            both = by_year[y0][["score", "truth"]].merge(by_year[y1][["score", "truth"]], left_index=True,
                                                         right_index=True, suffixes=("0", "1"))
            ds, dt_ = (both["score1"] - both["score0"]).to_numpy(), (both["truth1"] - both["truth0"]).to_numpy()
            pairs.append(PairAgreement(f"{tile}-{y0}-{y1}", Agreement.of(ds, dt_),
                                       float(ds.mean()) if ds.size else None, float(dt_.mean()) if dt_.size else None))
            score_changes.append(ds)
            truth_changes.append(dt_)
    if not pairs:
        return None
    ds, dt_ = np.concatenate(score_changes), np.concatenate(truth_changes)
    return ChangeAgreement(pairs=pairs, all=Agreement.of(ds, dt_),
                           shuffled_control=Agreement.of(np.random.default_rng(seed).permutation(ds), dt_),
                           changed=changed_chips(joined, seed=seed))


def write_change_report(report: ChangeAgreement, folder: Path) -> list[Path]:
    """``change.json`` in ``folder`` (written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "change.json"
    atomic_write_text(path, json.dumps(asdict(report), indent=2) + "\n")
    return [path]
