"""``POST /zonal``: the figures of one GeoJSON polygon per year of published scores, computed on the fly;
``GET /zonal/at?lon=&lat=``: the published zone (``devscore-zonal`` items) under a point, with its figures.

The body is a GeoJSON Feature or geometry (Polygon or MultiPolygon, WGS84 longitude/latitude). Bodies,
vertices and areas past the limits below answer 400 before any work; an invalid polygon is repaired
(``make_valid``) and the answer says so. The chip layers are read once per published chips file and kept
(``catalog.zonal.layers``), so a warm request costs the exactextract runs only.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd

import numpy as np
import shapely
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from shapely.geometry import shape

from catalog.zonal.layers import score_layers
from catalog.zonal.stac import TABLE_ASSET, ZONAL_COLLECTION_ID
from catalog.zonal.table import COLUMNS
from publisher.errors import DevscoreError
from publisher.zonal.figures import WGS84, polygonal, project, utm_crs, zone_figures
from tiler_app.dependencies import get_catalog

#: Largest body (bytes), vertex count and area (km2, a large county or a small province) of a zone.
MAX_ZONAL_BODY_BYTES = 2_000_000
MAX_ZONAL_VERTICES = 20_000
MAX_ZONAL_AREA_KM2 = 20_000.0


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def parse_zone(body: Any) -> tuple[shapely.Geometry, bool]:
    """(WGS84 polygon, repaired) of a GeoJSON Feature or geometry body, or a one-line DevscoreError."""
    if not isinstance(body, dict):
        raise DevscoreError("the body must be a GeoJSON Feature or Polygon/MultiPolygon geometry object")
    geometry = body.get("geometry") if body.get("type") == "Feature" else body
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise DevscoreError("the zone must be a GeoJSON Polygon or MultiPolygon (or a Feature holding one)")
    try:
        zone = shape(geometry)
    except Exception:
        raise DevscoreError("the zone's coordinates are not a valid GeoJSON polygon") from None
    vertices = int(shapely.get_num_coordinates(zone))
    if vertices > MAX_ZONAL_VERTICES:
        raise DevscoreError(f"the zone has {vertices} vertices, more than the limit of {MAX_ZONAL_VERTICES} "
                            "(MAX_ZONAL_VERTICES): simplify it")
    coords = shapely.get_coordinates(zone)
    if zone.is_empty or not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() \
            or (np.abs(coords[:, 1]) > 90).any():
        raise DevscoreError("the zone needs longitude/latitude coordinates within -180..180 and -90..90")
    repaired = not zone.is_valid
    if repaired:
        zone = polygonal(shapely.make_valid(zone))
    area_km2 = project(zone, WGS84, utm_crs(zone)).area / 1e6
    if not area_km2 > 0:
        raise DevscoreError("the zone has no area" + (" after repairing it" if repaired else ""))
    if area_km2 > MAX_ZONAL_AREA_KM2:
        raise DevscoreError(f"the zone covers {area_km2:.0f} km2, more than the limit of {MAX_ZONAL_AREA_KM2:.0f} "
                            "(MAX_ZONAL_AREA_KM2)")
    return zone, repaired


async def zone_body(request: Request) -> Any:
    """The request's JSON body, refused past MAX_ZONAL_BODY_BYTES or when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ZONAL_BODY_BYTES:
        raise DevscoreError(f"the body is larger than the limit of {MAX_ZONAL_BODY_BYTES} bytes (MAX_ZONAL_BODY_BYTES)")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_ZONAL_BODY_BYTES:
            raise DevscoreError(f"the body is larger than the limit of {MAX_ZONAL_BODY_BYTES} bytes (MAX_ZONAL_BODY_BYTES)")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise DevscoreError("the body is not valid JSON") from None


def zonal_answer(catalog, body: Any) -> dict[str, Any]:
    """Figures of the body's zone for every year with published scores."""
    zone, repaired = parse_zone(body)
    layers = score_layers(catalog)
    years, previous = [], float("nan")
    for year in sorted(layers):
        figures = zone_figures(zone, layers[year])
        years.append({"year": year, "mean_score": _number(figures.mean_score),
                      "change": _number(figures.mean_score - previous),
                      "covered_share": _number(figures.covered_share), "chips": figures.chips,
                      "mean_uncertainty": _number(figures.mean_uncertainty)})
        previous = figures.mean_score
    return {"area_km2": _number(project(zone, WGS84, utm_crs(zone)).area / 1e6), "repaired": repaired,
            "years": years}


@functools.lru_cache(maxsize=32)
def _zonal_table(path: str, mtime_ns: int) -> gpd.GeoDataFrame:
    """A published zonal table; ``mtime_ns`` keys the cache so a re-publish is read again."""
    return gpd.read_parquet(path)


def zone_at(catalog, lon: float, lat: float) -> dict[str, Any]:
    """The first published zone (items by id) that holds the point, with its figures per year; ``zone`` None
    where none does (a map page asks on every click: no zone there is an answer, not an error)."""
    point = shapely.Point(lon, lat)
    records = catalog.items(ZONAL_COLLECTION_ID) if ZONAL_COLLECTION_ID in catalog.collection_ids() else []
    for record in records:
        path = record.assets.get(TABLE_ASSET)
        id_field = record.item["properties"].get("devscore:id_field")
        if path is None or id_field is None:
            continue
        table = _zonal_table(str(path), Path(path).stat().st_mtime_ns)
        rows = table[table.geometry.contains(point)].sort_values("year")
        if rows.empty:
            continue
        zone = rows[id_field].iloc[0]
        rows = rows[rows[id_field] == zone]
        return {"item": record.id, "id_field": id_field, "zone": str(zone),
                "years": [{name: (int(row[name]) if name in ("year", "chips") else _number(row[name]))
                           for name in COLUMNS} for _, row in rows.iterrows()]}
    return {"item": None, "id_field": None, "zone": None, "years": []}


def mount_zonal(app: FastAPI) -> None:
    """Add ``POST /zonal`` to the app."""
    router = APIRouter(tags=["Zonal statistics"])

    @router.post("/zonal", summary="Figures of a GeoJSON polygon per year: mean score, covered share, chips, change")
    def zonal(body: Any = Depends(zone_body), catalog=Depends(get_catalog)) -> dict[str, Any]:
        return zonal_answer(catalog, body)

    @router.get("/zonal/at", summary="The published zone under a point (devscore-zonal items) and its figures")
    def zonal_at(lon: Annotated[float, Query(ge=-180, le=180)], lat: Annotated[float, Query(ge=-90, le=90)],
                 catalog=Depends(get_catalog)) -> dict[str, Any]:
        return zone_at(catalog, lon, lat)

    app.include_router(router)
