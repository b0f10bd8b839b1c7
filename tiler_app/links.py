"""Web-map links (STAC web-map-links extension) that take a STAC client from a hit to a map layer.

Injected into the STAC API as hooks, so the catalog package never needs to know the tile routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from catalog.reader import StaticCatalog
from publisher.constants import COLLECTION_ID
from publisher.nightlights.stac import COLLECTION_ID as NIGHTLIGHTS_ID

#: Collections with map layers: where their routes start (below the origin) and what their layers show.
LAYER_KINDS = {
    COLLECTION_ID: ("/collections/devscore-scores", "Development score", "RdYlGn_r, 0 to 1"),
    NIGHTLIGHTS_ID: ("/nightlights", "Night lights", "magma, log scale, 0 to 63 nW/cm2/sr"),
}


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def layer_urls(root: str) -> dict[str, str]:
    """XYZ (256 px, for QGIS), TileJSON and WMTS URLs of the layer whose routes start at ``root``."""
    return {
        "xyz": f"{root}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png",
        "tilejson": f"{root}/WebMercatorQuad/tilejson.json?tilesize=256",
        "wmts": f"{root}/WMTSCapabilities.xml",
    }


def year_root(origin: str, collection_id: str, year: int) -> str:
    """Route prefix of a collection-year mosaic (scores or night lights)."""
    return f"{origin}{LAYER_KINDS[collection_id][0]}/years/{year}"


def item_root(origin: str, collection_id: str, item_id: str) -> str:
    """Route prefix of one item's layer (scores or night lights)."""
    return f"{origin}{LAYER_KINDS[collection_id][0]}/items/{item_id}"


def wmts_layer(collection_id: str, key: str | int) -> str:
    """The WebMercatorQuad layer name of a WMTS capabilities document (``key``: item id or year)."""
    if collection_id == NIGHTLIGHTS_ID:
        prefix = "nightlights-"
    else:  # a score year mosaic is named by collection and year, a score item by its id alone
        prefix = f"{collection_id}-" if isinstance(key, int) else ""
    return f"{prefix}{key}_WebMercatorQuad_default"


def layer_title(collection_id: str, what: str) -> str:
    """``Development score 2023 (RdYlGn_r, 0 to 1)``: the kind, which item or year, and the colours."""
    _, kind, colours = LAYER_KINDS[collection_id]
    return f"{kind} {what} ({colours})"


def _layer_links(root: str, title: str, layer: str) -> list[dict[str, Any]]:
    """Web-map links of one layer, each titled by its kind so STAC Browser's list tells them apart."""
    urls = layer_urls(root)
    return [
        {"rel": "xyz", "href": urls["xyz"], "type": "image/png", "title": f"{title}: XYZ tiles", "render": "default"},
        {"rel": "tilejson", "href": urls["tilejson"], "type": "application/json", "title": f"{title}: TileJSON"},
        {"rel": "wmts", "href": urls["wmts"], "type": "application/xml", "title": f"{title}: WMTS",
         "wmts:layer": layer},
    ]


def item_links(item: dict[str, Any], request: Request) -> list[dict[str, Any]]:
    """XYZ, TileJSON and WMTS links of an item's layer: scores and night lights (models have none)."""
    cid = item.get("collection")
    if cid not in LAYER_KINDS:
        return []
    return _layer_links(item_root(_origin(request), cid, item["id"]), layer_title(cid, item["id"]),
                        wmts_layer(cid, item["id"]))


def collection_links_for(catalog: StaticCatalog):
    """A hook adding one XYZ/TileJSON/WMTS link set per year mosaic of the collection."""

    def hook(collection: dict[str, Any], request: Request) -> list[dict[str, Any]]:
        cid = collection["id"]
        links: list[dict[str, Any]] = []
        if cid not in LAYER_KINDS:  # models have no map layers
            return links
        for year in catalog.years(cid):
            links += _layer_links(year_root(_origin(request), cid, year), layer_title(cid, f"{year}, all granules"),
                                  wmts_layer(cid, year))
        return links

    return hook
