"""The ``chips`` asset: a GeoParquet table with one polygon and score per chip, for QGIS and pandas."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from publisher.atomic import atomic_path
from publisher.scores import GranuleYear

#: Chip outlines are densified so their WGS84 edges follow the UTM square.
EDGE_POINTS = 4


def chips_frame(granule: GranuleYear) -> gpd.GeoDataFrame:
    """One row per chip (all 1024; score NaN where unscored), polygons in WGS84: each the ground the chip
    was cut from (the granule-year's chip grid)."""
    grid = granule.chip_grid
    rows, cols, polygons = grid.chip_boxes(EDGE_POINTS)
    frame = gpd.GeoDataFrame(
        {
            "tile": granule.tile,
            "year": np.int16(granule.year),
            "row": rows.astype(np.int8),
            "col": cols.astype(np.int8),
            "score": granule.scores[rows, cols].astype(np.float32),
            "scored": ~np.isnan(granule.scores[rows, cols]),
        },
        geometry=gpd.GeoSeries(polygons, crs=grid.crs),
    )
    return frame.to_crs("EPSG:4326")


def write_chips_geoparquet(granule: GranuleYear, path: str | Path) -> Path:
    """Write the chips table as GeoParquet (temporary name, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        chips_frame(granule).to_parquet(tmp, index=False, compression="zstd")
    return path


