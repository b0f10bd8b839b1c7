"""Honest figures for a ranking of a synthetic region: Spearman between each cluster's level
(its target score) and the mean ground truth of its chips, over all clusters and over the plain's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from publisher.imagery.truth import chip_truth_table


@dataclass(frozen=True)
class RankingScore:
    """Spearman of cluster targets against cluster mean truth; NaN where it is undefined."""

    spearman_all: float
    spearman_plain: float
    clusters: int
    plain_clusters: int
    chip_spearman: float  # every chip's target against its own truth

    def row(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def score_clusters(clusters: pd.DataFrame, targets: dict[int, float], truth: pd.DataFrame) -> RankingScore:
    """Spearman of target against mean truth per cluster (plain clusters: most of their chips on the plain)."""
    joined = clusters.merge(truth, on=["tile", "year", "row", "col"], how="left", validate="one_to_one")
    joined["target"] = joined["cluster"].map(targets)
    per_cluster = joined.groupby("cluster").agg(truth=("truth", "mean"), plain=("plain", "mean"), target=("target", "first"))
    plain = per_cluster[per_cluster["plain"] > 0.5]
    return RankingScore(spearman_all=_spearman(per_cluster["target"], per_cluster["truth"]),
                        spearman_plain=_spearman(plain["target"], plain["truth"]),
                        clusters=len(per_cluster), plain_clusters=len(plain),
                        chip_spearman=_spearman(joined["target"], joined["truth"]))


def evaluate_ranking(ranking_dir: str | Path, region: str | Path, chips_dir: str | Path) -> RankingScore:
    """Score the ranking folder ``ranking_dir`` against the truth of the synthetic ``region``."""
    ranking_dir = Path(ranking_dir)
    clusters = pd.read_parquet(ranking_dir / "clusters.parquet")
    targets = {int(k): float(v) for k, v in json.loads((ranking_dir / "targets.json").read_text())["targets"].items()}
    return score_clusters(clusters, targets, chip_truth_table(region, chips_dir))


def _spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rho, NaN with fewer than 3 pairs or a constant side."""
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)
