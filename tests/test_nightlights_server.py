"""Night lights in a real `devscore serve`: tiles per item and per year, the correlation endpoint
(granule-year and bbox, bad parameters 4xx in one line) and the compare page in headless Chromium."""

from __future__ import annotations

import io

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image

from publisher.grid import TileGrid
from tests.conftest import serve_catalog
from tests.nightlights_fixtures import publish_field_scores, write_vnl_like
from tests.test_map_page import colours, needs_browser, shoot

TILE, YEAR = "48RVU", 2023


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A catalog with scores and ingested, compared night lights of 48RVU-2023, served on 127.0.0.1."""
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest

    tmp = tmp_path_factory.mktemp("nightlights-served")
    catalog = publish_field_scores(tmp, (TILE,), YEAR)
    ingest([write_vnl_like(tmp / f"VNL_npp_{YEAR}_global.average.dat.tif", (103.7, 29.5, 105.35, 31.0), YEAR)],
           YEAR, catalog)
    report = compare_catalog(catalog)
    with serve_catalog(catalog, tmp / "serve.log") as base:
        yield base, report


def _tile_url(prefix: str, z: int = 9) -> str:
    west, south, east, north = TileGrid.from_tile_id(TILE).bbox
    t = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, z)
    return f"{prefix}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"


@pytest.mark.parametrize("prefix", ["/nightlights/items/48RVU-2023", "/nightlights/years/2023"])
def test_night_light_tiles_use_the_log_scale_default(served, prefix):
    base, _ = served
    r = httpx.get(base + _tile_url(prefix), timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert image[..., 3].max() == 255 and len(np.unique(image.reshape(-1, 4), axis=0)) > 20
    linear = httpx.get(base + _tile_url(prefix) + "?colormap_name=magma", timeout=60)
    assert linear.status_code == 200 and linear.content != r.content  # the default is not a plain linear ramp
    wmts = httpx.get(f"{base}{prefix}/WMTSCapabilities.xml", timeout=60)
    assert wmts.status_code == 200 and "<Capabilities" in wmts.text and "nightlights-" in wmts.text


def test_correlation_of_a_granule_year_matches_the_report(served):
    base, report = served
    body = httpx.get(f"{base}/nightlights/correlation", params={"item": "48RVU-2023"}, timeout=60).json()
    expected = report.rows[0].correlation
    assert body["n"] == expected.n and body["items"] == ["48RVU-2023"] and body["year"] == YEAR
    for key in ("pearson", "pearson_log1p", "spearman"):
        assert body[key] == pytest.approx(getattr(expected, key), abs=1e-4)


def test_correlation_of_a_bbox_uses_the_chips_inside(served):
    base, report = served
    west, south, east, north = TileGrid.from_tile_id(TILE).bbox
    whole = httpx.get(f"{base}/nightlights/correlation",
                      params={"bbox": f"{west - 1},{south - 1},{east + 1},{north + 1}", "year": YEAR}).json()
    assert whole["n"] == report.rows[0].correlation.n
    half = httpx.get(f"{base}/nightlights/correlation",
                     params={"bbox": f"{west},{south},{(west + east) / 2},{north}", "year": YEAR}).json()
    assert 400 < half["n"] < whole["n"] - 400 and half["bbox"][2] == pytest.approx((west + east) / 2)


@pytest.mark.parametrize("params, status", [
    ({}, 400),
    ({"item": "48RVU-2023", "year": 2023}, 400),
    ({"bbox": "1,2,3", "year": 2023}, 400),
    ({"bbox": "105,30,104,31", "year": 2023}, 400),
    ({"bbox": "a,b,c,d", "year": 2023}, 400),
    ({"bbox": "104,30,105,31"}, 400),
    ({"item": "99XYZ-2023"}, 404),
    ({"bbox": "104,30,105,31", "year": 2019}, 404),
    ({"bbox": "10,10,11,11", "year": 2023}, 404),
    ({"bbox": "104,30,105,31", "year": "soon"}, 422),
])
def test_bad_parameters_answer_4xx_in_one_line(served, params, status):
    base, _ = served
    r = httpx.get(f"{base}/nightlights/correlation", params=params)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail


def test_compare_layers_and_unknown_ids(served):
    base, _ = served
    layers = httpx.get(f"{base}/nightlights/layers", params={"year": YEAR}).json()
    assert layers["scores"].startswith("/collections/devscore-scores/years/2023/")
    assert layers["nightlights"].startswith("/nightlights/years/2023/")
    assert httpx.get(f"{base}/nightlights/layers", params={"item": "nope"}).status_code == 404
    assert httpx.get(f"{base}/nightlights/items/nope/info").status_code == 404
    assert httpx.get(f"{base}/nightlights/years/1999/info").status_code == 404


@needs_browser
@pytest.mark.parametrize("query", ["year=2023", "item=48RVU-2023"])
def test_compare_page_shows_both_layers_and_the_correlation(served, tmp_path, query):
    base, report = served
    png = tmp_path / "compare.png"
    summary = shoot(f"{base}/nightlights/compare?{query}", png, wait_for="Spearman")
    tiles = summary["tiles"]
    assert tiles["sources"]["scores"] > 0 and tiles["sources"]["nightlights"] > 0 and tiles["errors"] == []
    tile_responses = [r for r in summary["responses"] if "/tiles/" in r["url"]]
    for layer in ("/nightlights/", "/devscore-scores/"):
        assert any(layer in r["url"] and r["status"] == 200 for r in tile_responses), layer
    # a mosaic answers 204 (no content) for a tile beside its footprint, nothing else but 200
    assert [r for r in tile_responses if r["status"] not in (200, 204)] == []
    assert not [r for r in summary["responses"] if r["status"] >= 400 and not r["url"].endswith("favicon.ico")]
    assert [e for e in summary["errors"] if "favicon" not in e and "404" not in e] == []
    assert f"Spearman {report.rows[0].correlation.spearman:.2f}" in summary["text"]
    image = np.asarray(Image.open(png).convert("RGB"))
    body = image[60:, :]
    left, right = body[:, : body.shape[1] // 2], body[:, body.shape[1] // 2 :]
    assert colours_of(left) > 30 and colours_of(right) > 30
    assert colours(png) > 60


def colours_of(pixels: np.ndarray) -> int:
    """Distinct colours in part of a screenshot."""
    return len(np.unique(pixels.reshape(-1, 3), axis=0))
