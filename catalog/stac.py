"""The ``devscore-scores`` Collection (stactools style: ``create_collection``)."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import pystac
from pystac.extensions.item_assets import ItemAssetDefinition
from pystac.extensions.raster import DataType, RasterBand
from pystac.extensions.render import Render, RenderExtension

from publisher import __version__
from publisher.constants import (
    CHIPS_ASSET,
    CHIPS_FLATGEOBUF_ASSET,
    COLLECTION_ID,
    COLLECTION_TITLE,
    LICENSE,
    PIXEL_SIZE,
    SCORE_ASSET,
    SCORE_NODATA,
    THUMBNAIL_ASSET,
    UNCERTAINTY_ASSET,
    UNCERTAINTY_BAND_DESCRIPTION,
)
from publisher.stac import (
    COG_MEDIA_TYPE,
    DEFAULT_RENDER,
    FLATGEOBUF_MEDIA_TYPE,
    PARQUET_MEDIA_TYPE,
    PROCESSING_SCHEMA,
    SOURCES,
    UNCERTAINTY_RENDER,
    ranked_by,
)

DESCRIPTION = (
    "Economic-development scores in [0, 1] (0 least, 1 most developed) for Sentinel-2 granule-years "
    "(one MGRS tile, one calendar year). Each 3.43 km chip of a granule gets one score from a ResNet-18 "
    "trained on a partial order of image clusters {ranked} (after Han et al., KDD 2020); the 32 x 32 chip "
    "scores are painted on the granule's 10 m grid as a Cloud-Optimized GeoTIFF.{source}"
)


def describe(items: Sequence[pystac.Item]) -> str:
    """The collection's description, saying how its items' clusters were ranked and where their scenes
    came from, as the items record it (``devscore:ranker``, ``devscore:source``)."""
    sources = sorted({s for s in (i.properties.get("devscore:source") for i in items) if s in SOURCES})
    source = f" Scenes: {' and '.join(SOURCES[s] for s in sources)}." if sources else ""
    return DESCRIPTION.format(ranked=ranked_by([i.properties.get("devscore:ranker") for i in items]), source=source)
#: Placeholder extent of a collection that has no items yet.
EMPTY_EXTENT = pystac.Extent(
    pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
    pystac.TemporalExtent([[dt.datetime(2015, 6, 23, tzinfo=dt.timezone.utc), None]]),
)
PROVIDERS = [
    pystac.Provider(name="devscore", roles=[pystac.ProviderRole.PROCESSOR, pystac.ProviderRole.HOST],
                    extra_fields={"processing:software": {"devscore": __version__}}),
    pystac.Provider(name="ESA / Copernicus Sentinel-2", roles=[pystac.ProviderRole.PRODUCER,
                    pystac.ProviderRole.LICENSOR], url="https://sentinel.esa.int/web/sentinel/missions/sentinel-2"),
]


def _uncertainty_asset() -> ItemAssetDefinition:
    """The ``uncertainty`` asset of items scored by an ensemble (items without one lack it)."""
    spread = ItemAssetDefinition.create(title="Uncertainty of the score (COG)", media_type=COG_MEDIA_TYPE,
                                        roles=["data"], description=UNCERTAINTY_BAND_DESCRIPTION)
    spread.properties["raster:bands"] = [RasterBand.create(nodata=SCORE_NODATA, data_type=DataType.FLOAT32,
                                                           spatial_resolution=PIXEL_SIZE, unit="1").to_dict()]
    return spread


def _item_assets() -> dict[str, ItemAssetDefinition]:
    score = ItemAssetDefinition.create(title="Development score (COG)", media_type=COG_MEDIA_TYPE,
                                       roles=["data"], description="float32 scores in [0, 1]")
    score.properties["raster:bands"] = [RasterBand.create(nodata=SCORE_NODATA, data_type=DataType.FLOAT32,
                                                          spatial_resolution=PIXEL_SIZE, unit="1").to_dict()]
    return {
        SCORE_ASSET: score,
        THUMBNAIL_ASSET: ItemAssetDefinition.create(title="Thumbnail (RdYlGn_r, 0 to 1)",
                                                    media_type=pystac.MediaType.PNG, roles=["thumbnail"],
                                                    description=None),
        CHIPS_ASSET: ItemAssetDefinition.create(title="Chip scores (GeoParquet)", media_type=PARQUET_MEDIA_TYPE,
                                                roles=["data"], description="One polygon per chip"),
        UNCERTAINTY_ASSET: _uncertainty_asset(),
        CHIPS_FLATGEOBUF_ASSET: ItemAssetDefinition.create(
            title="Chip scores (FlatGeobuf, for QGIS and GDAL without Parquet)", media_type=FLATGEOBUF_MEDIA_TYPE,
            roles=["data"], description="One polygon per chip: the GeoParquet table's rows and columns"),
    }


def _summaries(items: Sequence[pystac.Item]) -> pystac.Summaries:
    summaries = pystac.Summaries.empty()
    if items:
        summaries.add("mgrs:utm_zone", sorted({i.properties["mgrs:utm_zone"] for i in items}))
        summaries.add("grid:code", sorted({i.properties["grid:code"] for i in items}))
        summaries.add("proj:code", sorted({i.properties["proj:code"] for i in items}))
        years = sorted({i.properties["start_datetime"][:4] for i in items})
        summaries.add("devscore:year", [int(y) for y in years])
    return summaries


def create_collection(items: Sequence[pystac.Item] = ()) -> pystac.Collection:
    """The score Collection, its extent and summaries computed from ``items``."""
    collection = pystac.Collection(
        id=COLLECTION_ID,
        title=COLLECTION_TITLE,
        description=describe(items),
        extent=pystac.Extent.from_items(items) if items else EMPTY_EXTENT,
        license=LICENSE,
        keywords=["economic development", "Sentinel-2", "poverty mapping", "deep learning", "COG"],
        providers=PROVIDERS,
        summaries=_summaries(items),
    )
    collection.stac_extensions.append(PROCESSING_SCHEMA)
    collection.item_assets = _item_assets()
    RenderExtension.ext(collection, add_if_missing=True).apply({"default": Render.create(**DEFAULT_RENDER),
                                                               UNCERTAINTY_ASSET: Render.create(**UNCERTAINTY_RENDER)})
    return collection
