"""The chip layers of a catalog's score items, per year, read from their chips GeoParquet assets."""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd

from catalog.reader import ItemRecord, StaticCatalog
from publisher.constants import CHIPS_ASSET, COLLECTION_ID
from publisher.errors import DevscoreError
from publisher.zonal.layers import ChipLayer, chip_layer


class NoScoresError(DevscoreError):
    """A catalog, or a year, with no published scores."""


@functools.lru_cache(maxsize=512)
def _layer(chips_path: str, mtime_ns: int, crs: str, item_id: str, year: int) -> ChipLayer:
    """One granule-year's chip layer; ``mtime_ns`` keys the cache so a re-publish is read again."""
    return chip_layer(gpd.read_parquet(chips_path), crs, item_id, year)


def item_layer(record: ItemRecord) -> ChipLayer:
    """The chip layer of one score item (its ``chips`` asset on the grid of its ``proj:code``)."""
    props = record.item["properties"]
    crs = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
    path = record.assets.get(CHIPS_ASSET)
    if crs is None or path is None or not Path(path).is_file():
        raise NoScoresError(f"score item {record.id} has no chips asset or no proj:code")
    return _layer(str(path), Path(path).stat().st_mtime_ns, crs, record.id, record.years[0])


def score_layers(catalog: StaticCatalog, years: list[int] | None = None) -> dict[int, list[ChipLayer]]:
    """Chip layers of the score items by year (all published years, or ``years``: each must have scores)."""
    try:
        published = catalog.years(COLLECTION_ID)
    except DevscoreError:
        published = []
    if not published:
        raise NoScoresError(f"catalog {catalog.root} has no published scores")
    wanted = sorted(set(years)) if years else published
    missing = [y for y in wanted if y not in published]
    if missing:
        raise NoScoresError(f"no scores published for {', '.join(map(str, missing))} in {catalog.root} "
                            f"(published: {', '.join(map(str, published))})")
    return {year: [item_layer(r) for r in catalog.items_for_year(COLLECTION_ID, year)] for year in wanted}
