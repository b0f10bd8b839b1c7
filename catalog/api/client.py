"""stac-fastapi core client over a SearchBackend: links and asset hrefs rewritten for the API.

Served items point at the API (self, parent, collection, root) and their assets at the catalog's
files as served over HTTP; injected hooks add links the catalog package cannot know (the tile
server's web-map links), so ``catalog`` never imports ``tiler_app``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Callable
from urllib.parse import urlencode

import attr
from fastapi import Request
from fastapi.responses import Response
from stac_fastapi.types.core import BaseCoreClient
from stac_fastapi.types.errors import NotFoundError
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.rfc3339 import str_to_interval

from catalog.api.backend import SearchBackend
from catalog.api.index import SearchError, SearchPage, SearchQuery

#: Hook: (document, request) -> extra links for it.
LinkHook = Callable[[dict[str, Any], Request], list[dict[str, Any]]]
#: Link relations the static catalog carries that the API replaces with its own.
STATIC_RELS = {"self", "root", "parent", "collection", "item", "items", "child"}
GEOJSON = "application/geo+json"


def _interval(value: Any) -> tuple | None:
    if not value:
        return None
    if not isinstance(value, str):
        value = value if isinstance(value, tuple) else (value, value)
        return value
    try:
        parsed = str_to_interval(value)
    except Exception as exc:  # stac-fastapi raises HTTPException or ValueError
        raise SearchError(f"invalid datetime {value!r}: give an RFC 3339 instant or start/end interval") from exc
    return parsed if isinstance(parsed, tuple) else (parsed, parsed)


def _json_param(value: Any, name: str) -> Any:
    if value is None or not isinstance(value, str):
        return value.model_dump() if hasattr(value, "model_dump") else value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise SearchError(f"{name} is not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError):  # integers past Python's digit limit, nesting too deep
        raise SearchError(f"{name} holds a number too long or nesting too deep") from None


def _bbox(value: Any) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise SearchError(f"bbox {str(value)[:60]!r} must be comma-separated numbers") from None


@attr.s
class CatalogClient(BaseCoreClient):
    """The STAC API's core endpoints answered from a SearchBackend."""

    backend: SearchBackend = attr.ib(kw_only=True)
    files_url: Callable[[Request], str] = attr.ib(kw_only=True)
    item_links: LinkHook | None = attr.ib(default=None, kw_only=True)
    collection_links: LinkHook | None = attr.ib(default=None, kw_only=True)

    # -- documents as served -------------------------------------------------------------------

    def _served_href(self, target: str, request: Request) -> str:
        """Where the API serves the catalog file ``target`` (a path from the catalog root): collections
        and items as API documents, the catalog as the landing page, any other file (reports,
        figures) under the files URL."""
        base = get_base_url(request)
        parts = target.split("/")
        if target == "catalog.json":
            return base
        if len(parts) == 2 and parts[1] == "collection.json":
            return f"{base}collections/{parts[0]}"
        if len(parts) == 3 and parts[2] == f"{parts[1]}.json":
            return f"{base}collections/{parts[0]}/items/{parts[1]}"
        return f"{self.files_url(request).rstrip('/')}/{target}"

    def _kept_links(self, doc: dict[str, Any], source: str, request: Request) -> list[dict[str, Any]]:
        """The static links the API keeps (night lights, model, source scene, reports), relative ones
        made absolute into the API: a relative href means nothing once the document is served elsewhere."""
        folder = posixpath.dirname(source)
        return [
            link if "://" in link["href"] or link["href"].startswith("/")
            else {**link, "href": self._served_href(posixpath.normpath(posixpath.join(folder, link["href"])), request)}
            for link in doc.get("links", []) if link.get("rel") not in STATIC_RELS
        ]

    def _collection_doc(self, doc: dict[str, Any], request: Request) -> dict[str, Any]:
        base = get_base_url(request)
        cid = doc["id"]
        out = dict(doc)
        out["links"] = self._kept_links(doc, f"{cid}/collection.json", request) + [
            {"rel": "self", "href": f"{base}collections/{cid}", "type": "application/json"},
            {"rel": "root", "href": base, "type": "application/json"},
            {"rel": "parent", "href": base, "type": "application/json"},
            {"rel": "items", "href": f"{base}collections/{cid}/items", "type": GEOJSON},
        ]
        if self.collection_links:
            out["links"] += self.collection_links(out, request)
        return out

    def _item_doc(self, doc: dict[str, Any], href: str | None, request: Request) -> dict[str, Any]:
        base = get_base_url(request)
        cid = doc.get("collection")
        out = dict(doc)
        source = href if href is not None else f"{cid}/{doc['id']}/{doc['id']}.json"
        out["links"] = self._kept_links(doc, source, request) + [
            {"rel": "self", "href": f"{base}collections/{cid}/items/{doc['id']}", "type": GEOJSON},
            {"rel": "parent", "href": f"{base}collections/{cid}", "type": "application/json"},
            {"rel": "collection", "href": f"{base}collections/{cid}", "type": "application/json"},
            {"rel": "root", "href": base, "type": "application/json"},
        ]
        if href is not None:
            folder = posixpath.dirname(href)
            files = self.files_url(request).rstrip("/")
            out["assets"] = {
                key: {**asset, "href": asset["href"] if "://" in asset["href"]
                      else f"{files}/{posixpath.normpath(posixpath.join(folder, asset['href']))}"}
                for key, asset in doc.get("assets", {}).items()
            }
        if self.item_links:
            extra = self.item_links(out, request)
            out["links"] += extra
            if extra and not any("web-map-links" in e for e in out.get("stac_extensions", [])):
                out["stac_extensions"] = [*out.get("stac_extensions", []),
                                          "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"]
        return out

    def _item_collection(self, page: SearchPage, request: Request, next_link: dict | None) -> dict[str, Any]:
        links = [{"rel": "root", "href": get_base_url(request), "type": "application/json"}]
        if next_link:
            links.append(next_link)
        return {
            "type": "FeatureCollection",
            "features": [self._item_doc(doc, href, request) for doc, href in page.items],
            "links": links,
            "numberMatched": page.matched,
            "numberReturned": len(page.items),
        }

    @staticmethod
    def _geojson(doc: dict[str, Any]) -> Response:
        """``doc`` encoded here, in the request's worker thread: returned as a dict, FastAPI would walk
        every value of every item on the event loop (``jsonable_encoder``: 80 % of a 1,000-item search)."""
        return Response(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(),
                        media_type=GEOJSON)

    def _get_next(self, request: Request, token: str | None) -> dict | None:
        if token is None:
            return None
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"] + [("token", token)]
        return {"rel": "next", "type": GEOJSON, "method": "GET",
                "href": f"{str(request.url).split('?')[0]}?{urlencode(params)}"}

    # -- stac-fastapi endpoints ----------------------------------------------------------------

    def landing_page(self, **kwargs) -> dict[str, Any]:
        """stac-fastapi's landing page, its OpenAPI links pointed at this (possibly mounted) API."""
        page = dict(super().landing_page(**kwargs))
        base = get_base_url(kwargs["request"])
        targets = {"service-desc": f"{base}api", "service-doc": f"{base}api.html"}
        page["links"] = [{**link, "href": targets.get(link["rel"], link["href"])} for link in page["links"]]
        return page

    def all_collections(self, **kwargs) -> dict[str, Any]:
        request: Request = kwargs["request"]
        base = get_base_url(request)
        collections = [self._collection_doc(c, request) for c in self.backend.collections()]
        return {"collections": collections,
                "links": [{"rel": "root", "href": base, "type": "application/json"},
                          {"rel": "self", "href": f"{base}collections", "type": "application/json"}]}

    def get_collection(self, collection_id: str, **kwargs) -> dict[str, Any]:
        doc = self.backend.collection(collection_id)
        if doc is None:
            raise NotFoundError(f"unknown collection {collection_id!r}")
        return self._collection_doc(doc, kwargs["request"])

    def get_item(self, item_id: str, collection_id: str, **kwargs) -> dict[str, Any]:
        found = self.backend.item(collection_id, item_id)
        if found is None:
            raise NotFoundError(f"unknown item {item_id!r} in collection {collection_id!r}")
        return self._item_doc(*found, kwargs["request"])

    def item_collection(self, collection_id: str, bbox=None, datetime=None, limit: int = 10,
                        token: str | None = None, **kwargs) -> Response:
        request: Request = kwargs["request"]
        if self.backend.collection(collection_id) is None:
            raise NotFoundError(f"unknown collection {collection_id!r}")
        page = self.backend.search(SearchQuery(collections=[collection_id], bbox=_bbox(bbox),
                                               interval=_interval(datetime), limit=limit or 10, token=token))
        result = self._item_collection(page, request, self._get_next(request, page.next_token))
        base = get_base_url(request)
        result["links"] += [
            {"rel": "self", "href": str(request.url), "type": GEOJSON},
            {"rel": "collection", "href": f"{base}collections/{collection_id}", "type": "application/json"},
            {"rel": "parent", "href": f"{base}collections/{collection_id}", "type": "application/json"},
        ]
        return self._geojson(result)

    def get_search(self, collections=None, ids=None, bbox=None, intersects=None, datetime=None,
                   limit: int | None = 10, **kwargs) -> Response:
        request: Request = kwargs["request"]
        if bbox and intersects:
            raise SearchError("give bbox or intersects, not both")
        query = SearchQuery(
            collections=collections or None, ids=ids or None, bbox=_bbox(bbox),
            intersects=_json_param(intersects, "intersects"), interval=_interval(datetime),
            query=_json_param(kwargs.get("query"), "query"), limit=limit or 10, token=kwargs.get("token"),
        )
        page = self.backend.search(query)
        return self._geojson(self._item_collection(page, request, self._get_next(request, page.next_token)))

    def post_search(self, search_request, **kwargs) -> Response:
        request: Request = kwargs["request"]
        if search_request.bbox and search_request.intersects:
            raise SearchError("give bbox or intersects, not both")
        body = search_request.model_dump(exclude_none=True, by_alias=True)
        query = SearchQuery(
            collections=search_request.collections, ids=search_request.ids, bbox=_bbox(search_request.bbox),
            intersects=_json_param(search_request.intersects, "intersects"),
            interval=_interval(search_request.datetime), query=getattr(search_request, "query", None),
            limit=search_request.limit or 10, token=getattr(search_request, "token", None),
        )
        page = self.backend.search(query)
        next_link = None
        if page.next_token:
            body.pop("token", None)
            next_link = {"rel": "next", "type": GEOJSON, "method": "POST", "href": str(request.url),
                         "body": {**body, "token": page.next_token}, "merge": False}
        return self._geojson(self._item_collection(page, request, next_link))
