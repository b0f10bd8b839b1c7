"""STAC Item of one granule-year (stactools style: ``create_item``), built with pystac's extensions."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pystac
from pystac.extensions.file import FileExtension
from pystac.extensions.grid import GridExtension
from pystac.extensions.mgrs import MgrsExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from pystac.extensions.render import Render, RenderExtension
from shapely.geometry import shape

from publisher import __version__
from publisher.constants import (
    CHIP_SIZE,
    CHIPS_ASSET,
    COLLECTION_ID,
    COLORMAP,
    GRANULE_SIZE,
    PIXEL_SIZE,
    SCORE_ASSET,
    SCORE_BAND_DESCRIPTION,
    SCORE_MAX,
    SCORE_MIN,
    SCORE_NODATA,
    THUMBNAIL_ASSET,
)
from publisher.grid import TileGrid
from publisher.scores import GranuleYear

PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
#: Where a scene id points when the source is Planetary Computer's Sentinel-2 L2A collection.
SOURCE_ITEM_URL = "https://planetarycomputer.microsoft.com/api/stac/v1/collections/sentinel-2-l2a/items/{}"
COG_MEDIA_TYPE = pystac.MediaType.COG
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
#: The default render: every client that reads the render extension gets the method's heat map.
DEFAULT_RENDER = {
    "title": "Development score",
    "assets": [SCORE_ASSET],
    "colormap_name": COLORMAP,
    "rescale": [[SCORE_MIN, SCORE_MAX]],
    "nodata": SCORE_NODATA,
    "resampling": "nearest",
}


def multihash_sha256(path: Path) -> str:
    """``file:checksum`` value: the multihash (sha2-256, 32 bytes) of the file, hex encoded."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "1220" + digest.hexdigest()


def score_statistics(scores: np.ndarray) -> Statistics:
    """Exact pixel statistics of the painted grid: every chip covers the same number of pixels."""
    valid = scores[~np.isnan(scores)].astype(np.float64)
    valid_percent = 100.0 * valid.size * CHIP_SIZE**2 / GRANULE_SIZE**2
    if valid.size == 0:
        return Statistics.create(valid_percent=0.0)
    return Statistics.create(
        minimum=float(valid.min()), maximum=float(valid.max()), mean=float(valid.mean()),
        stddev=float(valid.std()), valid_percent=round(valid_percent, 4),
    )


def _file_fields(asset: pystac.Asset, path: Path) -> None:
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size = path.stat().st_size
    file_ext.checksum = multihash_sha256(path)


def create_item(
    granule: GranuleYear, grid: TileGrid, score_path: Path, thumbnail_path: Path, chips_path: Path
) -> pystac.Item:
    """The Item ``{tile}-{year}`` with its score COG, thumbnail and chips assets."""
    year = granule.year
    item = pystac.Item(
        id=granule.id,
        geometry=grid.footprint,
        bbox=grid.bbox,
        datetime=granule.datetime,
        start_datetime=dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc),
        end_datetime=dt.datetime(year, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc),
        properties={
            "title": f"Development scores {granule.tile} {year}",
            "description": f"Chip development scores of MGRS tile {granule.tile} in {year}, "
                           "painted on the Sentinel-2 10 m grid.",
            "processing:software": {"devscore": __version__},
            "processing:level": "L3",
            "devscore:coverage": round(granule.coverage, 4),
            "processing:lineage": "Sentinel-2 L2A visual -> 32 x 32 chips -> ResNet-18 scores trained on a "
                                  "VLM-ranked partial order of clusters -> painted 10 m grid",
        },
        collection=COLLECTION_ID,
    )
    item.stac_extensions.append(PROCESSING_SCHEMA)

    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = f"EPSG:{grid.epsg}"
    proj.shape = list(grid.shape)
    proj.transform = list(grid.transform)[:6]
    proj.bbox = list(grid.bounds)
    centroid = shape(grid.footprint).centroid
    proj.centroid = {"lat": round(centroid.y, 7), "lon": round(centroid.x, 7)}

    mgrs = MgrsExtension.ext(item, add_if_missing=True)
    mgrs.utm_zone = grid.zone
    mgrs.latitude_band = granule.tile[2]
    mgrs.grid_square = granule.tile[3:5]
    GridExtension.ext(item, add_if_missing=True).code = f"MGRS-{granule.tile}"

    score = pystac.Asset(
        href=str(score_path), media_type=COG_MEDIA_TYPE, title="Development score (COG)",
        description=SCORE_BAND_DESCRIPTION, roles=["data"],
    )
    item.add_asset(SCORE_ASSET, score)
    band = RasterBand.create(
        nodata=SCORE_NODATA, data_type=DataType.FLOAT32, spatial_resolution=PIXEL_SIZE,
        statistics=score_statistics(granule.scores), unit="1",
    )
    RasterExtension.ext(score, add_if_missing=True).bands = [band]
    _file_fields(score, score_path)

    thumbnail = pystac.Asset(href=str(thumbnail_path), media_type=pystac.MediaType.PNG,
                             title="Thumbnail (RdYlGn_r, 0 to 1)", roles=["thumbnail"])
    item.add_asset(THUMBNAIL_ASSET, thumbnail)
    _file_fields(thumbnail, thumbnail_path)

    chips = pystac.Asset(href=str(chips_path), media_type=PARQUET_MEDIA_TYPE, title="Chip scores (GeoParquet)",
                         description="One WGS84 polygon per chip with its row, col and score.",
                         roles=["data"])
    item.add_asset(CHIPS_ASSET, chips)
    _file_fields(chips, chips_path)

    RenderExtension.ext(item, add_if_missing=True).apply({"default": Render.create(**DEFAULT_RENDER)})
    if granule.scene_id:
        item.add_link(pystac.Link(rel="derived_from", target=SOURCE_ITEM_URL.format(granule.scene_id),
                                  media_type=pystac.MediaType.GEOJSON, title=f"Source scene {granule.scene_id}"))
    if granule.chip_scenes is not None:  # scenes that filled the chosen scene's blank and cloudy chips
        used = granule.chip_scenes[~np.isnan(granule.scores)]
        for scene in sorted({s for s in used if s and s != granule.scene_id}):
            count = int(np.sum(used == scene))
            item.add_link(pystac.Link(rel="derived_from", target=SOURCE_ITEM_URL.format(scene),
                                      media_type=pystac.MediaType.GEOJSON,
                                      title=f"Source scene {scene} ({count} gap-filled chips)"))
    return item
