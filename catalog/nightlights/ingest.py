"""``devscore viirs ingest``: night-light rasters -> one clipped COG and STAC Item per granule-year of
the score collection, linked both ways. Every input is read before anything is written, so a bad
file (no CRS, no overlap, wrong year, truncated) leaves the catalog untouched."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pystac
from tqdm import tqdm

from catalog.nightlights.store import collection_dir, install_items, link_items
from catalog.reader import NotFoundError, StaticCatalog
from catalog.store import StagedItem, staging_area
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.grid import TileGrid
from publisher.nightlights.clip import Clip, clip_sources, write_clip_cog
from publisher.nightlights.products import NightLightsError, open_sources
from publisher.nightlights.stac import create_item

log = logging.getLogger(__name__)


def _check_year(sources, year: int) -> None:
    for source in sources:
        if source.year is not None and source.year != year:
            raise NightLightsError(f"{source.path.name} is night lights of {source.year}, not of --year {year}")


def _tiles(catalog: StaticCatalog, year: int, tiles: Sequence[str] | None) -> dict[str, str | None]:
    """tile -> score item id (None when the catalog has no score item for it) for every granule to do."""
    try:
        scored = {record.item["properties"]["grid:code"].removeprefix("MGRS-"): record.id
                  for record in catalog.items_for_year(SCORE_COLLECTION_ID, year)}
    except NotFoundError:
        scored = {}
    if tiles:
        return {TileGrid.from_tile_id(t).tile: scored.get(TileGrid.from_tile_id(t).tile) for t in tiles}
    if not scored:
        raise NightLightsError(f"the catalog has no score items of {year}; name granules with --tiles")
    return scored


def ingest(rasters: Sequence[str | Path], year: int, catalog_dir: str | Path, tiles: Sequence[str] | None = None,
           layer: str | None = None) -> list[pystac.Item]:
    """Clip ``rasters`` (EOG VNL .tif/.tif.gz or VNP46A4 .h5 tiles of ``year``) to every score granule
    of ``year`` (or to ``tiles``), publish the clips in the ``viirs-nightlights`` collection and link
    each to its score item. Returns the new items. Granules the rasters do not cover are skipped
    (an error when none is covered, or when one named in ``tiles`` is not)."""
    catalog_dir = Path(catalog_dir).resolve()
    catalog = StaticCatalog(catalog_dir)
    sources = open_sources(rasters, layer)
    _check_year(sources, year)
    todo = _tiles(catalog, year, tiles)
    clips: dict[str, Clip] = {}
    for tile in tqdm(sorted(todo), desc="night lights", unit="granule", disable=len(todo) < 2):
        bbox = TileGrid.from_tile_id(tile).bbox
        if bbox[0] > bbox[2]:  # west > east: the granule crosses the antimeridian
            if tiles:
                raise NightLightsError(f"granule {tile} crosses the antimeridian: not supported for night lights")
            log.warning("granule %s crosses the antimeridian, skipped", tile)
            continue
        clip = clip_sources(sources, bbox)
        if clip is None or clip.valid_fraction == 0:
            if tiles:
                raise NightLightsError(f"the night-light rasters do not cover granule {tile}")
            log.warning("granule %s: not covered by the night-light rasters, skipped", tile)
            continue
        clips[tile] = clip
    if not clips:
        names = ", ".join(Path(r).name for r in rasters)
        raise NightLightsError(f"{names} overlap none of the granules {', '.join(sorted(todo))}")
    names = [s.path.name for s in sources]
    with staging_area(catalog_dir) as staging:
        staged = []
        for tile, clip in clips.items():
            folder = staging / tile
            folder.mkdir()
            description = f"{sources[0].product} {sources[0].layer}, nW/cm2/sr"
            cog = write_clip_cog(clip, folder / "nightlights.tif", description)
            item = create_item(tile, year, clip, cog, sources[0].product, sources[0].layer, names)
            staged.append(StagedItem(item=item, folder=folder))
        install_items(catalog_dir, staged)
    for tile, score_id in todo.items():
        if tile in clips and score_id is not None:
            link_items(catalog_dir, catalog.root / catalog.item(SCORE_COLLECTION_ID, score_id).href,
                       collection_dir(catalog_dir) / f"{tile}-{year}" / f"{tile}-{year}.json")
    log.info("night lights of %d: %d granules ingested from %s", year, len(clips), ", ".join(names))
    return [entry.item for entry in staged]
