"""Read and check a zones file: polygons with a unique id, in any CRS that transforms to WGS84.

Every problem a user can cause is one ``ZonesError`` line naming the zone or field at fault; invalid
polygons (self-intersections, bow-ties) are repaired with ``make_valid`` and reported, and refused when
no area is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from publisher.errors import DevscoreError
from publisher.zonal.figures import polygonal

#: Suffixes read with geopandas' Parquet reader; anything else goes through pyogrio (GDAL's drivers).
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
#: Column names of the output table that a zone id field may not take.
RESERVED = ("year", "mean_score", "change", "covered_share", "chips", "mean_uncertainty", "area_km2", "geometry")


class ZonesError(DevscoreError):
    """A zones file devscore cannot take as it is."""


@dataclass(frozen=True)
class Zones:
    """The zones: ``frame`` has the id column and WGS84 polygons; ``repaired`` the ids made valid."""

    frame: gpd.GeoDataFrame
    id_field: str
    repaired: list[str]


def _read(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        raise ZonesError(f"zones file {path} does not exist")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return gpd.read_parquet(path)
        return gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # GDAL, pyarrow and geopandas raise many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ZonesError(f"cannot read zones file {path}: {reason}") from None


def _names(ids: pd.Series) -> str:
    shown = [str(v) for v in ids[:5]]
    return ", ".join(shown) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def read_zones(path: str | Path, id_field: str) -> Zones:
    """The zones of ``path`` keyed by ``id_field``, repaired where invalid, in WGS84 (``ZonesError`` else)."""
    path = Path(path)
    frame = _read(path)
    if id_field not in frame.columns or id_field == frame.geometry.name:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name) or "none"
        raise ZonesError(f"zones file {path} has no field {id_field!r} (fields: {fields})")
    if id_field in RESERVED:
        raise ZonesError(f"id field {id_field!r} is also an output column; rename it in {path}")
    if frame.empty:
        raise ZonesError(f"zones file {path} has no zones")
    ids = frame[id_field]
    if ids.isna().any():
        raise ZonesError(f"{int(ids.isna().sum())} zone(s) of {path} have no {id_field!r}")
    counts = ids.astype(str).value_counts()
    if (counts > 1).any():
        dup = counts[counts > 1]
        named = _names(pd.Series([f"{k} ({v} times)" for k, v in dup.items()]))
        raise ZonesError(f"duplicate {id_field!r} in {path}: {named}")
    if frame.crs is None:
        raise ZonesError(f"zones file {path} has no CRS; give it one (e.g. ogr2ogr -a_srs EPSG:4326)")
    geoms = frame.geometry.to_numpy()
    empty = shapely.is_empty(geoms) | pd.isna(geoms)
    if empty.any():
        raise ZonesError(f"zone(s) with no geometry in {path}: {_names(ids[empty])}")
    kinds = shapely.get_type_id(geoms)
    lines = ~np.isin(kinds, (3, 6, 7))  # Polygon, MultiPolygon, GeometryCollection
    if lines.any():
        raise ZonesError(f"zone(s) of {path} that are not polygons: {_names(ids[lines])}")
    invalid = ~shapely.is_valid(geoms)
    repaired = [str(v) for v in ids[invalid]]
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = [polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
    areas = shapely.area(geoms)
    if (areas <= 0).any():
        raise ZonesError(f"zone(s) of {path} with no area, even after repair: {_names(ids[areas <= 0])}")
    frame = gpd.GeoDataFrame({id_field: ids.to_numpy()}, geometry=gpd.GeoSeries(geoms, crs=frame.crs))
    try:
        wgs84 = frame.to_crs("EPSG:4326")
    except Exception as exc:
        raise ZonesError(f"zones of {path} are in a CRS with no transform to WGS84 ({frame.crs.name}): "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    coords = shapely.get_coordinates(wgs84.geometry.to_numpy())
    if not np.isfinite(coords).all() or coords.size == 0:
        raise ZonesError(f"zones of {path} are in a CRS with no transform to WGS84 ({frame.crs.name})")
    fixed = ~shapely.is_valid(wgs84.geometry.to_numpy())
    if fixed.any():
        wgs84.loc[fixed, "geometry"] = [polygonal(shapely.make_valid(g)) for g in wgs84.geometry[fixed]]
    return Zones(frame=wgs84, id_field=id_field, repaired=repaired)
