"""Synthetic counties for the demo: the Voronoi cells of the synthetic world's cities and market towns,
clipped to the granules' footprints, so every county holds one settlement and its countryside."""

from __future__ import annotations

from typing import Sequence

import geopandas as gpd
import shapely
from shapely.geometry import shape

from publisher.grid import TileGrid
from publisher.imagery.truth import CITIES, TOWNS

#: The id field of the synthetic counties.
COUNTY_FIELD = "county"


def synthetic_counties(tiles: Sequence[str]) -> gpd.GeoDataFrame:
    """One polygon per city (``city-1`` ...) and market town (``town-01`` ...) inside the union of the
    ``tiles``' footprints, in WGS84."""
    extent = shapely.union_all([shape(TileGrid.from_tile_id(t).footprint) for t in tiles])
    names = [f"city-{i + 1}" for i in range(len(CITIES))] + [f"town-{i + 1:02d}" for i in range(len(TOWNS))]
    seeds = [shapely.Point(s[0], s[1]) for s in (*CITIES, *TOWNS)]
    inside = [(name, seed) for name, seed in zip(names, seeds) if extent.contains(seed)]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint([s for _, s in inside]), extend_to=extent))
    rows = []
    for name, seed in inside:
        cell = next(c for c in cells if c.contains(seed))
        rows.append((name, shapely.intersection(cell, extent)))
    return gpd.GeoDataFrame({COUNTY_FIELD: [n for n, _ in rows]}, geometry=[g for _, g in rows], crs="EPSG:4326")


def write_counties(tiles: Sequence[str], path) -> None:
    """Write :func:`synthetic_counties` as a GeoPackage (temporary name, then rename)."""
    import warnings

    from publisher.atomic import atomic_path

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The filename extension should be")  # the temporary name
        synthetic_counties(tiles).to_file(tmp, driver="GPKG", layer="counties", engine="pyogrio")
