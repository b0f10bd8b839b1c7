"""How well published chip scores agree with a known truth (the synthetic region's), honestly reported.

Spearman between each chip's score and its mean ground truth, per granule-year, overall and over the
plain's chips alone (mountains by themselves can carry an overall figure), with a shuffled control
(the same scores in a random order) that must come out near 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from publisher.atomic import atomic_path
from publisher.errors import DevscoreError


@dataclass(frozen=True)
class Agreement:
    """Spearman's rho over ``n`` chips (None when fewer than 3 chips or a constant side)."""

    n: int
    spearman: float | None

    @classmethod
    def of(cls, scores: np.ndarray, truth: np.ndarray) -> Agreement:
        """Rank correlation of two equally long vectors."""
        if len(scores) < 3 or np.ptp(scores) == 0 or np.ptp(truth) == 0:
            return cls(len(scores), None)
        return cls(len(scores), float(spearmanr(scores, truth).statistic))


@dataclass(frozen=True)
class GranuleQuality:
    """Agreement of one granule-year's scores with its truth."""

    id: str
    all: Agreement
    plain: Agreement


@dataclass(frozen=True)
class QualityReport:
    """Per granule-year and pooled agreement, and the shuffled control of the pooled figure."""

    granules: list[GranuleQuality]
    all: Agreement
    plain: Agreement
    shuffled_control: Agreement

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    def lines(self) -> list[str]:
        """A small table for the terminal."""
        fmt = lambda a: "  n/a" if a.spearman is None else f"{a.spearman:5.2f}"  # noqa: E731
        rows = [f"{'granule-year':<14} {'n':>5} {'Spearman':>8} {'n plain':>8} {'plain':>6}"]
        for g in [*self.granules, GranuleQuality("all", self.all, self.plain)]:
            rows.append(f"{g.id:<14} {g.all.n:>5} {fmt(g.all):>8} {g.plain.n:>8} {fmt(g.plain):>6}")
        rows.append(f"shuffled control: Spearman {fmt(self.shuffled_control).strip()} (should be near 0)")
        return rows


def assess(scores: pd.DataFrame, truth: pd.DataFrame, seed: int = 0) -> QualityReport:
    """Agreement of a chip-score table (tile, datetime, row, col, score) with :func:`publisher.imagery.truth.chip_truth_table`'s output."""
    scored = scores.assign(year=pd.to_datetime(scores["datetime"], utc=True, format="mixed").dt.year)
    joined = scored.merge(truth, on=["tile", "year", "row", "col"], how="inner").dropna(subset=["score", "truth"])
    if joined.empty:
        raise DevscoreError("no scored chip has a known truth: the scores and the region do not overlap")
    granules = []
    for (tile, year), g in joined.groupby(["tile", "year"], sort=True):
        plain = g[g["plain"]]
        granules.append(GranuleQuality(f"{tile}-{year}", Agreement.of(g["score"].to_numpy(), g["truth"].to_numpy()),
                                       Agreement.of(plain["score"].to_numpy(), plain["truth"].to_numpy())))
    plain = joined[joined["plain"]]
    shuffled = np.random.default_rng(seed).permutation(joined["score"].to_numpy())
    return QualityReport(
        granules=granules,
        all=Agreement.of(joined["score"].to_numpy(), joined["truth"].to_numpy()),
        plain=Agreement.of(plain["score"].to_numpy(), plain["truth"].to_numpy()),
        shuffled_control=Agreement.of(shuffled, joined["truth"].to_numpy()),
    )


def write_quality_report(report: QualityReport, scores: pd.DataFrame, truth: pd.DataFrame, folder: Path) -> list[Path]:
    """``quality.json`` and ``quality.png`` (score against truth, plain and mountain chips apart) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    json_path, png_path = folder / "quality.json", folder / "quality.png"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2))
    scored = scores.assign(year=pd.to_datetime(scores["datetime"], utc=True, format="mixed").dt.year)
    joined = scored.merge(truth, on=["tile", "year", "row", "col"]).dropna(subset=["score", "truth"])
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    for is_plain, colour, label in ((True, "tab:green", "plain"), (False, "tab:brown", "mountain")):
        part = joined[joined["plain"] == is_plain]
        ax.scatter(part["truth"], part["score"], s=4, alpha=0.4, c=colour, label=f"{label} ({len(part)} chips)")
    fmt = lambda a: "n/a" if a.spearman is None else f"{a.spearman:.2f}"  # noqa: E731
    ax.set(xlabel="ground truth (chip mean)", ylabel="published score", xlim=(0, 1), ylim=(0, 1),
           title=f"Spearman {fmt(report.all)} overall, {fmt(report.plain)} plain; "
                 f"shuffled {fmt(report.shuffled_control)}")
    ax.legend(loc="upper left", markerscale=3)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return [json_path, png_path]
