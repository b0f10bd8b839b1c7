"""Every zoom a client is told about answers: the WMTS capabilities, TileJSON and the server's limits
agree, and tiles above the data's native zoom are over-zoomed (drawn) up to OVERZOOM_MAX, not refused."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image

from publisher.grid import TileGrid
from tiler_app.limits import MAX_ZOOM, OVERZOOM_MAX
from tiler_app.mosaic import MAXZOOM

ITEM = "/collections/devscore-scores/items/48RVU-2023"
YEAR = "/collections/devscore-scores/years/2023"
NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


def advertised(capabilities: str, grid: str) -> list[int]:
    """Zoom levels the WMTS capabilities list for the layer on ``grid`` (its TileMatrixSetLimits)."""
    root = ET.fromstring(capabilities)
    for layer in root.iter(f"{{{NS['w']}}}Layer"):
        if layer.find("ows:Identifier", NS).text.endswith(f"_{grid}_default"):
            return sorted(int(m.text) for m in layer.iter(f"{{{NS['w']}}}TileMatrix") if m.text.isdigit())
    raise AssertionError(f"no {grid} layer in the capabilities")


def painted(png: bytes) -> float:
    """Share of a tile's pixels that are not transparent."""
    return float((np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[..., 3] > 0).mean())


@pytest.mark.parametrize("prefix", [ITEM, YEAR])
def test_every_advertised_zoom_answers_and_draws(served_catalog, prefix):
    base, _ = served_catalog
    capabilities = httpx.get(f"{base}{prefix}/WMTSCapabilities.xml", timeout=60)
    assert capabilities.status_code == 200
    west, south, east, north = TileGrid.from_tile_id("48RVU").bbox
    lon, lat = (west + east) / 2, (south + north) / 2  # a scored chip
    for grid in ("WebMercatorQuad", "WGS1984Quad"):
        zooms = advertised(capabilities.text, grid)
        assert zooms[-1] == MAX_ZOOM[grid] and zooms[-1] > MAXZOOM - (grid == "WGS1984Quad")
        for z in (MAXZOOM, (MAXZOOM + zooms[-1]) // 2, zooms[-1]):  # native, over-zoomed, deepest advertised
            tile = morecantile.tms.get(grid).tile(lon, lat, z)
            response = httpx.get(f"{base}{prefix}/tiles/{grid}/{z}/{tile.x}/{tile.y}.png", timeout=60)
            assert response.status_code == 200, (grid, z, response.text)
            assert painted(response.content) == 1.0  # over-zoomed: the chip's one colour, all over
        past = morecantile.tms.get(grid).tile(lon, lat, zooms[-1] + 1)
        refused = httpx.get(f"{base}{prefix}/tiles/{grid}/{past.z}/{past.x}/{past.y}.png", timeout=60)
        assert refused.status_code == 400 and "max zoom" in refused.json()["detail"]


def test_tilejson_agrees_with_the_limits(served_catalog):
    base, _ = served_catalog
    tilejson = httpx.get(f"{base}{YEAR}/WebMercatorQuad/tilejson.json?tilesize=256", timeout=60).json()
    # the data's native zoom: web maps and QGIS XYZ over-zoom past it themselves
    assert tilejson["maxzoom"] == MAXZOOM <= OVERZOOM_MAX
    deep = httpx.get(f"{base}{YEAR}/WebMercatorQuad/tilejson.json?maxzoom={OVERZOOM_MAX}", timeout=60).json()
    assert deep["maxzoom"] == OVERZOOM_MAX
    template = re.sub(r"\?.*$", "", deep["tiles"][0])
    west, south, east, north = tilejson["bounds"]
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2 + 0.2, OVERZOOM_MAX)
    url = template.replace("{z}", str(tile.z)).replace("{x}", str(tile.x)).replace("{y}", str(tile.y))
    assert httpx.get(url, timeout=60).status_code in (200, 204)
