"""Score change in the server: tiles per change item and per year pair, diverging colormap by default.

Routes (ids are looked up in the catalog; no request names a file):
- ``/change/items/{item_id}/...``: one change item, e.g. ``48RVU-2022-2023`` (TilerFactory, XYZ and WMTS).
- ``/change/pairs/{pair}/...``: the mosaic of every granule's change over ``{pair}``, e.g. ``2022-2023``.
- ``/change/layers``: the year pairs with their tile URL templates, for the map page.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParam
from rio_tiler.colormap import cmap as default_cmap
from titiler.core.dependencies import ColorMapParams, ImageRenderingParams
from titiler.core.factory import TilerFactory
from titiler.extensions.wmts import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaic_wmtsExtension
from titiler.mosaic.factory import MosaicTilerFactory

from catalog.reader import NotFoundError, StaticCatalog
from publisher.constants import CHANGE_ASSET, CHANGE_COLLECTION_ID
from tiler_app.dependencies import COORDINATE_CHECKS, get_catalog, item_checks
from tiler_app.item_mosaic import ItemMosaic
from tiler_app.limits import SUPPORTED_TMS
from tiler_app.mosaic import MAXZOOM, MINZOOM, QUADKEY_ZOOM
from tiler_app.render import render_tile
from tiler_app.security import GDAL_LOCKDOWN

PREFIX = "/change"
ITEM_PREFIX = f"{PREFIX}/items/{{item_id}}"
PAIR_PREFIX = f"{PREFIX}/pairs/{{pair}}"
PAIR = re.compile(r"^(\d{4})-(\d{4})$")

ItemId = Annotated[str, PathParam(description="Change item id, e.g. 48RVU-2022-2023", max_length=200)]
Pair = Annotated[str, PathParam(description="Year pair, e.g. 2022-2023", max_length=9)]


def _pair_items(catalog: StaticCatalog, pair: str) -> list:
    found = [r for r in catalog.items(CHANGE_COLLECTION_ID)
             if "-".join(map(str, r.item["properties"].get("devscore:years", []))) == pair]
    if not found:
        raise NotFoundError(f"no change items for the year pair {pair!r}")
    return found


def change_path(item_id: ItemId, catalog=Depends(get_catalog)) -> str:
    """Path of a change item's COG, found in the catalog index (404 for unknown ids)."""
    return str(catalog.asset_path(CHANGE_COLLECTION_ID, item_id, CHANGE_ASSET))


def change_item(item_id: ItemId, catalog=Depends(get_catalog)) -> dict[str, Any]:
    """The STAC Item of a change layer (404 for unknown ids), for the pixel checks of its reads."""
    return catalog.item(CHANGE_COLLECTION_ID, item_id).item


def change_pair(pair: Pair, catalog=Depends(get_catalog)) -> str:
    """``{pair}`` of a change mosaic that exists in the catalog (404 otherwise)."""
    if not PAIR.match(pair):
        raise NotFoundError(f"year pair {pair!r} is not EARLIER-LATER, e.g. 2022-2023")
    _pair_items(catalog, pair)
    return pair


def _render(catalog: StaticCatalog) -> dict[str, Any]:
    return (catalog.collection(CHANGE_COLLECTION_ID).collection.get("renders") or {}).get("default", {})


def colormap(requested=Depends(ColorMapParams), catalog=Depends(get_catalog)):
    """The requested colormap, else the collection's diverging default."""
    if requested is not None:
        return requested
    name = _render(catalog).get("colormap_name")
    return default_cmap.get(name) if name else None


def rendering(params: ImageRenderingParams = Depends(), catalog=Depends(get_catalog)) -> ImageRenderingParams:
    """The requested rescale, else the collection's symmetric default (centred on 0)."""
    if params.rescale is None and _render(catalog).get("rescale"):
        params.rescale = [tuple(r) for r in _render(catalog)["rescale"]]
    return params


router = APIRouter(prefix=PREFIX, tags=["Score change"])


@router.get("/layers")
def layers(request: Request) -> dict:
    """Year pairs with change items, each with its mosaic tile template and items (empty when none)."""
    catalog: StaticCatalog = request.app.state.catalog
    if CHANGE_COLLECTION_ID not in catalog.collection_ids():
        return {"pairs": []}
    pairs: dict[str, list[str]] = {}
    for record in catalog.items(CHANGE_COLLECTION_ID):
        pairs.setdefault("-".join(map(str, record.item["properties"]["devscore:years"])), []).append(record.id)
    render = _render(catalog)
    return {"render": render, "pairs": [
        {"pair": pair, "items": ids,
         "tiles": f"{PAIR_PREFIX.format(pair=pair)}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png",
         "wmts": f"{PAIR_PREFIX.format(pair=pair)}/WMTSCapabilities.xml"}
        for pair, ids in sorted(pairs.items())]}


def mount_change(app: FastAPI, catalog: StaticCatalog) -> None:
    """Add the change tiles (items and year-pair mosaics) and the layer list to ``app``."""
    items = TilerFactory(path_dependency=change_path, colormap_dependency=colormap, render_dependency=rendering,
                         router_prefix=ITEM_PREFIX, supported_tms=SUPPORTED_TMS,
                         render_func=render_tile,
                         extensions=[wmtsExtension(layer_identifier_provider=lambda p: f"change-{p}")],
                         route_dependencies=item_checks(change_item), environment_dependency=lambda: GDAL_LOCKDOWN,
                         add_viewer=False)
    app.include_router(items.router, prefix=ITEM_PREFIX, tags=["Score change"])
    mosaic = ItemMosaic(catalog, CHANGE_COLLECTION_ID, CHANGE_ASSET, _pair_items, (MINZOOM, MAXZOOM, QUADKEY_ZOOM),
                        "devscore-change")
    pairs = MosaicTilerFactory(backend=mosaic.backend(), dataset_reader=mosaic.reader(), path_dependency=change_pair,
                               colormap_dependency=colormap, render_dependency=rendering, router_prefix=PAIR_PREFIX,
                               supported_tms=SUPPORTED_TMS, render_func=render_tile,
                               extensions=[mosaic_wmtsExtension(layer_identifier_provider=lambda p: f"change-{p}")],
                               route_dependencies=COORDINATE_CHECKS, environment_dependency=lambda: GDAL_LOCKDOWN,
                               add_viewer=False)
    app.include_router(pairs.router, prefix=PAIR_PREFIX, tags=["Score change"])
    app.include_router(router)
