"""`devscore zonal`'s job: zones file + catalog -> zonal table -> an Item of ``devscore-zonal``.

Everything is computed and checked before the catalog is touched; the files are written in a staging
folder and installed by ``catalog.store.publish`` (content names, one rename of the item JSON), so a
failure at any step leaves the catalog as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from catalog.reader import StaticCatalog
from catalog.store import StagedItem, catalog_lock, publish, staging_area
from catalog.zonal.layers import score_layers
from catalog.zonal.stac import (CSV_ASSET, FILES, GEOPACKAGE_ASSET, TABLE_ASSET, ZONAL_COLLECTION_ID,
                                create_zonal_collection, create_zonal_item, item_id_for)
from catalog.zonal.table import zonal_table
from publisher.errors import DevscoreError
from publisher.zonal.zones import read_zones


class NoOverlapError(DevscoreError):
    """Zones that touch no scored chip of the catalog."""


@dataclass(frozen=True)
class ZonalResult:
    """What `devscore zonal` published: the item, its table and the notes to tell the user."""

    item_id: str
    item_path: Path
    table: gpd.GeoDataFrame
    id_field: str
    notes: list[str]


def write_outputs(table: gpd.GeoDataFrame, folder: Path) -> dict[str, Path]:
    """GeoParquet, GeoPackage and CSV (no geometry) of ``table`` in ``folder``, by asset key."""
    paths = {key: folder / name for key, name in FILES.items()}
    table.to_parquet(paths[TABLE_ASSET], index=False, compression="zstd")
    table.to_file(paths[GEOPACKAGE_ASSET], driver="GPKG", layer="zonal", engine="pyogrio")
    table.drop(columns="geometry").to_csv(paths[CSV_ASSET], index=False)
    return paths


def publish_zonal(catalog_dir: str | Path, zones_path: str | Path, id_field: str,
                  years: list[int] | None = None, name: str | None = None) -> ZonalResult:
    """Compute the figures of the zones of ``zones_path`` over the catalog's scores and publish them."""
    catalog_dir, zones_path = Path(catalog_dir).resolve(), Path(zones_path)
    zones = read_zones(zones_path, id_field)
    layers = score_layers(StaticCatalog(catalog_dir), years)
    table = zonal_table(zones, layers)
    covered = table.groupby(id_field)["chips"].max()
    if not (covered > 0).any():
        raise NoOverlapError(f"none of the {len(covered)} zone(s) of {zones_path} overlaps a scored chip in "
                             f"{', '.join(map(str, sorted(layers)))}; nothing published")
    notes = []
    if zones.repaired:
        notes.append(f"repaired {len(zones.repaired)} invalid zone polygon(s) (make_valid): "
                     f"{', '.join(zones.repaired[:5])}{' ...' if len(zones.repaired) > 5 else ''}")
    outside = [str(z) for z in covered.index[covered == 0]]
    if outside:
        notes.append(f"{len(outside)} zone(s) overlap no scored chip (rows with chips 0): "
                     f"{', '.join(outside[:5])}{' ...' if len(outside) > 5 else ''}")
    item_id = item_id_for(name or zones_path.stem)
    score_items = sorted({layer.item_id for year_layers in layers.values() for layer in year_layers})
    with catalog_lock(catalog_dir), staging_area(catalog_dir) as staging:
        folder = staging / item_id
        folder.mkdir()
        files = write_outputs(table, folder)
        item = create_zonal_item(item_id, table, id_field, zones_path.name, files, score_items)
        publish(catalog_dir, [StagedItem(item, folder)], collection_id=ZONAL_COLLECTION_ID,
                factory=create_zonal_collection)
    return ZonalResult(item_id=item_id, item_path=catalog_dir / ZONAL_COLLECTION_ID / item_id / f"{item_id}.json",
                       table=table, id_field=id_field, notes=notes)
