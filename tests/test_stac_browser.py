"""The real STAC Browser (built from its npm package) opens the served catalog in headless Chromium:
the collection, its items, and an item's map layer (drawn from the API's web-map links) appear."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image
from rio_tiler.colormap import cmap

from tests.conftest import free_port
from tests.test_map_page import ROOT, colours, needs_browser, shoot

DIST = ROOT / ".cache" / "stac-browser" / "dist"
ITEM_TILES = "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/"


def score_pixels(path) -> tuple[int, int]:
    """Pixels of a screenshot painted in RdYlGn_r, and how many of its 256 colours they use."""
    palette = np.array([rgba[:3] for _, rgba in sorted(cmap.get("rdylgn_r").items())], dtype=np.int32)
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    found, counts = np.unique(pixels, axis=0, return_counts=True)
    distance = ((found[:, None, :].astype(np.int32) - palette[None, :, :]) ** 2).sum(axis=-1)
    close = distance.min(axis=1) <= 12  # exact palette colours, give or take rounding
    return int(counts[close].sum()), len(np.unique(distance[close].argmin(axis=1)))


@pytest.fixture(scope="module")
def stac_browser():
    """STAC Browser's static build served on 127.0.0.1."""
    if not (DIST / "index.html").exists():
        pytest.skip("make test builds STAC Browser into .cache/stac-browser/dist")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(DIST)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def _external(url: str) -> str:
    """STAC Browser's route for a catalog outside its own origin."""
    return "#/external/" + url.replace("http://", "http:/")


@needs_browser
@pytest.mark.slow
def test_stac_browser_shows_collection_and_items(stac_browser, served_catalog, tmp_path):
    base, _ = served_catalog
    png = tmp_path / "collection.png"
    summary = shoot(f"{stac_browser}/{_external(f'{base}/catalog/devscore-scores/collection.json')}", png,
                    wait_for="Development scores 48RVU 2023")
    text = summary["text"]
    assert "devscore economic-development scores" in text
    for title in ("Development scores 01KAB 2023", "Development scores 48RUU 2023", "Development scores 48RVU 2022"):
        assert title in text
    thumbnails = [r for r in summary["responses"] if re.search(r"/thumbnail-[0-9a-f]{12}\.png$", r["url"])]
    assert thumbnails and all(r["status"] == 200 for r in thumbnails)
    assert colours(png) > 20


@needs_browser
@pytest.mark.slow
def test_stac_browser_opens_an_api_item_with_its_web_map_links(stac_browser, served_catalog, tmp_path):
    """The API item opens with its xyz/tilejson/wmts links listed and its map draws the xyz layer:
    STAC Browser asks our server for the item's score tiles and paints them in RdYlGn_r."""
    base, _ = served_catalog
    png = tmp_path / "item.png"
    item_url = f"{base}/stac/collections/devscore-scores/items/48RVU-2023"
    summary = shoot(f"{stac_browser}/{_external(item_url)}", png, wait_for="Development scores 48RVU 2023")
    assert item_url in [r["url"] for r in summary["responses"]]
    assert summary["text"].count("Development score 48RVU-2023 (RdYlGn_r, 0 to 1)") >= 3  # xyz, tilejson, wmts

    # the xyz link's tiles, requested from our server's item tile route, answer 200 PNGs
    tiles = [r for r in summary["responses"] if r["url"].startswith(base + ITEM_TILES)]
    assert len(tiles) >= 2 and all(r["status"] == 200 for r in tiles), tiles
    # tiles the map asks for beyond the granule answer 404 (JSON, which Chromium's ORB then blocks)
    west, south, east, north = httpx.get(item_url).json()["bbox"]
    tms = morecantile.tms.get("WebMercatorQuad")
    for failure in (f for f in summary["failed"] if f["url"].startswith(base + ITEM_TILES)):
        z, x, y = (int(v) for v in failure["url"][len(base + ITEM_TILES):].removesuffix(".png").split("/"))
        bounds = tms.bounds(morecantile.Tile(x, y, z))
        assert bounds.left >= east or bounds.right <= west or bounds.bottom >= north or bounds.top <= south, failure

    # and the screenshot shows the score colours (a footprint-only map has none)
    painted, shades = score_pixels(png)
    assert painted > 10_000 and shades > 20, (painted, shades)
    assert colours(png) > 20
