"""How the score change between years agrees with the truth's change (the synthetic region's growth).

Per granule and year pair of :func:`publisher.change.year_pairs`: Spearman between each chip's score change
and its mean-truth change, pooled over all pairs, with a shuffled control (the same changes in a random
order) that must come out near 0. Chips are matched by tile, row and col.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from publisher.atomic import atomic_write_text
from publisher.change import year_pairs
from publisher.quality import Agreement


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

    def lines(self) -> list[str]:
        """A small table for the terminal."""
        fmt = lambda a: "  n/a" if a.spearman is None else f"{a.spearman:5.2f}"  # noqa: E731
        rows = [f"{'granule-pair':<18} {'n':>5} {'Spearman':>8} {'score chg':>9} {'truth chg':>9}"]
        for p in self.pairs:
            rows.append(f"{p.id:<18} {p.change.n:>5} {fmt(p.change):>8} {p.mean_score_change or 0:>9.3f} "
                        f"{p.mean_truth_change or 0:>9.3f}")
        rows.append(f"{'all':<18} {self.all.n:>5} {fmt(self.all):>8}")
        rows.append(f"shuffled control: Spearman {fmt(self.shuffled_control).strip()} (should be near 0)")
        return rows


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
                           shuffled_control=Agreement.of(np.random.default_rng(seed).permutation(ds), dt_))


def write_change_report(report: ChangeAgreement, folder: Path) -> list[Path]:
    """``change.json`` in ``folder`` (written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "change.json"
    atomic_write_text(path, json.dumps(asdict(report), indent=2) + "\n")
    return [path]
