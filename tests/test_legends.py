"""Legends and layers: /legend.png per layer kind, a LegendURL in every WMTS layer, night lights beside
the scores in /layers and as web-map links of API items and collections, each link titled by its kind."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image



@pytest.mark.parametrize("collection", ["devscore-scores", "viirs-nightlights"])
def test_legend_png_draws_a_ramp(demo_served, collection):
    base, _ = demo_served
    response = httpx.get(f"{base}/legend.png?collection={collection}", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 100  # a ramp of colours, with its ticks and title
    assert httpx.get(f"{base}/legend.png?collection=nope", timeout=30).status_code == 422


@pytest.mark.parametrize("prefix,kind", [("/collections/devscore-scores/years/2023", "devscore-scores"),
                                         ("/collections/devscore-scores/items/48RVU-2023", "devscore-scores"),
                                         ("/nightlights/years/2023", "viirs-nightlights")])
def test_every_wmts_layer_has_a_legend_url(demo_served, prefix, kind):
    base, _ = demo_served
    text = httpx.get(f"{base}{prefix}/WMTSCapabilities.xml", timeout=60).text
    assert text.count("<Layer>") == text.count("<LegendURL") > 0
    assert f'xlink:href="{base}/legend.png?collection={kind}"' in text


def test_layers_list_night_lights_with_their_legend(demo_served):
    base, _ = demo_served
    layers = httpx.get(f"{base}/layers", timeout=30).json()["layers"]
    kinds = {layer["collection"]: layer for layer in layers}
    assert set(kinds) == {"devscore-scores", "viirs-nightlights"}
    lights = kinds["viirs-nightlights"]
    assert lights["legend"].endswith("collection=viirs-nightlights") and "Night lights" in lights["title"]
    assert httpx.get(lights["xyz"].replace("{z}/{x}/{y}", "8/202/105"), timeout=60).status_code in (200, 204)
    assert f"{lights['wmts_layer']}</ows:Identifier>" in httpx.get(lights["wmts"], timeout=60).text


def test_web_map_links_of_night_lights_titled_by_kind(demo_served):
    base, _ = demo_served
    item = httpx.get(f"{base}/stac/collections/viirs-nightlights/items/48RVU-2023", timeout=30).json()
    links = {link["rel"]: link for link in item["links"] if link["rel"] in ("xyz", "tilejson", "wmts")}
    assert set(links) == {"xyz", "tilejson", "wmts"}
    titles = [link["title"] for link in links.values()]
    assert len(set(titles)) == 3 and all(t.startswith("Night lights 48RVU-2023") for t in titles)
    assert links["xyz"]["href"].startswith(f"{base}/nightlights/items/48RVU-2023/tiles/")
    collection = httpx.get(f"{base}/stac/collections/devscore-scores", timeout=30).json()
    titles = [link["title"] for link in collection["links"] if link["rel"] in ("xyz", "tilejson", "wmts")]
    assert len(titles) == len(set(titles)) == 3  # one year, three kinds
