"""HTTP details of the server: HEAD on every GET route, one catalog version per request, and catalog files
served without hidden files."""

from __future__ import annotations

import os
from typing import Any

from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware answering HEAD like GET without the body (some clients probe with HEAD)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class OneCatalogVersion:
    """ASGI middleware: each request reads a database catalog's version at most once
    (``catalog.pgstac.read.PgstacCatalog.one_version``)."""

    def __init__(self, app: ASGIApp, catalog: Any) -> None:
        self.app, self.catalog = app, catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.catalog.one_version():
            await self.app(scope, receive, send)


class CatalogFiles(StaticFiles):
    """The static catalog's files; hidden files and folders (``.lock``, ``.staging/``) answer 404."""

    async def get_response(self, path: str, scope: Scope):
        if any(part.startswith(".") and part != "." for part in os.path.normpath(path).split(os.sep)):
            raise HTTPException(status_code=404, detail="not found")
        return await super().get_response(path, scope)
