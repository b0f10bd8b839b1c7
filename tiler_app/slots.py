"""Tile renders take turns: at most RENDER_SLOTS at once in a worker process, the others wait in order.

A tile is rendered in Python holding the GIL for most of its 5 to 15 ms. Eight renders started together
in one process share that GIL and each finishes at the end of all of them, later than one after another
would (a map view's first tiles: 210 ms p50 for 8 clients of one process, 150 ms in turns). Only tile
routes wait; the STAC API, pages and statistics never do, and a tile the cache holds is answered before
it gets here.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

#: Renders one worker runs at once. One measured best: p50 of 8 clients 152 and 158 ms, against 165 and
#: 189 with two (the little a render does outside the GIL does not pay for sharing it).
RENDER_SLOTS = 1
#: What names a tile route in every router: TiTiler's ``/tiles/{tileMatrixSetId}/{z}/{x}/{y}``.
TILE_ROUTE = "/tiles/"


class RenderSlots:
    """ASGI middleware: requests for tiles hold one of ``slots`` while the app answers them."""

    def __init__(self, app: ASGIApp, slots: int = RENDER_SLOTS) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(slots)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or TILE_ROUTE not in scope["path"]:
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)
