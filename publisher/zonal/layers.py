"""One granule-year's chips as a grid: read back from the published chips GeoParquet, not from constants.

The chips table holds one polygon per chip (WGS84) with its ``row``, ``col`` and ``score``. Chips are cut
on a regular grid of the granule's projection, so the polygons, projected back into it, give the chip
grid's transform; zonal figures then weigh each chip by its area inside a zone (exactextract over that
grid). Wherever the chips were cut, the figures follow the published polygons.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS

from publisher.errors import DevscoreError
from publisher.scores import UNCERTAINTY_COLUMN

#: Largest distance (CRS units, metres) between a published chip corner and the fitted grid's.
GRID_TOLERANCE_M = 0.5


class ChipGridError(DevscoreError):
    """A chips table whose polygons do not form a regular grid in the granule's projection."""


@dataclass(frozen=True)
class ChipLayer:
    """Chip scores of one granule-year on their grid: ``scores[row, col]`` (NaN where unscored) covers the
    cell ``transform * (col, row)`` to ``transform * (col + 1, row + 1)`` in ``crs``."""

    item_id: str
    year: int
    crs: CRS
    transform: Affine
    scores: np.ndarray
    uncertainty: np.ndarray | None = None

    @property
    def cell_area(self) -> float:
        """Area of one chip in the CRS's units squared."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the whole chip grid."""
        rows, cols = self.scores.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (cols, rows)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    @cached_property
    def scored_cells(self) -> np.ndarray:
        """Boxes (in ``crs``) of the scored chips, flat row-major order, None where unscored."""
        rows, cols = np.divmod(np.arange(self.scores.size), self.scores.shape[1])
        x0, y0 = self.transform @ (cols, rows)
        x1, y1 = self.transform @ (cols + 1, rows + 1)
        boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
        boxes[np.isnan(self.scores.ravel())] = None
        return boxes


def _fit_axis(low: np.ndarray, high: np.ndarray, index: np.ndarray) -> tuple[float, float, float]:
    """(origin, step, worst misfit) of cells ``[origin + index * step, origin + (index + 1) * step]``."""
    step = float(np.median(high - low))
    origin = float(np.median(low - index * step))
    misfit = max(np.abs(low - (origin + index * step)).max(), np.abs(high - (origin + (index + 1) * step)).max())
    return origin, step, float(misfit)


def chip_layer(chips: gpd.GeoDataFrame, crs: CRS | str, item_id: str, year: int) -> ChipLayer:
    """The chip grid of a published chips table, in the granule's projection ``crs`` (``proj:code``)."""
    crs = CRS.from_user_input(crs)
    missing = {"row", "col", "score"} - set(chips.columns)
    if missing or chips.empty:
        raise ChipGridError(f"chips table of {item_id} lacks {', '.join(sorted(missing)) or 'rows'}")
    projected = chips.to_crs(crs)
    rows = projected["row"].to_numpy(np.int64)
    cols = projected["col"].to_numpy(np.int64)
    bounds = projected.geometry.bounds
    x0, width, x_misfit = _fit_axis(bounds["minx"].to_numpy(), bounds["maxx"].to_numpy(), cols)
    # rows count southwards: row r spans [top - (r + 1) * h, top - r * h]
    top_neg, height, y_misfit = _fit_axis(-bounds["maxy"].to_numpy(), -bounds["miny"].to_numpy(), rows)
    if max(x_misfit, y_misfit) > GRID_TOLERANCE_M or width <= 0 or height <= 0:
        raise ChipGridError(f"chips of {item_id} do not form a regular grid in {crs.to_string()} "
                            f"(corners off by up to {max(x_misfit, y_misfit):.3g} m)")
    shape = (int(rows.max()) + 1, int(cols.max()) + 1)
    scores = np.full(shape, np.nan)
    scores[rows, cols] = projected["score"].to_numpy(np.float64)
    spread = None
    if UNCERTAINTY_COLUMN in projected.columns:
        spread = np.full(shape, np.nan)
        spread[rows, cols] = projected[UNCERTAINTY_COLUMN].to_numpy(np.float64)
    return ChipLayer(item_id=item_id, year=int(year), crs=crs, transform=Affine(width, 0, x0, 0, -height, -top_neg),
                     scores=scores, uncertainty=spread)
