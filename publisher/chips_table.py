"""The ``chips`` assets: one polygon and score per chip, as GeoParquet (pandas, GDAL >= 3.8) and as
FlatGeobuf (any GDAL since 3.1, so Debian's QGIS 3.22 opens it), written from the same frame."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio

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
            # the spread of the score over the scorer ensemble (NaN where unscored or without an ensemble)
            "uncertainty": (granule.uncertainty[rows, cols] if granule.uncertainty is not None
                            else np.full(rows.size, np.nan)).astype(np.float32),
            # the scene each chip was cut from: gap-filled chips name another scene of the year
            "scene": (granule.chip_scenes[rows, cols] if granule.chip_scenes is not None
                      else np.full(rows.size, granule.scene_id, dtype=object)),
        },
        geometry=gpd.GeoSeries(polygons, crs=grid.crs),
    )
    return frame.to_crs("EPSG:4326")


def write_chips_tables(granule: GranuleYear, parquet_path: str | Path, flatgeobuf_path: str | Path) -> tuple[Path, Path]:
    """Write the chips table as GeoParquet and as FlatGeobuf, the same frame in both (temporary names,
    then renames)."""
    frame = chips_frame(granule)
    parquet_path, flatgeobuf_path = Path(parquet_path), Path(flatgeobuf_path)
    with atomic_path(parquet_path) as tmp:
        frame.to_parquet(tmp, index=False, compression="zstd")
    buffer = io.BytesIO()  # GDAL's FlatGeobuf driver makes a folder of a path not ending in .fgb
    pyogrio.write_dataframe(frame, buffer, driver="FlatGeobuf", layer="chips")
    with atomic_path(flatgeobuf_path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return parquet_path, flatgeobuf_path
