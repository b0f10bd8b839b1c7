"""STAC Item of one granule-year (stactools style: ``create_item``), built with pystac's extensions."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import pyarrow.parquet as pq
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
    CHIPS_ASSET,
    CHIPS_FLATGEOBUF_ASSET,
    COLLECTION_ID,
    COLORMAP,
    PLANETARY_COMPUTER,
    SCORE_ASSET,
    SCORE_BAND_DESCRIPTION,
    SCORE_MAX,
    SCORE_MIN,
    SCORE_NODATA,
    SOURCES,
    THUMBNAIL_ASSET,
    UNCERTAINTY_ASSET,
    UNCERTAINTY_BAND_DESCRIPTION,
    UNCERTAINTY_COLORMAP,
    UNCERTAINTY_DISPLAY,
)
from publisher.errors import DevscoreError
from publisher.grid import ChipGrid, TileGrid
from publisher.scores import GranuleYear

PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
#: Where a scene id points when the source is Planetary Computer's Sentinel-2 L2A collection.
SOURCE_ITEM_URL = PLANETARY_COMPUTER + "/collections/sentinel-2-l2a/items/{}"
#: How the clusters were ordered, by the ranker an item records (``devscore:ranker``).
RANKED_BY = {"heuristic": "ranked by devscore's pixel-index heuristic (offline, no vision-language model)",
             "vlm": "ranked by a vision-language model",
             "file": "ordered by a partial order graph (POG) a person wrote"}
COG_MEDIA_TYPE = pystac.MediaType.COG
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
FLATGEOBUF_MEDIA_TYPE = "application/vnd.flatgeobuf"
TABLE_SCHEMA = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
#: What the chips tables' columns mean (``table:columns``; the columns themselves are read from the file).
CHIP_COLUMNS = {"tile": "MGRS tile", "year": "calendar year", "row": "chip row, 0 the northern",
                "col": "chip column, 0 the western", "score": "development score in [0, 1], NaN where unscored",
                "scored": "whether the chip has a score",
                "uncertainty": "spread over the scorer ensemble: standard deviation of the chip's percentile rank in "
                               "its granule-year (0 to 1), NaN where unknown",
                "geometry": "chip outline, WGS84"}
#: The default render: every client that reads the render extension gets the method's heat map.
DEFAULT_RENDER = {
    "title": "Development score",
    "assets": [SCORE_ASSET],
    "colormap_name": COLORMAP,
    "rescale": [[SCORE_MIN, SCORE_MAX]],
    "nodata": SCORE_NODATA,
    "resampling": "nearest",
}
#: The render of the ``uncertainty`` asset: a sequential colormap over 0..UNCERTAINTY_DISPLAY.
UNCERTAINTY_RENDER = {
    "title": "Uncertainty (SD of the chip's percentile rank over the scorer ensemble)",
    "assets": [UNCERTAINTY_ASSET],
    "colormap_name": UNCERTAINTY_COLORMAP,
    "rescale": [[0.0, UNCERTAINTY_DISPLAY]],
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


def score_statistics(scores: np.ndarray, grid: ChipGrid) -> Statistics:
    """Exact pixel statistics of the painted grid: every chip covers the same number of pixels."""
    valid = scores[~np.isnan(scores)].astype(np.float64)
    valid_percent = 100.0 * valid.size * grid.chip_px**2 / (grid.width * grid.height)
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


def ranked_by(rankers: Sequence[str | None]) -> str:
    """Words for how the clusters behind some scores were ordered (their ``devscore:ranker`` values)."""
    known = [RANKED_BY[r] for r in sorted({r for r in rankers if r in RANKED_BY})]
    return " or ".join(known) if known else "ranked (the ranker was not recorded)"


def lineage(ranker: str | None, source: str | None) -> str:
    """``processing:lineage`` of a score item from what actually made it: its scenes and its ranker."""
    return (f"{SOURCES.get(source or '', 'Sentinel-2 L2A visual scenes')} -> 32 x 32 chips -> ResNet-18 scores "
            f"trained on a partial order of clusters {ranked_by([ranker])} -> painted on the grid the chips were "
            "cut from")


class SceneSource(NamedTuple):
    """Where a table's scenes came from: ``name``, a key of ``SOURCES`` (None: nobody said), and
    ``scene_url``, the URL template of a scene item (``{}`` takes the scene id) where the scenes have an
    address (None: no link is made)."""

    name: str | None = None
    scene_url: str | None = None


class SceneSourceError(DevscoreError):
    """A scene source that cannot say where its scenes are."""


def scene_source_of(name: str | None, scene_url: str | None = None) -> SceneSource:
    """The scene source a user named (``devscore publish --source/--scene-url``): Planetary Computer links
    its scene items unless told another address; a STAC API or local catalog links only to the template
    given; synthetic scenes have no address; an unnamed source links nothing."""
    if name is not None and name not in SOURCES:
        raise SceneSourceError(f"unknown scene source {name!r} (one of {', '.join(SOURCES)})")
    if scene_url is not None:
        if name in (None, "synthetic"):
            raise SceneSourceError(f"a scene URL needs a source whose scenes have an address, not "
                                   f"{name or 'an unnamed source'} (give --source)")
        if scene_url.count("{}") != 1:
            raise SceneSourceError(f"scene URL {scene_url!r} must hold {{}} once, where the scene id goes")
    if name == "planetary-computer" and scene_url is None:
        scene_url = SOURCE_ITEM_URL
    return SceneSource(name, scene_url)


def source_scenes(granule: GranuleYear) -> list[tuple[str, str]]:
    """(scene id, link title) of the scenes behind a granule-year's scores: its chosen scene, then those
    that filled its blank and cloudy chips (with their chip counts)."""
    scenes = [(granule.scene_id, f"Source scene {granule.scene_id}")] if granule.scene_id else []
    if granule.chip_scenes is not None:
        used = granule.chip_scenes[~np.isnan(granule.scores)]
        for scene in sorted({s for s in used if s and s != granule.scene_id}):
            scenes.append((scene, f"Source scene {scene} ({int(np.sum(used == scene))} gap-filled chips)"))
    return scenes


def record_source(item: pystac.Item, granule: GranuleYear, source: SceneSource) -> None:
    """The one place that says where an item's scenes came from: ``devscore:scene_id`` (the chosen scene),
    ``devscore:source`` (when the source was said), a ``derived_from`` link per scene only where the source
    gives scenes an address (``source.scene_url``), and the lineage from the source and the item's ranker."""
    for link in [link for link in item.links if link.rel == "derived_from"
                 and (link.title or "").startswith("Source scene")]:
        item.links.remove(link)
    if granule.scene_id:
        item.properties["devscore:scene_id"] = granule.scene_id
    if source.name is not None:
        item.properties["devscore:source"] = source.name
    else:
        item.properties.pop("devscore:source", None)
    for scene_id, title in source_scenes(granule) if source.scene_url else []:
        item.add_link(pystac.Link(rel="derived_from", target=source.scene_url.format(scene_id),
                                  media_type=pystac.MediaType.GEOJSON, title=title))
    refresh_lineage(item)


def refresh_lineage(item: pystac.Item) -> None:
    """Word ``processing:lineage`` from what the item records (``devscore:ranker``, ``devscore:source``);
    called again by whoever adds the ranker later (`devscore run`'s provenance)."""
    item.properties["processing:lineage"] = lineage(item.properties.get("devscore:ranker"),
                                                    item.properties.get("devscore:source"))


def _table_fields(asset: pystac.Asset, parquet_path: Path) -> None:
    """Table extension fields of a chips asset: its columns (read from the GeoParquet, which both
    formats share) and its row count."""
    schema = pq.read_schema(parquet_path)
    asset.extra_fields["table:columns"] = [
        {"name": name, "type": str(schema.field(name).type) if name != "geometry" else "geometry",
         "description": CHIP_COLUMNS.get(name, "")} for name in schema.names]
    asset.extra_fields["table:primary_geometry"] = "geometry"
    asset.extra_fields["table:row_count"] = pq.read_metadata(parquet_path).num_rows


def create_item(
    granule: GranuleYear, grid: TileGrid, score_path: Path, thumbnail_path: Path, chips_path: Path,
    chips_flatgeobuf_path: Path | None = None, source: SceneSource = SceneSource(),
    uncertainty_path: Path | None = None,
) -> pystac.Item:
    """The Item ``{tile}-{year}`` with its score COG, thumbnail and chips assets (GeoParquet, and the same
    table as FlatGeobuf when given); the projection fields describe the COG's grid, the one the chips
    were cut from; ``source`` says where the scenes came from (no scene link unless it gives an address)."""
    year = granule.year
    cut = granule.chip_grid
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
                           f"painted on the {cut.pixel_size:g} m grid its chips were cut from.",
            "processing:software": {"devscore": __version__},
            "processing:level": "L3",
            "devscore:coverage": round(granule.coverage, 4),
        },
        collection=COLLECTION_ID,
    )
    item.stac_extensions.append(PROCESSING_SCHEMA)

    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = f"EPSG:{grid.epsg}"
    proj.shape = list(cut.shape)
    proj.transform = list(cut.transform)[:6]
    proj.bbox = list(cut.bounds)
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
        nodata=SCORE_NODATA, data_type=DataType.FLOAT32, spatial_resolution=cut.pixel_size,
        statistics=score_statistics(granule.scores, cut), unit="1",
    )
    RasterExtension.ext(score, add_if_missing=True).bands = [band]
    _file_fields(score, score_path)
    if uncertainty_path is not None and granule.uncertainty is not None:
        spread = pystac.Asset(href=str(uncertainty_path), media_type=COG_MEDIA_TYPE,
                              title="Uncertainty of the score (COG)", description=UNCERTAINTY_BAND_DESCRIPTION,
                              roles=["data"])
        item.add_asset(UNCERTAINTY_ASSET, spread)
        RasterExtension.ext(spread, add_if_missing=True).bands = [RasterBand.create(
            nodata=SCORE_NODATA, data_type=DataType.FLOAT32, spatial_resolution=cut.pixel_size,
            statistics=score_statistics(granule.uncertainty, cut), unit="1")]
        _file_fields(spread, uncertainty_path)

    thumbnail = pystac.Asset(href=str(thumbnail_path), media_type=pystac.MediaType.PNG,
                             title="Thumbnail (RdYlGn_r, 0 to 1)", roles=["thumbnail"])
    item.add_asset(THUMBNAIL_ASSET, thumbnail)
    _file_fields(thumbnail, thumbnail_path)

    chips = pystac.Asset(href=str(chips_path), media_type=PARQUET_MEDIA_TYPE, title="Chip scores (GeoParquet)",
                         description="One WGS84 polygon per chip with its row, col and score.",
                         roles=["data"])
    item.add_asset(CHIPS_ASSET, chips)
    _file_fields(chips, chips_path)
    _table_fields(chips, chips_path)
    if chips_flatgeobuf_path is not None:
        flatgeobuf = pystac.Asset(href=str(chips_flatgeobuf_path), media_type=FLATGEOBUF_MEDIA_TYPE,
                                  title="Chip scores (FlatGeobuf, for QGIS and GDAL without Parquet)",
                                  description="The chips table of the GeoParquet asset: same rows, same columns.",
                                  roles=["data"])
        item.add_asset(CHIPS_FLATGEOBUF_ASSET, flatgeobuf)
        _file_fields(flatgeobuf, chips_flatgeobuf_path)
        _table_fields(flatgeobuf, chips_path)
    item.stac_extensions.append(TABLE_SCHEMA)

    renders = {"default": Render.create(**DEFAULT_RENDER)}
    if UNCERTAINTY_ASSET in item.assets:
        renders[UNCERTAINTY_ASSET] = Render.create(**UNCERTAINTY_RENDER)
    RenderExtension.ext(item, add_if_missing=True).apply(renders)
    record_source(item, granule, source)
    return item
