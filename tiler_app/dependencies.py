"""FastAPI dependencies that confine the tiler to the catalog and give it the catalog's render defaults.

The path dependencies replace TiTiler's ``url=`` parameter: a request names a collection and an item
(or a year), which are looked up in the catalog index; no request can name a file or URL.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Annotated, Any, Awaitable, Callable, TypeVar

from fastapi import Depends, Path, Request
from rasterio.crs import CRS
from rio_tiler.colormap import cmap as default_cmap
from titiler.core.algorithm import algorithms as available_algorithms
from titiler.core.dependencies import (BidxExprParams, ColorMapParams, CoordCRSParams, DatasetParams, DefaultDependency,
                                       ImageRenderingParams, TileParams)
from titiler.mosaic.factory import PixelSelectionParams

from catalog.reader import StaticCatalog
from publisher.constants import SCORE_ASSET
from publisher.errors import DevscoreError
from tiler_app.limits import check_implied_pixels, feature_bounds, loads_body
from tiler_app.security import CRS_OVERRIDES, GDAL_LOCKDOWN, parse_crs

CollectionId = Annotated[str, Path(description="Collection id, e.g. devscore-scores", max_length=200)]
ItemId = Annotated[str, Path(description="Item id, e.g. 48RVU-2023", max_length=200)]
#: The strict ``coord_crs`` parser (tiler_app.security), in place of TiTiler's CoordCRSParams.
StrictCoordCRS = CRS_OVERRIDES[CoordCRSParams]
Year = Annotated[int, Path(description="Calendar year of the layer", ge=1900, le=2200)]
T = TypeVar("T")


def in_event_loop(dependency: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """An async twin of a TiTiler dependency that only reads query parameters: the same parameters
    (its signature, annotations resolved in its own module) and the same value. FastAPI runs a sync
    dependency on the thread pool, a hop per dependency per request: nine of a year-mosaic tile's
    eleven were these."""

    @functools.wraps(dependency, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
    async def twin(**params: Any) -> T:
        return dependency(**params)

    twin.__signature__ = inspect.signature(dependency, eval_str=True)  # type: ignore[attr-defined]
    return twin


_NO_OPTIONS = in_event_loop(DefaultDependency)
#: Factory arguments that put TiTiler's parameter-only dependencies of tile routes in the event loop
#: (``in_event_loop``); the other routes' own dependencies stay TiTiler's.
PARAMETER_DEPENDENCIES = {
    "layer_dependency": in_event_loop(BidxExprParams),
    "dataset_dependency": in_event_loop(DatasetParams),
    "tile_dependency": in_event_loop(TileParams),
    "process_dependency": in_event_loop(available_algorithms.dependency),
    "reader_dependency": _NO_OPTIONS,
}
#: The same for a mosaic factory: also its pixel selection and its backend and accessor options.
MOSAIC_PARAMETER_DEPENDENCIES = {
    **PARAMETER_DEPENDENCIES,
    "pixel_selection_dependency": in_event_loop(PixelSelectionParams),
    "backend_dependency": _NO_OPTIONS,
    "assets_accessor_dependency": _NO_OPTIONS,
}


async def get_catalog(request: Request) -> StaticCatalog:
    """The catalog the app serves (async: FastAPI runs a sync dependency in the thread pool, a hop
    that costs more than this look-up; so do the other pure dependencies here)."""
    return request.app.state.catalog


def item_score_path(collection_id: CollectionId, item_id: ItemId, catalog=Depends(get_catalog)) -> str:
    """Path of the item's score COG, found in the catalog index (404 for unknown ids)."""
    return str(catalog.asset_path(collection_id, item_id, SCORE_ASSET))


def year_mosaic_id(collection_id: CollectionId, year: Year, catalog=Depends(get_catalog)) -> str:
    """``{collection}/{year}`` key of a year mosaic that exists in the catalog (404 otherwise)."""
    catalog.items_for_year(collection_id, year)
    return f"{collection_id}/{year}"


def _default_render(doc: dict[str, Any]) -> dict[str, Any]:
    renders = doc.get("renders") or doc.get("properties", {}).get("renders") or {}
    return renders.get("default", {})


def item_render(collection_id: CollectionId, item_id: ItemId, catalog=Depends(get_catalog)) -> dict[str, Any]:
    """The item's default render (render extension)."""
    return _default_render(catalog.item(collection_id, item_id).item)


def collection_render(collection_id: CollectionId, catalog=Depends(get_catalog)) -> dict[str, Any]:
    """The collection's default render (render extension)."""
    return _default_render(catalog.collection(collection_id).collection)


def _with_render_defaults(render_dependency):
    """Colormap and rendering dependencies that fall back on a render-extension default."""

    async def colormap(render=Depends(render_dependency), requested=Depends(in_event_loop(ColorMapParams))):
        if requested is not None:
            return requested
        name = render.get("colormap_name")
        return default_cmap.get(name) if name else None

    async def rendering(render=Depends(render_dependency), params=Depends(in_event_loop(ImageRenderingParams))):
        if params.rescale is None and render.get("rescale"):
            params.rescale = [tuple(r) for r in render["rescale"]]
        return params

    return colormap, rendering


ItemColorMap, ItemRendering = _with_render_defaults(item_render)
YearColorMap, YearRendering = _with_render_defaults(collection_render)


def _geographic(crs: CRS | None) -> bool:
    return crs is None or crs.is_geographic


def valid_point(lon: float, lat: float, coord_crs: CRS | None = Depends(StrictCoordCRS)) -> None:
    """Reject a point outside WGS84's range (or not finite) before GDAL sees it."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise DevscoreError("point coordinates must be finite numbers")
    if _geographic(coord_crs) and not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise DevscoreError(f"point ({lon}, {lat}) is outside longitude -180..180, latitude -90..90")


def valid_bbox(minx: float, miny: float, maxx: float, maxy: float,
               coord_crs: CRS | None = Depends(StrictCoordCRS)) -> tuple[float, float, float, float]:
    """Reject a bbox that is inverted, not finite or (in WGS84) outside its range."""
    box = (minx, miny, maxx, maxy)
    ordered = all(math.isfinite(v) for v in box) and minx < maxx and miny < maxy
    if not ordered or (_geographic(coord_crs) and not (-180.0 <= minx and maxx <= 180.0 and -90.0 <= miny and maxy <= 90.0)):
        raise DevscoreError(
            f"bbox {minx},{miny},{maxx},{maxy} must be minx,miny,maxx,maxy with minx < maxx and miny < maxy"
            " (in WGS84 unless coord_crs says otherwise)"
        )
    return box


def score_item(collection_id: CollectionId, item_id: ItemId, catalog=Depends(get_catalog)) -> dict[str, Any]:
    """The STAC Item of a score layer (404 for unknown ids)."""
    return catalog.item(collection_id, item_id).item


def item_checks(item_dependency: Callable[..., dict[str, Any]]) -> list:
    """TiTiler ``route_dependencies`` of an item factory whose Item ``item_dependency`` finds: the
    coordinate checks, and the pixel counts its bbox and feature reads imply (MAX_IMAGE_PIXELS,
    MAX_COVERAGE_SIDE, MAX_FEATURES)."""

    def bbox_image_limits(request: Request, box=Depends(valid_bbox), coord_crs: CRS | None = Depends(StrictCoordCRS),
                          item=Depends(item_dependency)) -> None:
        check_implied_pixels(box, coord_crs, item, request)

    async def feature_body_limits(request: Request, item=Depends(item_dependency)) -> None:
        # the body is parsed again by TiTiler: FastAPI keeps the bytes
        body = loads_body(await request.body())
        coord_crs = request.query_params.get("coord_crs")
        crs = parse_crs(coord_crs) if coord_crs else None
        for bounds in feature_bounds(body):
            check_implied_pixels(bounds, crs, item, request)

    return [*COORDINATE_CHECKS, (_BBOX_IMAGES, [Depends(bbox_image_limits)]),
            (_FEATURES, [Depends(feature_body_limits)])]


_BBOX_IMAGES = [{"path": "/bbox/{minx},{miny},{maxx},{maxy}.{format}", "method": "GET"},
                {"path": "/bbox/{minx},{miny},{maxx},{maxy}/{width}x{height}.{format}", "method": "GET"}]
_FEATURES = [{"path": path, "method": "POST"} for path in
             ("/feature", "/feature.{format}", "/feature/{width}x{height}.{format}", "/statistics")]

#: TiTiler ``route_dependencies`` that check coordinates on the point and bbox routes of a factory.
COORDINATE_CHECKS = [
    ([{"path": "/point/{lon},{lat}", "method": "GET"}, {"path": "/point/{lon},{lat}/assets", "method": "GET"}],
     [Depends(valid_point)]),
    ([*_BBOX_IMAGES, {"path": "/bbox/{minx},{miny},{maxx},{maxy}/assets", "method": "GET"}],
     [Depends(valid_bbox)]),
]
async def gdal_environment() -> dict[str, str]:
    """The GDAL configuration of every read (TiTiler's ``environment_dependency``)."""
    return GDAL_LOCKDOWN


#: ``route_dependencies`` of the score item factory.
ITEM_CHECKS = item_checks(score_item)
