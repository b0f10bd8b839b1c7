"""The ``chips`` asset: a GeoParquet table with one polygon and score per chip, for QGIS and pandas."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from publisher.atomic import atomic_path
from publisher.constants import CHIP_SIZE, CHIPS_PER_SIDE, PIXEL_SIZE
from publisher.grid import TileGrid
from publisher.scores import GranuleYear

#: Chip outlines are densified so their WGS84 edges follow the UTM square.
EDGE_POINTS = 4


def chips_frame(granule: GranuleYear, grid: TileGrid) -> gpd.GeoDataFrame:
    """One row per chip (all 1024; score NaN where unscored), polygons in WGS84."""
    rows, cols = np.divmod(np.arange(CHIPS_PER_SIDE * CHIPS_PER_SIDE), CHIPS_PER_SIDE)
    x0, y0 = grid.transform @ (cols * CHIP_SIZE, rows * CHIP_SIZE)
    x1, y1 = grid.transform @ ((cols + 1) * CHIP_SIZE, (rows + 1) * CHIP_SIZE)
    polygons = shapely.segmentize(shapely.box(x0, y1, x1, y0), CHIP_SIZE * PIXEL_SIZE / EDGE_POINTS)
    frame = gpd.GeoDataFrame(
        {
            "tile": granule.tile,
            "year": np.int16(granule.year),
            "row": rows.astype(np.int8),
            "col": cols.astype(np.int8),
            "score": granule.scores[rows, cols].astype(np.float32),
            "scored": ~np.isnan(granule.scores[rows, cols]),
            # the scene each chip was cut from: gap-filled chips name another scene of the year
            "scene": (granule.chip_scenes[rows, cols] if granule.chip_scenes is not None
                      else np.full(rows.size, granule.scene_id, dtype=object)),
        },
        geometry=gpd.GeoSeries(polygons, crs=grid.crs),
    )
    return frame.to_crs("EPSG:4326")


def write_chips_geoparquet(granule: GranuleYear, grid: TileGrid, path: str | Path) -> Path:
    """Write the chips table as GeoParquet (temporary name, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        chips_frame(granule, grid).to_parquet(tmp, index=False, compression="zstd")
    return path


