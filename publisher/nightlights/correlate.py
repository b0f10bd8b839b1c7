"""Correlations of chip scores with chip night lights: Pearson on radiance, Pearson on log1p(radiance)
and Spearman (scipy), over chips where both are known."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from publisher.nightlights.products import NightLightsError

#: Fewer chips than this give no correlation (an error, never a made-up value).
MIN_CHIPS = 3


@dataclass(frozen=True)
class Correlation:
    """Agreement of scores and night lights over ``n`` chips."""

    pearson: float
    pearson_log1p: float
    spearman: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready fields, rounded to 4 decimals."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def correlate(scores: np.ndarray, radiance: np.ndarray) -> Correlation:
    """Correlate two equally shaped arrays over the positions where both are finite."""
    scores, radiance = np.asarray(scores, np.float64).ravel(), np.asarray(radiance, np.float64).ravel()
    keep = np.isfinite(scores) & np.isfinite(radiance)
    s, r = scores[keep], radiance[keep]
    if s.size < MIN_CHIPS:
        raise NightLightsError(f"only {s.size} chips have both a score and night lights (need {MIN_CHIPS})")
    if np.ptp(s) == 0 or np.ptp(r) == 0:
        raise NightLightsError(f"scores or night lights are constant over the {s.size} chips: no correlation")
    return Correlation(
        pearson=float(stats.pearsonr(s, r).statistic),
        pearson_log1p=float(stats.pearsonr(s, np.log1p(np.maximum(r, 0.0))).statistic),
        spearman=float(stats.spearmanr(s, r).statistic),
        n=int(s.size),
    )
