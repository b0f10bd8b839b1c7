"""What a score publish keeps of the night lights: a re-published score item stays linked to the
night-light item of its granule-year, and where that granule-year had been compared its
``devscore:viirs`` figures are recomputed from the new scores (they are in the item when its one
rename installs it), never carried over stale; the report's row and figures follow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pystac

from catalog.journal import pending
from catalog.nightlights.store import (VIIRS_PROPERTY, collection_dir, has_link, item_file, nightlights_link,
                                       score_link, set_links, update_nightlights_item)
from catalog.reader import NotFoundError, StaticCatalog
from catalog.store import PublishResult, StagedItem, publish, remove_temporaries
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.constants import SCORE_ASSET
from publisher.nightlights.stac import ASSET, COLLECTION_ID

if TYPE_CHECKING:
    from catalog.nightlights.compare import Comparison


def _score_file(catalog_dir: Path, item_id: str) -> Path:
    return catalog_dir / SCORE_COLLECTION_ID / item_id / f"{item_id}.json"


def carry_comparisons(catalog_dir: str | Path, items: Sequence[pystac.Item]) -> tuple[list[Comparison], list[str]]:
    """Before staged score ``items`` replace published ones: link each to the night-light item of its
    granule-year and, where that granule-year had been compared (``devscore:viirs`` or a report row),
    recompute ``devscore:viirs`` from the new scores. Returns the comparisons (for
    ``compare.refresh_report``) and the ids whose figures were dropped. Call it holding ``catalog_lock``."""
    from catalog.nightlights.compare import compared, recompare

    catalog_dir = Path(catalog_dir).resolve()
    try:
        index = StaticCatalog(catalog_dir)
    except NotFoundError:  # a new catalog: nothing to carry
        return [], []
    if COLLECTION_ID not in index.collection_ids():
        return [], []
    done = compared(catalog_dir)
    comparisons, dropped = [], []
    for item in items:
        item.properties.pop(VIIRS_PROPERTY, None)
        try:
            lights = index.item(COLLECTION_ID, item.id)
        except NotFoundError:
            continue
        score_file = _score_file(catalog_dir, item.id)
        set_links(item, [score_link(score_file, index.root / lights.href)])
        try:
            previous = index.item(SCORE_COLLECTION_ID, item.id).item["properties"]
        except NotFoundError:
            previous = {}
        if VIIRS_PROPERTY not in previous and item.id not in done:
            continue
        comparison = recompare(item.id, Path(item.assets[SCORE_ASSET].get_absolute_href() or ""), lights.id,
                               lights.item["properties"]["devscore:tile"], lights.years[0], lights.assets[ASSET])
        if comparison is None:
            dropped.append(item.id)
        else:
            item.properties[VIIRS_PROPERTY] = comparison.viirs()
            comparisons.append(comparison)
    return comparisons, dropped


def link_back(catalog_dir: str | Path, items: Sequence[pystac.Item]) -> None:
    """After score ``items`` were installed: give each night-light item of their granule-years the link
    back to its score item where it lacks it (night lights ingested before the scores). Holding the lock."""
    catalog_dir = Path(catalog_dir).resolve()
    for item in items:
        lights_file = item_file(catalog_dir, item.id)
        score_file = _score_file(catalog_dir, item.id)
        if lights_file.is_file() and not has_link(lights_file, nightlights_link(lights_file, score_file)):
            update_nightlights_item(lights_file, score_file)


def publish_scores(catalog_dir: str | Path, staged: Sequence[StagedItem]) -> PublishResult:
    """``catalog.store.publish`` of score items that keeps their night lights: links and current
    ``devscore:viirs`` in each item as installed, then the back links and the report. Holding the lock."""
    if not (collection_dir(catalog_dir) / "collection.json").is_file():
        return publish(catalog_dir, staged)  # no night lights (and no import of scipy, exactextract, matplotlib)
    from catalog.nightlights.compare import refresh_report

    items = [entry.item for entry in staged]
    with pending(catalog_dir, "publish", "devscore publish (the same scores)"):
        # of an earlier publish killed while it rewrote the night-light collection or an item's back link
        for folder in [collection_dir(catalog_dir), *(item_file(catalog_dir, item.id).parent for item in items)]:
            remove_temporaries(folder)
        comparisons, dropped = carry_comparisons(catalog_dir, items)
        result = publish(catalog_dir, staged)
        link_back(catalog_dir, items)
        refresh_report(catalog_dir, comparisons, dropped)
    return result
