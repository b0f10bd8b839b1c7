"""A cache of rendered tiles shared by every worker of the server, so a warm map (the same tiles asked
for again by every viewer, QGIS re-rendering on pan) costs a look-up instead of a warped read and a
PNG encode.

The store is diskcache (SQLite and files in one folder, safe across processes, bounded in bytes), so
all uvicorn workers given the same folder share one cache. Keys hold everything that shapes an
answer: the request path and query string, the Accept header (content negotiation), the effective
base URL (scheme, Host, root path) for the tile-set documents that embed it (image tiles do not, so
servers that share a cache folder share their tiles), and the catalog's
version: a publish that replaces an item changes the version, so no stale tile outlives it, and a
request with a foreign Host or Accept cannot poison what other clients get. Only successful GET tile
responses are kept.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Hashable

import anyio
import diskcache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.reader import CatalogUnavailable
from tiler_app.errors import error_response

#: Marks a response served from the cache (``hit``) or rendered and stored (``miss``).
CACHE_HEADER = b"x-devscore-cache"
#: Largest single response kept; larger ones are served but not stored.
MAX_ENTRY_BYTES = 4 * 2**20


def open_store(directory: str | None, max_mb: int) -> diskcache.Cache:
    """The tile store in ``directory`` (a new temporary folder when None), evicting past ``max_mb``."""
    return diskcache.Cache(directory, size_limit=max_mb * 2**20, eviction_policy="least-recently-stored")


#: An image tile, ``.../tiles/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]``: its bytes never name the request's host.
IMAGE_TILE = re.compile(r"/tiles/[^/]+/\d+/\d+/\d+(\.\w+)?$")


def cache_key(scope: Scope) -> tuple:
    """What shapes a response besides the catalog: path, query, Accept and, for documents (tile matrix
    sets, links) that embed it, the effective base URL. Image tiles leave the base URL out, so servers
    behind other addresses that share one cache (``--tile-cache-dir``) share their tiles."""
    headers = dict(scope.get("headers", []))
    key = (scope["path"], scope["query_string"], headers.get(b"accept", b""))
    if IMAGE_TILE.search(scope["path"]):
        return key
    return (*key, scope.get("scheme", "http"), headers.get(b"host", b""), scope.get("root_path", ""))


class TileCache:
    """ASGI middleware: answer tile requests from ``store`` when it holds them, else render and keep them."""

    def __init__(self, app: ASGIApp, version: Callable[[], Hashable], store: diskcache.Cache) -> None:
        self.app, self.version, self.store = app, version, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or "/tiles/" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        # the catalog's version (file stats) and the store (SQLite) are blocking I/O: off the event loop
        try:
            key = (*cache_key(scope), await anyio.to_thread.run_sync(self.version))
        except CatalogUnavailable as exc:  # outside the app's error handlers: answered here, the same way
            await error_response(503, exc)(scope, receive, send)
            return
        entry = await anyio.to_thread.run_sync(self.store.get, key)
        if entry is not None:
            headers, body = entry
            await send({"type": "http.response.start", "status": 200, "headers": [*headers, (CACHE_HEADER, b"hit")]})
            await send({"type": "http.response.body", "body": body})
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] == 200:
                    message = {**message, "headers": [*message.get("headers", []), (CACHE_HEADER, b"miss")]}
            elif message["type"] == "http.response.body" and start.get("status") == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    if len(body) <= MAX_ENTRY_BYTES:
                        entry = (list(start.get("headers", [])), body)
                        await anyio.to_thread.run_sync(self.store.set, key, entry)
            await send(message)

        await self.app(scope, receive, capture)
