"""The ``devscore-change`` collection of a catalog: one change item per granule and pair of published years
(consecutive years, and first to last), made from the published score COGs (`devscore change`, and
`devscore run` after publishing)."""

from __future__ import annotations

import logging
from pathlib import Path

import pystac

from catalog.reader import StaticCatalog
from catalog.store import PublishResult, StagedItem, catalog_lock, publish, staging_area
from publisher.change import create_change_collection, create_change_item, write_change_cog, year_pairs
from publisher.constants import CHANGE_COLLECTION_ID, COLLECTION_ID, SCORE_ASSET, UNCERTAINTY_ASSET

log = logging.getLogger(__name__)


def publish_changes(catalog_dir: str | Path) -> PublishResult | None:
    """Write and publish the change items of every granule with two or more years of scores (None when
    there is none)."""
    catalog_dir = Path(catalog_dir).resolve()
    catalog = StaticCatalog(catalog_dir)
    by_tile: dict[str, dict[int, object]] = {}
    for record in catalog.items(COLLECTION_ID):
        tile = record.item["properties"].get("devscore:tile") or record.id.rsplit("-", 1)[0]
        by_tile.setdefault(tile, {})[record.years[0]] = record
    jobs = [(tile, years[a], years[b]) for tile, years in sorted(by_tile.items()) for a, b in year_pairs(list(years))]
    if not jobs:
        return None
    with catalog_lock(catalog_dir), staging_area(catalog_dir) as staging:
        staged = []
        for tile, earlier, later in jobs:
            folder = staging / f"{tile}-{earlier.years[0]}-{later.years[0]}"
            folder.mkdir()
            spreads = None
            if UNCERTAINTY_ASSET in earlier.assets and UNCERTAINTY_ASSET in later.assets:
                spreads = (earlier.assets[UNCERTAINTY_ASSET], later.assets[UNCERTAINTY_ASSET])
            cog, stats = write_change_cog(earlier.assets[SCORE_ASSET], later.assets[SCORE_ASSET],
                                          folder / "change.tif", spreads)
            item = create_change_item(tile, earlier.item, later.item, cog, stats, spread=spreads is not None)
            for record in (earlier, later):
                item.add_link(pystac.Link("derived_from", f"../../{record.href}", media_type=pystac.MediaType.GEOJSON,
                                          title=f"Scores {record.id}"))
            staged.append(StagedItem(item, folder))
        return publish(catalog_dir, staged, collection_id=CHANGE_COLLECTION_ID, factory=create_change_collection)

