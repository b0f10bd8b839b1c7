"""Night-light radiance per chip: the area-weighted mean over each chip's polygon.

Two ways were measured on a raster with a known answer (``aggregation_errors``: the exact
pixel-by-polygon intersection areas from shapely): exactextract's coverage-weighted mean matches it
to 1e-8 nW/cm2/sr, GDAL's warp with average resampling onto the 32 x 32 chip grid is off by up to
0.09 (0.3 % of a mean of 35; it weights source pixels approximately and averages in the target's
projection), so ``chip_radiance`` uses exactextract; tests/test_nightlights_stats.py re-measures it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
import shapely.geometry
from affine import Affine
from pyproj import Transformer
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

from publisher.constants import CHIPS_PER_SIDE
from publisher.grid import ChipGrid
from publisher.nightlights.products import optional_import

#: A chip needs this share of its area covered by valid radiance, else it is nodata (dropped).
MIN_VALID_FRACTION = 0.5
METHOD = "exactextract"
EDGE_POINTS = 8


def chip_polygons(grid: ChipGrid) -> gpd.GeoDataFrame:
    """The 1024 chip outlines of a chip grid (where the chips were cut; the score COG's
    :func:`publisher.cog.read_chip_grid`) in EPSG:4326, edges densified, row-major, with row and col."""
    rows, cols, utm = grid.chip_boxes(EDGE_POINTS)
    to_wgs84 = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    wgs84 = shapely.transform(utm, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    return gpd.GeoDataFrame({"row": rows, "col": cols}, geometry=wgs84, crs="EPSG:4326")


@functools.lru_cache(maxsize=256)
def _chip_features(grid: ChipGrid) -> tuple[list[dict], np.ndarray]:
    """GeoJSON features (exactextract's fastest input) and areas (square degrees) of the chips of ``grid``."""
    chips = chip_polygons(grid)
    features = [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(g)} for g in chips.geometry]
    return features, shapely.area(chips.geometry.to_numpy())


def chip_radiance(raster: str | Path, grid: ChipGrid) -> np.ndarray:
    """(32, 32) mean radiance of every chip of ``grid`` from an EPSG:4326 raster (exactextract's
    coverage-weighted mean over valid pixels); NaN where less than half the chip has valid radiance."""
    optional_import("exactextract")
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    features, areas = _chip_features(grid)
    with rasterio.open(raster) as src:
        data, bounds, nodata = src.read(1), src.bounds, src.nodata
        res_x, res_y = src.res
    if nodata is not None and np.isnan(nodata):
        nodata = None
    source = NumPyRasterSource(data, bounds.left, bounds.bottom, bounds.right, bounds.top, nodata=nodata)
    results = exact_extract(source, features, ["mean", "count"])
    means = np.array([f["properties"]["mean"] for f in results], np.float64)
    covered = np.array([f["properties"]["count"] for f in results], np.float64) / (areas / (res_x * res_y))
    means[~(covered >= MIN_VALID_FRACTION)] = np.nan
    return means.reshape(CHIPS_PER_SIDE, CHIPS_PER_SIDE)


def chip_radiance_warp(raster: str | Path, grid: ChipGrid) -> np.ndarray:
    """(32, 32) chip means by GDAL's warp with average resampling onto the chip grid (the alternative)."""
    out = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), np.nan, np.float64)
    with rasterio.open(raster) as src:
        reproject(rasterio.band(src, 1), out, dst_transform=grid.chip_transform,
                  dst_crs=grid.crs, dst_nodata=np.nan, resampling=Resampling.average)
    return out


def exact_chip_means(data: np.ndarray, transform: Affine, chips: gpd.GeoDataFrame) -> np.ndarray:
    """The known answer: each chip's mean of a pixel raster weighted by the exact area each pixel
    square shares with the chip polygon (shapely intersections; slow, for tests and measurement)."""
    means = np.full(len(chips), np.nan)
    inv = ~transform
    for i, polygon in enumerate(chips.geometry):
        minx, miny, maxx, maxy = polygon.bounds
        c0, r0 = (int(np.floor(v)) for v in inv @ (minx, maxy))
        c1, r1 = (int(np.ceil(v)) for v in inv @ (maxx, miny))
        cols, rows = np.meshgrid(np.arange(c0, c1), np.arange(r0, r1))
        x0, y0 = transform @ (cols, rows)
        x1, y1 = transform @ (cols + 1, rows + 1)
        areas = shapely.area(shapely.intersection(shapely.box(x0, y1, x1, y0), polygon))
        means[i] = float((areas * data[rows, cols]).sum() / areas.sum())
    return means


def aggregation_errors(raster: str | Path, grid: ChipGrid, sample: np.ndarray) -> dict[str, float]:
    """Largest absolute error of each aggregation method against ``exact_chip_means`` on the chips
    ``sample`` (indices into the row-major 1024), for a raster with no nodata."""
    chips = chip_polygons(grid)
    with rasterio.open(raster) as src:
        data, transform = src.read(1).astype(np.float64), src.transform
    exact = exact_chip_means(data, transform, chips.iloc[sample])
    return {
        "exactextract": float(np.max(np.abs(chip_radiance(raster, grid).ravel()[sample] - exact))),
        "warp-average": float(np.max(np.abs(chip_radiance_warp(raster, grid).ravel()[sample] - exact))),
    }


def chip_scores(score_cog: str | Path, grid: ChipGrid) -> np.ndarray:
    """(32, 32) chip scores read back from a score COG painted on ``grid`` (the pixel at each chip's
    centre; NaN for nodata)."""
    centres = np.arange(CHIPS_PER_SIDE) * grid.chip_px + grid.chip_px // 2
    out = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), np.nan)
    with rasterio.open(score_cog) as src:
        for r, row in enumerate(centres):  # one pixel row a chip row: memory stays one row of tiles
            line = src.read(1, window=Window(0, int(row), src.width, 1), masked=True)[0]
            out[r] = line[centres].astype(np.float64).filled(np.nan)
    return out
