"""FastAPI dependencies that confine the tiler to the catalog and give it the catalog's render defaults.

The path dependencies replace TiTiler's ``url=`` parameter: a request names a collection and an item
(or a year), which are looked up in the catalog index; no request can name a file or URL.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from rio_tiler.colormap import cmap as default_cmap
from titiler.core.dependencies import ColorMapParams, ImageRenderingParams

from catalog.reader import StaticCatalog
from publisher.constants import SCORE_ASSET
from publisher.errors import DevscoreError

CollectionId = Annotated[str, Path(description="Collection id, e.g. devscore-scores", max_length=200)]
ItemId = Annotated[str, Path(description="Item id, e.g. 48RVU-2023", max_length=200)]
Year = Annotated[int, Path(description="Calendar year of the layer", ge=1900, le=2200)]


def get_catalog(request: Request) -> StaticCatalog:
    """The catalog the app serves."""
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

    def colormap(render=Depends(render_dependency), requested=Depends(ColorMapParams)):
        if requested is not None:
            return requested
        name = render.get("colormap_name")
        return default_cmap.get(name) if name else None

    def rendering(render=Depends(render_dependency), params: ImageRenderingParams = Depends()):
        if params.rescale is None and render.get("rescale"):
            params.rescale = [tuple(r) for r in render["rescale"]]
        return params

    return colormap, rendering


ItemColorMap, ItemRendering = _with_render_defaults(item_render)
YearColorMap, YearRendering = _with_render_defaults(collection_render)


def valid_point(lon: float, lat: float) -> None:
    """Reject a point outside WGS84's range before GDAL sees it."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise DevscoreError(f"point ({lon}, {lat}) is outside longitude -180..180, latitude -90..90")


def valid_bbox(minx: float, miny: float, maxx: float, maxy: float) -> None:
    """Reject a bbox that is inverted or outside WGS84's range."""
    if not (-180.0 <= minx < maxx <= 180.0 and -90.0 <= miny < maxy <= 90.0):
        raise DevscoreError(
            f"bbox {minx},{miny},{maxx},{maxy} must be minx,miny,maxx,maxy in WGS84 with minx < maxx and miny < maxy"
        )


#: TiTiler ``route_dependencies`` that check coordinates on the point and bbox routes of a factory.
COORDINATE_CHECKS = [
    ([{"path": "/point/{lon},{lat}", "method": "GET"}, {"path": "/point/{lon},{lat}/assets", "method": "GET"}],
     [Depends(valid_point)]),
    ([{"path": "/bbox/{minx},{miny},{maxx},{maxy}.{format}", "method": "GET"},
      {"path": "/bbox/{minx},{miny},{maxx},{maxy}/{width}x{height}.{format}", "method": "GET"},
      {"path": "/bbox/{minx},{miny},{maxx},{maxy}/assets", "method": "GET"}],
     [Depends(valid_bbox)]),
]
