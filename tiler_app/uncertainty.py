"""The scores' uncertainty in the server: tiles of each score item's ``uncertainty`` asset (the spread of its
chip scores over the scorer ensemble), per item and per year, with the asset's own render by default.

Routes (ids are looked up in the catalog; no request names a file):
- ``/uncertainty/items/{item_id}/...``: one score item's uncertainty (XYZ, WMTS, point), e.g. ``48RVU-2023``.
- ``/uncertainty/years/{year}/...``: the mosaic of every score item of ``{year}`` that has one.
- ``/uncertainty/layers``: the years with their tile URL templates, for the map page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from rio_tiler.colormap import cmap as default_cmap
from titiler.core.dependencies import ColorMapParams, ImageRenderingParams
from titiler.core.factory import TilerFactory
from titiler.extensions.wmts import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaic_wmtsExtension
from titiler.mosaic.factory import MosaicTilerFactory

from catalog.reader import NotFoundError, StaticCatalog
from publisher.constants import COLLECTION_ID, UNCERTAINTY_ASSET
from publisher.stac import UNCERTAINTY_RENDER
from tiler_app.dependencies import COORDINATE_CHECKS, ItemId, Year, get_catalog, item_checks
from tiler_app.gridtiles import GridReader
from tiler_app.item_mosaic import ItemMosaic
from tiler_app.limits import SUPPORTED_TMS
from tiler_app.mosaic import MAXZOOM, MINZOOM, QUADKEY_ZOOM
from tiler_app.render import render_tile
from tiler_app.security import GDAL_LOCKDOWN

PREFIX = "/uncertainty"
ITEM_PREFIX = f"{PREFIX}/items/{{item_id}}"
YEAR_PREFIX = f"{PREFIX}/years/{{year}}"
LEGEND = f"/legend.png?collection={UNCERTAINTY_ASSET}"


def _year_items(catalog: StaticCatalog, year: int) -> list:
    found = [r for r in catalog.items_for_year(COLLECTION_ID, year) if UNCERTAINTY_ASSET in r.assets]
    if not found:
        raise NotFoundError(f"no score item of {year} has an uncertainty asset")
    return found


def uncertainty_path(item_id: ItemId, catalog=Depends(get_catalog)) -> str:
    """Path of a score item's uncertainty COG (404 for unknown ids and items without one)."""
    return str(catalog.asset_path(COLLECTION_ID, item_id, UNCERTAINTY_ASSET))


def score_item(item_id: ItemId, catalog=Depends(get_catalog)) -> dict[str, Any]:
    """The score Item (404 for unknown ids), for the pixel checks of its reads."""
    return catalog.item(COLLECTION_ID, item_id).item


def uncertainty_year(year: Year, catalog=Depends(get_catalog)) -> str:
    """``{year}`` of an uncertainty mosaic that exists (404 otherwise)."""
    _year_items(catalog, year)
    return str(year)


def colormap(requested=Depends(ColorMapParams)):
    """The requested colormap, else the uncertainty render's."""
    return requested if requested is not None else default_cmap.get(UNCERTAINTY_RENDER["colormap_name"])


def rendering(params: ImageRenderingParams = Depends()) -> ImageRenderingParams:
    """The requested rescale, else the uncertainty render's (0 to UNCERTAINTY_DISPLAY)."""
    if params.rescale is None:
        params.rescale = [tuple(r) for r in UNCERTAINTY_RENDER["rescale"]]
    return params


router = APIRouter(prefix=PREFIX, tags=["Uncertainty"])


@router.get("/layers")
def layers(request: Request) -> dict:
    """Years whose score items carry an uncertainty asset, each with its tile templates (empty when none)."""
    catalog: StaticCatalog = request.app.state.catalog
    if COLLECTION_ID not in catalog.collection_ids():
        return {"years": []}
    years: dict[int, list[str]] = {}
    for record in catalog.items(COLLECTION_ID):
        if UNCERTAINTY_ASSET in record.assets:
            for year in record.years:
                years.setdefault(year, []).append(record.id)
    return {"render": UNCERTAINTY_RENDER, "legend": LEGEND, "years": [
        {"year": year, "items": ids,
         "tiles": f"{YEAR_PREFIX.format(year=year)}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png",
         "tilejson": f"{YEAR_PREFIX.format(year=year)}/WebMercatorQuad/tilejson.json",
         "wmts": f"{YEAR_PREFIX.format(year=year)}/WMTSCapabilities.xml",
         "point": f"{YEAR_PREFIX.format(year=year)}/point/{{lon}},{{lat}}"}
        for year, ids in sorted(years.items())]}


def mount_uncertainty(app: FastAPI, catalog: StaticCatalog) -> None:
    """Add the uncertainty tiles (items and year mosaics) and their layer list to ``app``."""
    items = TilerFactory(reader=GridReader, path_dependency=uncertainty_path, colormap_dependency=colormap,
                         render_dependency=rendering, router_prefix=ITEM_PREFIX, supported_tms=SUPPORTED_TMS,
                         render_func=render_tile,
                         extensions=[wmtsExtension(layer_identifier_provider=lambda p: f"uncertainty-{p}")],
                         route_dependencies=item_checks(score_item), environment_dependency=lambda: GDAL_LOCKDOWN,
                         add_viewer=False)
    app.include_router(items.router, prefix=ITEM_PREFIX, tags=["Uncertainty"])
    mosaic = ItemMosaic(catalog, COLLECTION_ID, UNCERTAINTY_ASSET, lambda c, year: _year_items(c, int(year)),
                        (MINZOOM, MAXZOOM, QUADKEY_ZOOM), "devscore-uncertainty", base=GridReader)
    years = MosaicTilerFactory(backend=mosaic.backend(), dataset_reader=mosaic.reader(),
                               path_dependency=uncertainty_year, colormap_dependency=colormap,
                               render_dependency=rendering, router_prefix=YEAR_PREFIX, supported_tms=SUPPORTED_TMS,
                               render_func=render_tile,
                               extensions=[mosaic_wmtsExtension(
                                   layer_identifier_provider=lambda key: f"uncertainty-{key}")],
                               route_dependencies=COORDINATE_CHECKS, environment_dependency=lambda: GDAL_LOCKDOWN,
                               add_viewer=False)
    app.include_router(years.router, prefix=YEAR_PREFIX, tags=["Uncertainty"])
    app.include_router(router)
