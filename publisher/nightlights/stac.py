"""STAC of the night lights (stactools style): the ``viirs-nightlights`` Collection and one Item
``{tile}-{year}`` per granule-year, with raster (unit, statistics) and render (log scale) extensions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

import numpy as np
import pystac
from matplotlib import colormaps
from pystac.extensions.file import FileExtension
from pystac.extensions.item_assets import ItemAssetDefinition
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from pystac.extensions.render import Render, RenderExtension
from shapely.geometry import box, mapping

from publisher import __version__
from publisher.nightlights.clip import NODATA, UNIT, Clip
from publisher.stac import COG_MEDIA_TYPE, PROCESSING_SCHEMA, multihash_sha256

COLLECTION_ID = "viirs-nightlights"
ASSET = "radiance"
#: Ground size of a 15 arc-second pixel at the equator (raster:spatial_resolution, metres).
SPATIAL_RESOLUTION_M = 463.8
#: Display range (Earth Engine's catalog stretches VNL 0 to 60): radiance is rescaled linearly to
#: 0..255 over it and the colormap's stops are spaced on log1p(radiance), so the default is log-scale.
DISPLAY_MAX = 63.0
BASE_COLORMAP = "magma"
DESCRIPTION = (
    "VIIRS Day/Night Band annual night-light radiance (nW/cm2/sr) clipped to each Sentinel-2 granule of the "
    "score collection, on the source product's native 15 arc-second EPSG:4326 grid: EOG VNL v2 annual "
    "composites or NASA Black Marble VNP46A4. Nodata, fill and negative background values are nodata (-999), "
    "never dark. The proxy the development scores are compared against (Pearson, Spearman per granule-year)."
)


def log_colormap(name: str = BASE_COLORMAP, vmax: float = DISPLAY_MAX) -> dict[str, list[int]]:
    """A 256-entry colormap for radiance rescaled linearly over [0, vmax] whose colours follow
    log1p(radiance): index i (radiance i / 255 * vmax) gets the colour at log1p(r) / log1p(vmax).
    Keys are strings, as JSON has them (pystac's orjson writer refuses integer keys)."""
    radiance = np.arange(256) / 255.0 * vmax
    position = np.log1p(radiance) / np.log1p(vmax)
    rgba = (colormaps[name](position) * 255).round().astype(int)
    return {str(i): [int(v) for v in rgba[i]] for i in range(256)}


def default_render() -> Render:
    """The render every client gets by default: log-scale magma over 0..63 nW/cm2/sr, nodata clear."""
    # JSON object keys are strings: pystac writes with orjson when it is installed, which refuses int keys
    colormap = {str(i): rgba for i, rgba in log_colormap().items()}
    return Render.create(title="Night lights (log scale)", assets=[ASSET], colormap=colormap,
                         rescale=[[0.0, DISPLAY_MAX]], nodata=NODATA, resampling="bilinear")


def radiance_statistics(data: np.ndarray) -> Statistics:
    """Pixel statistics of a clip (NaN is nodata)."""
    valid = data[np.isfinite(data)].astype(np.float64)
    if valid.size == 0:
        return Statistics.create(valid_percent=0.0)
    return Statistics.create(minimum=float(valid.min()), maximum=float(valid.max()), mean=float(valid.mean()),
                             stddev=float(valid.std()), valid_percent=round(100.0 * valid.size / data.size, 4))


def create_item(tile: str, year: int, clip: Clip, cog_path: Path, product: str, layer: str,
                sources: Sequence[str]) -> pystac.Item:
    """The Item ``{tile}-{year}`` of the night lights clipped to granule ``tile``, naming its source files."""
    west, south, east, north = clip.grid.bounds
    start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    item = pystac.Item(
        id=f"{tile}-{year}",
        geometry=mapping(box(west, south, east, north)),
        bbox=[west, south, east, north],
        datetime=None,
        start_datetime=start,
        end_datetime=dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc),
        properties={
            "title": f"Night lights {tile} {year}",
            "description": f"{product} ({layer}) radiance of {year} around MGRS tile {tile}.",
            "devscore:tile": tile,
            "devscore:nightlights_product": product,
            "devscore:nightlights_layer": layer,
            "devscore:nightlights_sources": list(sources),
            "processing:software": {"devscore": __version__},
            "processing:lineage": f"{product} {layer} -> window of granule {tile} plus margin on the native "
                                  "15 arc-second grid; nodata, fill and negative values -> nodata",
        },
        collection=COLLECTION_ID,
    )
    item.stac_extensions.append(PROCESSING_SCHEMA)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = "EPSG:4326"
    proj.shape = [clip.grid.height, clip.grid.width]
    proj.transform = list(clip.grid.transform)[:6]
    asset = pystac.Asset(href=str(cog_path), media_type=COG_MEDIA_TYPE, roles=["data"],
                         title=f"Night-light radiance ({UNIT})", description=f"{product}, layer {layer}")
    item.add_asset(ASSET, asset)
    RasterExtension.ext(asset, add_if_missing=True).bands = [RasterBand.create(
        nodata=NODATA, data_type=DataType.FLOAT32, unit=UNIT, spatial_resolution=SPATIAL_RESOLUTION_M,
        statistics=radiance_statistics(clip.data))]
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size, file_ext.checksum = cog_path.stat().st_size, multihash_sha256(cog_path)
    RenderExtension.ext(item, add_if_missing=True).apply({"default": default_render()})
    return item


def create_collection(items: Sequence[pystac.Item] = ()) -> pystac.Collection:
    """The ``viirs-nightlights`` Collection, its extent computed from ``items``."""
    extent = pystac.Extent.from_items(items) if items else pystac.Extent(
        pystac.SpatialExtent([[-180.0, -65.0, 180.0, 75.0]]),
        pystac.TemporalExtent([[dt.datetime(2012, 4, 1, tzinfo=dt.timezone.utc), None]]))
    collection = pystac.Collection(
        id=COLLECTION_ID, title="VIIRS night lights", description=DESCRIPTION, extent=extent,
        license="other", keywords=["night lights", "VIIRS", "DNB", "Black Marble", "VNL"],
        providers=[
            pystac.Provider(name="Earth Observation Group, Payne Institute, Colorado School of Mines",
                            roles=[pystac.ProviderRole.PRODUCER], url="https://eogdata.mines.edu/products/vnl/"),
            pystac.Provider(name="NASA Black Marble", roles=[pystac.ProviderRole.PRODUCER],
                            url="https://blackmarble.gsfc.nasa.gov/"),
            pystac.Provider(name="devscore", roles=[pystac.ProviderRole.PROCESSOR, pystac.ProviderRole.HOST]),
        ],
    )
    if items:
        collection.summaries.add("devscore:year", sorted({int(i.properties["start_datetime"][:4]) for i in items}))
    asset = ItemAssetDefinition.create(title=f"Night-light radiance ({UNIT})", media_type=COG_MEDIA_TYPE,
                                       roles=["data"], description="float32 radiance, nodata -999")
    asset.properties["raster:bands"] = [RasterBand.create(nodata=NODATA, data_type=DataType.FLOAT32, unit=UNIT,
                                                          spatial_resolution=SPATIAL_RESOLUTION_M).to_dict()]
    collection.item_assets = {ASSET: asset}
    RenderExtension.ext(collection, add_if_missing=True).apply({"default": default_render()})
    return collection
