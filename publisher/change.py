"""Change between two years of one granule: the later score COG minus the earlier, as a COG and an Item.

Computed from the published score COGs (whatever chip geometry they were painted with), strip by strip
so memory stays bounded; nodata wherever either year has none. Where both items carry an
``uncertainty`` asset, a second band holds the spread of the difference, sqrt(u1^2 + u2^2).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import numpy as np
import pystac
import rasterio
from pystac.extensions.file import FileExtension
from pystac.extensions.item_assets import ItemAssetDefinition
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from pystac.extensions.render import Render, RenderExtension
from rasterio.windows import Window

from publisher.cog import COG_OPTIONS, STRIP_ROWS, write_cog
from publisher.constants import (CHANGE_ASSET, CHANGE_COLLECTION_ID, CHANGE_COLORMAP, CHANGE_DISPLAY, LICENSE,
                                 SCORE_NODATA)
from publisher.errors import DevscoreError
from publisher.stac import COG_MEDIA_TYPE, multihash_sha256

CHANGE_DESCRIPTION = "score change (later year minus earlier year, -1 to 1)"
SPREAD_DESCRIPTION = "spread of the change: sqrt of the sum of both years' squared uncertainties"


class ChangeError(DevscoreError):
    """Two score layers that cannot be differenced (different grids)."""


def default_render() -> Render:
    """Diverging colormap centred on 0: symmetric rescale, nodata clear."""
    return Render.create(title="Score change", assets=[CHANGE_ASSET], colormap_name=CHANGE_COLORMAP,
                         rescale=[[-CHANGE_DISPLAY, CHANGE_DISPLAY]], nodata=SCORE_NODATA, resampling="nearest")


def _valid(data: np.ndarray, nodata: float | None) -> np.ndarray:
    return np.isfinite(data) & (data != nodata if nodata is not None else True)


def write_change_cog(earlier: Path, later: Path, path: Path,
                     spreads: tuple[Path, Path] | None = None) -> tuple[Path, dict]:
    """Write ``later - earlier`` (band 1) and, given ``spreads`` (two uncertainty COGs), the spread of the
    difference (band 2); returns the path and exact statistics of band 1."""
    sources = [rasterio.open(p) for p in (earlier, later, *(spreads or ()))]
    try:
        first = sources[0]
        for other in sources[1:]:
            grid = (first.width, first.height, first.transform, first.crs)
            if (other.width, other.height, other.transform, other.crs) != grid:
                raise ChangeError(f"{other.name} is not on the grid of {first.name}")
        count = 2 if spreads else 1
        profile = {"driver": "GTiff", "dtype": "float32", "count": count, "nodata": SCORE_NODATA,
                   "width": first.width, "height": first.height, "crs": first.crs, "transform": first.transform}
        sums = {"n": 0, "sum": 0.0, "sq": 0.0, "min": np.inf, "max": -np.inf}

        def blocks() -> Iterator[tuple[Window, np.ndarray]]:
            for row in range(0, first.height, STRIP_ROWS):
                window = Window(0, row, first.width, min(STRIP_ROWS, first.height - row))
                arrays = [s.read(1, window=window) for s in sources]
                valid = np.ones(arrays[0].shape, bool)
                for src, data in zip(sources, arrays):
                    valid &= _valid(data, src.nodata)
                out = np.full((count, *arrays[0].shape), SCORE_NODATA, np.float32)
                diff = arrays[1].astype(np.float64) - arrays[0]
                out[0][valid] = diff[valid]
                if spreads:
                    out[1][valid] = np.hypot(arrays[2], arrays[3])[valid]
                if valid.any():
                    values = diff[valid]
                    sums["n"] += values.size
                    sums["sum"] += float(values.sum())
                    sums["sq"] += float(np.square(values).sum())
                    sums["min"], sums["max"] = min(sums["min"], values.min()), max(sums["max"], values.max())
                yield window, out

        write_cog(path, profile, blocks, COG_OPTIONS, descriptions=[CHANGE_DESCRIPTION, SPREAD_DESCRIPTION][:count],
                  tags={"units": "development score difference"})
        stats = {"valid_percent": round(100.0 * sums["n"] / (first.width * first.height), 4)}
        if sums["n"]:
            mean = sums["sum"] / sums["n"]
            stats.update(minimum=float(sums["min"]), maximum=float(sums["max"]), mean=mean,
                         stddev=float(np.sqrt(max(sums["sq"] / sums["n"] - mean**2, 0.0))))
        return path, stats
    finally:
        for src in sources:
            src.close()


def year_pairs(years: list[int]) -> list[tuple[int, int]]:
    """Consecutive pairs of the sorted ``years``, and the first with the last when that is not one of them."""
    years = sorted(set(years))
    pairs = list(zip(years, years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    return pairs


def change_item_id(tile: str, earlier: int, later: int) -> str:
    """``{tile}-{earlier}-{later}``."""
    return f"{tile}-{earlier}-{later}"


def create_change_item(tile: str, earlier: dict, later: dict, cog: Path, stats: dict, spread: bool) -> pystac.Item:
    """The change Item of ``tile`` between the score items ``earlier`` and ``later`` (their JSON)."""
    y0, y1 = int(earlier["properties"]["start_datetime"][:4]), int(later["properties"]["start_datetime"][:4])
    item = pystac.Item(
        id=change_item_id(tile, y0, y1), geometry=later["geometry"], bbox=later["bbox"], datetime=None,
        start_datetime=dt.datetime(y0, 1, 1, tzinfo=dt.timezone.utc),
        end_datetime=dt.datetime(y1, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc),
        properties={"title": f"Score change {tile} {y0} to {y1}",
                    "description": f"Development score of {y1} minus that of {y0}, MGRS tile {tile}; nodata where "
                                   "either year has no score.",
                    "devscore:tile": tile, "devscore:years": [y0, y1]},
        collection=CHANGE_COLLECTION_ID,
    )
    ProjectionExtension.ext(item, add_if_missing=True)
    for key in ("proj:code", "proj:shape", "proj:transform", "proj:bbox"):
        if key in later["properties"]:
            item.properties[key] = later["properties"][key]
    asset = pystac.Asset(href=str(cog), media_type=COG_MEDIA_TYPE, title=f"Score change {y0} to {y1} (COG)",
                         description=CHANGE_DESCRIPTION, roles=["data"])
    item.add_asset(CHANGE_ASSET, asset)
    bands = [RasterBand.create(nodata=SCORE_NODATA, data_type=DataType.FLOAT32, unit="1",
                               statistics=Statistics.create(**stats))]
    if spread:
        bands.append(RasterBand.create(nodata=SCORE_NODATA, data_type=DataType.FLOAT32, unit="1"))
    RasterExtension.ext(asset, add_if_missing=True).bands = bands
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size, file_ext.checksum = cog.stat().st_size, multihash_sha256(cog)
    RenderExtension.ext(item, add_if_missing=True).apply({"default": default_render()})
    return item


def create_change_collection(items: list[pystac.Item] | None = None) -> pystac.Collection:
    """The ``devscore-change`` collection, its extent from ``items``, the diverging default render."""
    items = items or []
    extent = pystac.Extent.from_items(items) if items else pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]), pystac.TemporalExtent([[None, None]]))
    collection = pystac.Collection(
        id=CHANGE_COLLECTION_ID, title="devscore score change between years",
        description="Per granule and pair of published years (consecutive, and first to last): the later "
                    "development score minus the earlier, nodata where either year has none.",
        extent=extent, license=LICENSE, keywords=["change detection", "economic development"],
    )
    asset = ItemAssetDefinition.create(title="Score change (COG)", media_type=COG_MEDIA_TYPE, roles=["data"],
                                       description=CHANGE_DESCRIPTION)
    asset.properties["raster:bands"] = [RasterBand.create(nodata=SCORE_NODATA, data_type=DataType.FLOAT32,
                                                          unit="1").to_dict()]
    collection.item_assets = {CHANGE_ASSET: asset}
    RenderExtension.ext(collection, add_if_missing=True).apply({"default": default_render()})
    return collection
