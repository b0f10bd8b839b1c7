"""Logs a person can read: the server's log holds its access lines and devscore's own messages, and no
library chatter (rio-tiler, titiler, cogeo-mosaic at INFO) unless --log-level debug."""

from __future__ import annotations

import re

import httpx
import morecantile

from publisher.grid import TileGrid

LIBRARY_INFO = re.compile(r"^\S+ \S+ INFO (?!devscore|publisher|catalog|tiler_app)\S+: ")


def test_server_log_has_access_lines_and_no_library_info(served_catalog):
    base, catalog = served_catalog
    west, south, east, north = TileGrid.from_tile_id("48RVU").bbox
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 9)
    for prefix in ("/collections/devscore-scores/years/2023", "/collections/devscore-scores/items/48RVU-2023"):
        url = f"{base}{prefix}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?colormap_name=viridis"
        assert httpx.get(url, timeout=60).status_code == 200
    log = (catalog.parent / "serve.log").read_text().splitlines()
    assert any('"GET /collections/devscore-scores/years/2023/tiles/' in line for line in log)  # access lines
    assert [line for line in log if LIBRARY_INFO.match(line)] == []
