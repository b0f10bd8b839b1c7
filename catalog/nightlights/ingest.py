"""``devscore viirs ingest``: night-light rasters -> one clipped COG and STAC Item per granule-year of
the score collection, linked both ways. Every input is read before anything is written, so a bad
file (no CRS, no overlap, wrong year, truncated) leaves the catalog untouched; the items are installed
like score items (``catalog.store``: content-named COGs, one rename per item), so an interrupted ingest
leaves each wholly old or wholly new."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pystac
from publisher.progress import tqdm

from catalog.journal import pending
from catalog.nightlights.compare import compared, recompare, refresh_report
from catalog.nightlights.store import VIIRS_PROPERTY, install_items, item_file, nightlights_link, set_links, update_score_item
from catalog.reader import NotFoundError, StaticCatalog
from catalog.store import StagedItem, catalog_lock, check_unlocked, remove_temporaries, staging_area
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.constants import SCORE_ASSET
from publisher.grid import TileGrid
from publisher.nightlights.clip import Clip, clip_sources, write_clip_cog
from publisher.nightlights.products import NightLightSource, NightLightsError, open_sources
from publisher.nightlights.stac import ASSET, create_item

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
    check_unlocked(catalog_dir)  # a second writer is told before the clipping, not after it
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
    with catalog_lock(catalog_dir), staging_area(catalog_dir) as staging:
        staged = [_stage(tile, year, clip, sources, names, staging / tile) for tile, clip in clips.items()]
        with pending(catalog_dir, "viirs-ingest", f"devscore viirs ingest (year {year})"):
            _install(catalog_dir, staged, {tile: score_id for tile, score_id in todo.items() if tile in clips})
    log.info("night lights of %d: %d granules ingested from %s", year, len(clips), ", ".join(names))
    return [entry.item for entry in staged]


def _stage(tile: str, year: int, clip: Clip, sources: Sequence[NightLightSource], names: list[str],
           folder: Path) -> StagedItem:
    """The clip of ``tile`` as a COG and an Item in ``folder`` (of the staging area)."""
    folder.mkdir()
    description = f"{sources[0].product} {sources[0].layer}, nW/cm2/sr"
    cog = write_clip_cog(clip, folder / "nightlights.tif", description)
    return StagedItem(item=create_item(tile, year, clip, cog, sources[0].product, sources[0].layer, names), folder=folder)


def _install(catalog_dir: Path, staged: list[StagedItem], score_ids: dict[str, str | None]) -> None:
    """Install the staged night-light items, each with its link back to its score item in the one rename
    that switches it; then link the score items to them. Where a granule-year had been compared, its
    score item's ``devscore:viirs`` is removed before the switch and recomputed after it (never figures of
    the old night lights beside the new ones), and the report follows. Holding the lock."""
    index = StaticCatalog(catalog_dir)  # read again under the lock
    done = compared(catalog_dir)
    pairs = []
    for entry in staged:
        tile = entry.item.properties["devscore:tile"]
        if score_ids.get(tile) is None:
            continue
        score = index.item(SCORE_COLLECTION_ID, score_ids[tile])
        score_file, lights_file = index.root / score.href, item_file(catalog_dir, entry.item.id)
        remove_temporaries(score_file.parent)  # of an earlier ingest killed while it rewrote this item
        set_links(entry.item, [nightlights_link(lights_file, score_file)])
        was_compared = VIIRS_PROPERTY in score.item["properties"] or score.id in done
        pairs.append((entry, score, score_file, lights_file, was_compared))
    for entry, score, score_file, lights_file, was_compared in pairs:
        if was_compared:  # the old figures go before the night lights they were computed from
            update_score_item(score_file, lights_file if lights_file.is_file() else None, None)
    install_items(catalog_dir, staged)
    comparisons, dropped = [], []
    for entry, score, score_file, lights_file, was_compared in pairs:
        comparison = None
        if was_compared:
            props = entry.item.properties
            comparison = recompare(score.id, score.assets[SCORE_ASSET], entry.item.id, props["devscore:tile"],
                                   int(props["start_datetime"][:4]), Path(entry.item.assets[ASSET].get_absolute_href() or ""))
            if comparison is None:
                dropped.append(score.id)
            else:
                comparisons.append(comparison)
        update_score_item(score_file, lights_file, None if comparison is None else comparison.viirs())
    refresh_report(catalog_dir, comparisons, dropped)
