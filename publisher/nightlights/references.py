"""What a score's agreement with night lights should be read against, per granule-year.

- The ceiling: Spearman of the synthetic ground truth (chip means of ``devscore synth``'s truth
  raster) against the same chip radiance. No score can be expected to agree with the lights better than
  the truth does; on real data there is no truth, so no ceiling.
- The ranker-index baseline: Spearman of the heuristic ranker's built-up share B (a pixel count of the
  chip, no learning; publisher.imagery.builtup) against the chip radiance, over the usable chips.
A score-vs-lights figure near the baseline says the model earns nothing beyond counting roofs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from publisher.constants import CHIPS_PER_SIDE
from publisher.grid import ChipGrid
from publisher.imagery.builtup import builtup_share
from publisher.imagery.chipfiles import list_chip_files
from publisher.imagery.truth import chip_means


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return None
    return float(spearmanr(a[keep], b[keep]).statistic)


def truth_ceiling(region: str | Path, tile: str, year: int, radiance: np.ndarray, grid: ChipGrid) -> float | None:
    """Spearman of chip mean truth against ``radiance`` (32 x 32 on ``grid``, the chips night lights are
    compared on); None when the region has no truth of this granule-year."""
    path = Path(region) / "truth" / f"{tile}_{year}.tif"
    if not path.is_file():
        return None
    truth = chip_means(path, grid.crs, grid.chip_transform)
    return _spearman(truth.ravel(), np.asarray(radiance, np.float64).ravel())


def builtup_baseline(chips_dir: str | Path, tile: str, year: int, radiance: np.ndarray) -> float | None:
    """Spearman of the usable chips' built-up share against ``radiance``; None without a chip file."""
    chip_file = next((f for f in list_chip_files(chips_dir) if f.tile == tile and f.year == year), None)
    if chip_file is None:
        return None
    chipset = chip_file.load()
    ok = np.flatnonzero(chipset.flags == 0)
    share = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), np.nan)
    share[chipset.rows[ok].astype(int), chipset.cols[ok].astype(int)] = builtup_share(chipset.chips[ok])
    return _spearman(share.ravel(), np.asarray(radiance, np.float64).ravel())
