"""Night lights in the server: tile layers per item and per year (log-scale default from the render
extension), the correlation endpoint computed on the fly, and the compare page.

Routes (ids are looked up in the catalog; no request names a file):
- ``/nightlights/items/{item_id}/...``: one night-light item (TiTiler TilerFactory).
- ``/nightlights/years/{year}/...``: the mosaic of a year's night-light items.
- ``/nightlights/correlation?item=48RVU-2023`` or ``?bbox=w,s,e,n&year=2023``: Pearson (radiance and
  log1p), Spearman and n over the chips of a granule-year, or of every granule of the year whose
  chip centres fall in the bbox.
- ``/nightlights/layers?year=`` or ``?item=``: the two tile URLs, bounds and correlation URL a page needs.
- ``/nightlights/compare?year=`` or ``?item=``: two synchronised MapLibre maps, scores and night lights.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from titiler.core.dependencies import ColorMapParams, ImageRenderingParams
from titiler.core.factory import TilerFactory
from titiler.extensions.wmts import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaic_wmtsExtension
from titiler.mosaic.factory import MosaicTilerFactory

from catalog.reader import ItemRecord, NotFoundError, StaticCatalog
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.constants import SCORE_ASSET
from publisher.errors import DevscoreError
from publisher.cog import read_chip_grid
from publisher.nightlights.aggregate import chip_polygons, chip_radiance, chip_scores
from publisher.nightlights.correlate import correlate
from publisher.nightlights.stac import ASSET, COLLECTION_ID
from tiler_app.dependencies import COORDINATE_CHECKS, get_catalog, item_checks, valid_bbox
from tiler_app.item_mosaic import ItemMosaic
from tiler_app.limits import SUPPORTED_TMS
from tiler_app.render import render_tile
from tiler_app.security import GDAL_LOCKDOWN
from tiler_app.page import STATIC

PREFIX = "/nightlights"
ITEM_PREFIX = f"{PREFIX}/items/{{item_id}}"
YEAR_PREFIX = f"{PREFIX}/years/{{year}}"
MINZOOM, MAXZOOM, QUADKEY_ZOOM = 2, 12, 7

ItemId = Annotated[str, PathParam(description="Night-light item id, e.g. 48RVU-2023", max_length=200)]
Year = Annotated[int, PathParam(description="Calendar year of the layer", ge=1900, le=2200)]


def nightlights_path(item_id: ItemId, catalog=Depends(get_catalog)) -> str:
    """Path of a night-light item's COG, found in the catalog index (404 for unknown ids)."""
    return str(catalog.asset_path(COLLECTION_ID, item_id, ASSET))


def nightlights_item(item_id: ItemId, catalog=Depends(get_catalog)) -> dict[str, Any]:
    """The STAC Item of a night-light layer (404 for unknown ids)."""
    return catalog.item(COLLECTION_ID, item_id).item


def nightlights_year(year: Year, catalog=Depends(get_catalog)) -> str:
    """``{year}`` of a night-light mosaic that exists in the catalog (404 otherwise)."""
    catalog.items_for_year(COLLECTION_ID, year)
    return str(year)


def _default_render(catalog: StaticCatalog) -> dict[str, Any]:
    return (catalog.collection(COLLECTION_ID).collection.get("renders") or {}).get("default", {})


def colormap(requested=Depends(ColorMapParams), catalog=Depends(get_catalog)):
    """The requested colormap, else the collection's default (log-scale magma)."""
    if requested is not None:
        return requested
    stops = _default_render(catalog).get("colormap")
    return {int(k): tuple(v) for k, v in stops.items()} if stops else None


def rendering(params: ImageRenderingParams = Depends(), catalog=Depends(get_catalog)) -> ImageRenderingParams:
    """The requested rescale, else the collection's default (0 to 63 nW/cm2/sr)."""
    if params.rescale is None and _default_render(catalog).get("rescale"):
        params.rescale = [tuple(r) for r in _default_render(catalog)["rescale"]]
    return params


def _year_items(catalog: StaticCatalog, year: str) -> list[ItemRecord]:
    return catalog.items_for_year(COLLECTION_ID, int(year))


@functools.lru_cache(maxsize=256)
def _chips(score_cog: str, lights_cog: str, stamp: tuple) -> tuple[np.ndarray, ...]:
    """(scores, radiance, centre lon, centre lat) of a granule-year's 1024 chips; ``stamp`` (the files'
    mtimes) keys the cache so a new publish or ingest is seen."""
    grid = read_chip_grid(score_cog)  # the chips' own grid, from the score COG
    centres = chip_polygons(grid).geometry.centroid
    return (chip_scores(score_cog, grid).ravel(), chip_radiance(lights_cog, grid).ravel(),
            centres.x.to_numpy(), centres.y.to_numpy())


def _granule_chips(catalog: StaticCatalog, lights: ItemRecord):
    score = catalog.item(SCORE_COLLECTION_ID, lights.id)
    score_cog, lights_cog = score.assets[SCORE_ASSET], lights.assets[ASSET]
    stamp = (score_cog.stat().st_mtime_ns, lights_cog.stat().st_mtime_ns)
    return _chips(str(score_cog), str(lights_cog), stamp)


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise DevscoreError(f"bbox {text!r} must be four numbers minx,miny,maxx,maxy") from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise DevscoreError(f"bbox {text!r} must be four numbers minx,miny,maxx,maxy")
    valid_bbox(*values, coord_crs=None)
    return tuple(values)


def _selection(catalog: StaticCatalog, item: str | None, year: int | None, bbox: str | None):
    """(night-light items, bbox or None, year) named by the query, or a one-line 4xx error."""
    if item and (bbox or year is not None):
        raise DevscoreError("give item=, or bbox= and year=, not both")
    if item:
        record = catalog.item(COLLECTION_ID, item)
        return [record], None, record.years[0]
    if bbox is None or year is None:
        raise DevscoreError("give item=ID, or bbox=minx,miny,maxx,maxy and year=YYYY")
    box = _parse_bbox(bbox)
    records = [r for r in catalog.items_for_year(COLLECTION_ID, year)
               if r.item["bbox"][0] < box[2] and r.item["bbox"][2] > box[0]
               and r.item["bbox"][1] < box[3] and r.item["bbox"][3] > box[1]]
    if not records:
        raise NotFoundError(f"no night lights of {year} intersect bbox {bbox}")
    return records, box, year


router = APIRouter(prefix=PREFIX, tags=["Night lights"])


@router.get("/correlation")
def correlation(request: Request, item: Annotated[str | None, Query(max_length=200)] = None,
                year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
                bbox: Annotated[str | None, Query(max_length=200)] = None) -> dict:
    """Pearson (radiance and log1p), Spearman and n of chip scores against chip night lights, for a
    granule-year (``item``) or for the chips centred in ``bbox`` over every granule of ``year``."""
    catalog = request.app.state.catalog
    records, box, year = _selection(catalog, item, year, bbox)
    scores, radiance, used = [], [], []
    for record in records:
        try:
            s, r, lon, lat = _granule_chips(catalog, record)
        except NotFoundError:
            continue  # night lights without a score item of the same tile and year
        keep = np.ones(s.shape, bool) if box is None else (
            (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3]))
        scores.append(s[keep])
        radiance.append(r[keep])
        used.append(record.id)
    if not used:
        raise NotFoundError("no score items match these night lights")
    result = correlate(np.concatenate(scores), np.concatenate(radiance))
    return {**result.as_dict(), "year": year, "items": used, "bbox": list(box) if box else None}


@router.get("/layers")
def layers(request: Request, item: Annotated[str | None, Query(max_length=200)] = None,
           year: Annotated[int | None, Query(ge=1900, le=2200)] = None) -> dict:
    """Tile URLs of the scores and the night lights of a year or a granule-year (neither: the latest
    year with night lights), their bounds and the correlation URL: what the compare page shows."""
    catalog = request.app.state.catalog
    if item is not None and year is not None:
        raise DevscoreError("give item=ID or year=YYYY, not both")
    if item is None and year is None:
        years = catalog.years(COLLECTION_ID) if COLLECTION_ID in catalog.collection_ids() else []
        if not years:
            raise NotFoundError("the catalog has no night lights yet (devscore viirs ingest)")
        year = years[-1]
    tiles = "tiles/WebMercatorQuad/{z}/{x}/{y}.png"
    if item:
        records, scored = [catalog.item(COLLECTION_ID, item)], [catalog.item(SCORE_COLLECTION_ID, item)]
        urls = (f"/collections/{SCORE_COLLECTION_ID}/items/{item}/{tiles}", f"{PREFIX}/items/{item}/{tiles}")
    else:
        records, scored = catalog.items_for_year(COLLECTION_ID, year), catalog.items_for_year(SCORE_COLLECTION_ID, year)
        urls = (f"/collections/{SCORE_COLLECTION_ID}/years/{year}/{tiles}", f"{PREFIX}/years/{year}/{tiles}")
    bounds, score_bounds = _union(records), _union(scored)
    correlation_url = (f"{PREFIX}/correlation?item={item}" if item else
                       f"{PREFIX}/correlation?year={year}&bbox={','.join(f'{v:.5f}' for v in bounds)}")
    return {"title": item or str(year), "scores": urls[0], "nightlights": urls[1], "bounds": bounds,
            "scores_bounds": score_bounds, "correlation": correlation_url, "items": [r.id for r in records]}


def _union(records: list[ItemRecord]) -> list[float]:
    boxes = np.array([r.item["bbox"] for r in records])
    return [float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max())]


@router.get("/compare", include_in_schema=False)
def compare_page() -> FileResponse:
    """The compare page (reads ``?year=`` or ``?item=`` in the browser)."""
    return FileResponse(STATIC / "compare.html", media_type="text/html")


def _item_layer(path: str) -> str:
    return f"nightlights-{Path(path).parent.name}"


def _year_layer(year: str) -> str:
    return f"nightlights-{year}"


def mount_nightlights(app: FastAPI, catalog: StaticCatalog) -> None:
    """Add the night-light tiles, correlation endpoint and compare page to ``app`` (whose app-wide
    dependency ``tiler_app.limits.request_limits`` bounds them as every other route)."""
    items = TilerFactory(path_dependency=nightlights_path, colormap_dependency=colormap,
                         render_dependency=rendering, router_prefix=ITEM_PREFIX, supported_tms=SUPPORTED_TMS,
                         render_func=render_tile,
                         extensions=[wmtsExtension(layer_identifier_provider=_item_layer)],
                         route_dependencies=item_checks(nightlights_item),
                         environment_dependency=lambda: GDAL_LOCKDOWN, add_viewer=False)
    app.include_router(items.router, prefix=ITEM_PREFIX, tags=["Night lights"])
    mosaic = ItemMosaic(catalog, COLLECTION_ID, ASSET, _year_items, (MINZOOM, MAXZOOM, QUADKEY_ZOOM),
                        "devscore-nightlights")
    years = MosaicTilerFactory(backend=mosaic.backend(), dataset_reader=mosaic.reader(),
                               path_dependency=nightlights_year, colormap_dependency=colormap,
                               render_dependency=rendering, router_prefix=YEAR_PREFIX, supported_tms=SUPPORTED_TMS,
                               render_func=render_tile,
                               extensions=[mosaic_wmtsExtension(layer_identifier_provider=_year_layer)],
                               route_dependencies=COORDINATE_CHECKS, environment_dependency=lambda: GDAL_LOCKDOWN,
                               add_viewer=False)
    app.include_router(years.router, prefix=YEAR_PREFIX, tags=["Night lights"])
    app.include_router(router)
