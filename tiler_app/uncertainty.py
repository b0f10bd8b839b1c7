"""The scores' uncertainty in the server: tiles of each score item's ``uncertainty`` asset (the spread of its
chip scores over the scorer ensemble), per item and per year, with the asset's own render by default.

Routes (ids are looked up in the catalog; no request names a file):
- ``/uncertainty/items/{item_id}/...``: one score item's uncertainty (XYZ, WMTS, point), e.g. ``48RVU-2023``.
- ``/uncertainty/years/{year}/...``: the mosaic of every score item of ``{year}`` that has one.
- ``/uncertainty/layers``: the years with their tile URL templates, for the map page.
"""

from __future__ import annotations

import functools
from typing import Any

import attr
from cogeo_mosaic.backends.base import MosaicJSONBackend
from cogeo_mosaic.mosaic import MosaicJSON
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
from tiler_app.limits import SUPPORTED_TMS
from tiler_app.mosaic import MAXZOOM, MINZOOM, QUADKEY_ZOOM, _polygons
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


@functools.lru_cache(maxsize=32)
def _mosaic(catalog: StaticCatalog, year: int, version: float) -> MosaicJSON:
    features = [{"type": "Feature", "geometry": part, "properties": {"asset": r.id}}
                for r in _year_items(catalog, year) for part in _polygons(r.item["geometry"])]
    return MosaicJSON.from_features(features, minzoom=MINZOOM, maxzoom=MAXZOOM, quadkey_zoom=QUADKEY_ZOOM,
                                    accessor=lambda feature: feature["properties"]["asset"], quiet=True)


def _reader(catalog: StaticCatalog) -> type[GridReader]:
    @attr.s
    class UncertaintyReader(GridReader):
        """Reader of a score item's uncertainty COG (painted like the scores: the grid reader applies)."""

        def __attrs_post_init__(self) -> None:
            self.input = str(catalog.asset_path(COLLECTION_ID, self.input, UNCERTAINTY_ASSET))
            super().__attrs_post_init__()

    return UncertaintyReader


def _backend(catalog: StaticCatalog) -> type[MosaicJSONBackend]:
    @attr.s
    class UncertaintyYearBackend(MosaicJSONBackend):
        """Read-only mosaic of one year's uncertainty assets."""

        _backend_name = "devscore-uncertainty"

        def _read(self) -> MosaicJSON:
            return _mosaic(catalog, int(self.input), catalog.collection(COLLECTION_ID).mtime)

        def write(self, overwrite: bool = True) -> None:
            raise NotImplementedError("catalog mosaics are read-only")

    return UncertaintyYearBackend


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
                         extensions=[wmtsExtension(layer_identifier_provider=lambda p: f"uncertainty-{p}")],
                         route_dependencies=item_checks(score_item), environment_dependency=lambda: GDAL_LOCKDOWN,
                         add_viewer=False)
    app.include_router(items.router, prefix=ITEM_PREFIX, tags=["Uncertainty"])
    years = MosaicTilerFactory(backend=_backend(catalog), dataset_reader=_reader(catalog),
                               path_dependency=uncertainty_year, colormap_dependency=colormap,
                               render_dependency=rendering, router_prefix=YEAR_PREFIX, supported_tms=SUPPORTED_TMS,
                               extensions=[mosaic_wmtsExtension(
                                   layer_identifier_provider=lambda key: f"uncertainty-{key}")],
                               route_dependencies=COORDINATE_CHECKS, environment_dependency=lambda: GDAL_LOCKDOWN,
                               add_viewer=False)
    app.include_router(years.router, prefix=YEAR_PREFIX, tags=["Uncertainty"])
    app.include_router(router)
