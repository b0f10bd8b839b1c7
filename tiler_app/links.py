"""Web-map links (STAC web-map-links extension) that take a STAC client from a hit to a map layer.

Injected into the STAC API as hooks, so the catalog package never needs to know the tile routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from catalog.reader import StaticCatalog
from publisher.constants import COLLECTION_ID


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
    """Route prefix of a collection-year mosaic."""
    return f"{origin}/collections/{collection_id}/years/{year}"


def _layer_links(root: str, title: str, wmts_layer: str) -> list[dict[str, Any]]:
    urls = layer_urls(root)
    return [
        {"rel": "xyz", "href": urls["xyz"], "type": "image/png", "title": title, "render": "default"},
        {"rel": "tilejson", "href": urls["tilejson"], "type": "application/json", "title": title},
        {"rel": "wmts", "href": urls["wmts"], "type": "application/xml", "title": title,
         "wmts:layer": f"{wmts_layer}_WebMercatorQuad_default"},
    ]


def item_links(item: dict[str, Any], request: Request) -> list[dict[str, Any]]:
    """XYZ, TileJSON and WMTS links of an item's score layer (none for items of other collections)."""
    if item.get("collection") != COLLECTION_ID:
        return []
    root = f"{_origin(request)}/collections/{item['collection']}/items/{item['id']}"
    return _layer_links(root, f"Development score {item['id']} (RdYlGn_r, 0 to 1)", item["id"])


def collection_links_for(catalog: StaticCatalog):
    """A hook adding one XYZ/TileJSON/WMTS link set per year mosaic of the collection."""

    def hook(collection: dict[str, Any], request: Request) -> list[dict[str, Any]]:
        cid = collection["id"]
        links: list[dict[str, Any]] = []
        if cid != COLLECTION_ID:  # night lights and models have no score mosaics
            return links
        for year in catalog.years(cid):
            links += _layer_links(year_root(_origin(request), cid, year), f"Development score {year} (all granules)",
                                  f"{cid}-{year}")
        return links

    return hook
