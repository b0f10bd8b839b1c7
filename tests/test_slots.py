"""Tile requests take turns for RENDER_SLOTS; every other request goes straight through."""

from __future__ import annotations

import asyncio

import httpx

from tiler_app.slots import RENDER_SLOTS, RenderSlots


def test_tiles_wait_for_a_slot_and_other_routes_do_not():
    running = {"tiles": 0, "other": 0}
    most = {"tiles": 0, "other": 0}

    async def app(scope, receive, send):
        kind = "tiles" if "/tiles/" in scope["path"] else "other"
        running[kind] += 1
        most[kind] = max(most[kind], running[kind])
        await asyncio.sleep(0.05)  # a render that takes a while
        running[kind] -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": kind.encode()})

    async def main() -> list[str]:
        transport = httpx.ASGITransport(app=RenderSlots(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            paths = [f"/collections/c/years/2023/tiles/WebMercatorQuad/9/{x}/200.png" for x in range(6)]
            paths += ["/stac/search", "/collections/c/items/i/statistics", "/page"]
            responses = await asyncio.gather(*(http.get(path) for path in paths))
        return [response.text for response in responses]

    answers = asyncio.run(main())
    assert answers == ["tiles"] * 6 + ["other"] * 3
    assert most == {"tiles": RENDER_SLOTS, "other": 3}
