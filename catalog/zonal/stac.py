"""The ``devscore-zonal`` collection: one Item per zones file, its table as GeoParquet, GeoPackage and CSV
(STAC table extension: columns, row count, primary geometry)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import pystac
import shapely
from pystac.extensions.table import Column, TableExtension
from shapely.geometry import mapping

from catalog.zonal.table import COLUMNS
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.constants import LICENSE
from publisher.stac import PARQUET_MEDIA_TYPE, _file_fields

ZONAL_COLLECTION_ID = "devscore-zonal"
#: Asset keys and file names of a zonal item.
TABLE_ASSET, GEOPACKAGE_ASSET, CSV_ASSET = "table", "geopackage", "csv"
FILES = {TABLE_ASSET: "zonal.parquet", GEOPACKAGE_ASSET: "zonal.gpkg", CSV_ASSET: "zonal.csv"}
MEDIA_TYPES = {TABLE_ASSET: PARQUET_MEDIA_TYPE, GEOPACKAGE_ASSET: "application/geopackage+sqlite3",
               CSV_ASSET: "text/csv"}
TITLES = {TABLE_ASSET: "Zonal figures (GeoParquet)", GEOPACKAGE_ASSET: "Zonal figures (GeoPackage)",
          CSV_ASSET: "Zonal figures (CSV, no geometry)"}


def item_id_for(name: str) -> str:
    """``zonal-<name>`` with anything but letters, digits, ``-`` and ``_`` replaced (a safe folder name)."""
    return "zonal-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "zones")


def create_zonal_collection(items: list[pystac.Item] | None = None) -> pystac.Collection:
    """The ``devscore-zonal`` collection, its extent from ``items``."""
    items = items or []
    extent = pystac.Extent.from_items(items) if items else pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]), pystac.TemporalExtent([[None, None]]))
    collection = pystac.Collection(
        id=ZONAL_COLLECTION_ID, title="devscore figures per place",
        description="Development scores aggregated to user polygons (counties, districts, villages): per zone "
                    "and year the area-weighted mean chip score, the covered share of the zone, the number "
                    "of chips, the mean uncertainty and the change from the previous year.",
        extent=extent, license=LICENSE, keywords=["zonal statistics", "economic development", "table"],
    )
    TableExtension.ext(collection, add_if_missing=True)
    return collection


def create_zonal_item(item_id: str, table: gpd.GeoDataFrame, id_field: str, zones_name: str,
                      files: dict[str, Path], score_items: list[str]) -> pystac.Item:
    """The Item of one zones file's table; ``files`` are the written outputs by asset key."""
    years = sorted(int(y) for y in table["year"].unique())
    hull = shapely.union_all(table.geometry.to_numpy()).convex_hull
    item = pystac.Item(
        id=item_id, geometry=mapping(hull), bbox=list(hull.bounds), datetime=None,
        start_datetime=dt.datetime(years[0], 1, 1, tzinfo=dt.timezone.utc),
        end_datetime=dt.datetime(years[-1], 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc),
        properties={"title": f"Development scores per zone of {zones_name}",
                    "description": f"Figures per {id_field!r} of {zones_name} and year "
                                   f"({', '.join(map(str, years))}) from the devscore-scores chips.",
                    "devscore:zones": zones_name, "devscore:id_field": id_field,
                    "devscore:zones_count": int(table[id_field].nunique())},
        collection=ZONAL_COLLECTION_ID,
    )
    table_ext = TableExtension.ext(item, add_if_missing=True)
    columns = {id_field: (str(table[id_field].dtype), "zone id from the zones file"), **COLUMNS,
               "geometry": ("geometry", "zone polygon (WGS84)")}
    table_ext.columns = [Column({"name": name, "type": dtype, "description": description})
                         for name, (dtype, description) in columns.items()]
    table_ext.row_count = int(len(table))
    table_ext.primary_geometry = "geometry"
    for key, path in files.items():
        asset = pystac.Asset(href=str(path), media_type=MEDIA_TYPES[key], title=TITLES[key], roles=["data"])
        item.add_asset(key, asset)
        _file_fields(asset, path)
    for score_id in sorted(score_items):
        item.add_link(pystac.Link(rel="derived_from", target=f"../../{SCORE_COLLECTION_ID}/{score_id}/{score_id}.json",
                                  media_type=pystac.MediaType.JSON, title=f"Scores {score_id}"))
    return item
