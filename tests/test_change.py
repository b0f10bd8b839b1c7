"""Change between years: the change COG is later minus earlier with nodata where either year has none,
items per granule and year pair in a valid devscore-change collection, served as tiles and WMTS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from affine import Affine

from catalog.change import publish_changes
from catalog.validate import validate_catalog
from publisher.change import write_change_cog, year_pairs
from publisher.constants import SCORE_NODATA
from tests.conftest import serve_catalog
from tests.test_map_page import needs_browser, shoot


def _raster(path: Path, data: np.ndarray) -> Path:
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "nodata": SCORE_NODATA, "width": data.shape[1],
               "height": data.shape[0], "crs": "EPSG:32648", "transform": Affine(10, 0, 400000, 0, -10, 3400000)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def test_change_cog_is_later_minus_earlier_with_nodata_where_either_has_none(tmp_path):
    rng = np.random.default_rng(5)
    earlier, later = rng.random((700, 600)), rng.random((700, 600))
    earlier[:50] = SCORE_NODATA
    later[:, :40] = SCORE_NODATA
    cog, stats = write_change_cog(_raster(tmp_path / "a.tif", earlier), _raster(tmp_path / "b.tif", later),
                                  tmp_path / "change.tif")
    with rasterio.open(cog) as src:
        change = src.read(1)
        assert src.overviews(1) and src.nodata == SCORE_NODATA
    both = (earlier != SCORE_NODATA) & (later != SCORE_NODATA)
    np.testing.assert_allclose(change[both], (later - earlier)[both].astype(np.float32), atol=1e-6)
    assert (change[~both] == SCORE_NODATA).all()
    assert stats["mean"] == pytest.approx(float((later - earlier)[both].mean()), abs=1e-6)
    assert stats["valid_percent"] == pytest.approx(100 * both.mean(), abs=1e-3)


def test_year_pairs_consecutive_and_first_to_last():
    assert year_pairs([2023, 2020, 2021]) == [(2020, 2021), (2021, 2023), (2020, 2023)]
    assert year_pairs([2022, 2023]) == [(2022, 2023)]
    assert year_pairs([2023]) == []


def test_change_items_published_valid_and_served(served_catalog, tmp_path, schema_dir):
    catalog = Path(shutil.copytree(served_catalog[1], tmp_path / "catalog"))
    result = publish_changes(catalog)
    assert result.added == ["48RVU-2022-2023"]  # the only granule with two years
    item_file = catalog / "devscore-change" / "48RVU-2022-2023" / "48RVU-2022-2023.json"
    item = json.loads(item_file.read_text())
    render = item["properties"]["renders"]["default"]
    low, high = render["rescale"][0]
    assert low == -high and render["colormap_name"] in ("rdbu", "rdbu_r", "rdylbu", "brbg", "piyg", "puor")
    derived = sorted(link["href"] for link in item["links"] if link["rel"] == "derived_from")
    assert [Path(h).name for h in derived] == ["48RVU-2022.json", "48RVU-2023.json"]
    assert all((item_file.parent / h).resolve().is_file() for h in derived)
    assert validate_catalog(catalog, schema_dir) == []
    with serve_catalog(catalog, tmp_path / "serve.log") as base:
        listed = httpx.get(f"{base}/change/layers", timeout=60).json()["pairs"]
        assert [p["pair"] for p in listed] == ["2022-2023"]
        tile = listed[0]["tiles"].format(z=8, x=202, y=105)
        answer = httpx.get(base + tile, timeout=60)
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        assert httpx.get(f"{base}/change/items/48RVU-2022-2023/WMTSCapabilities.xml", timeout=60).status_code == 200
        assert httpx.get(base + listed[0]["wmts"], timeout=60).status_code == 200
        assert httpx.get(f"{base}/change/pairs/1999-2000/tiles/WebMercatorQuad/8/202/105.png", timeout=60).status_code == 404
        stac = httpx.get(f"{base}/stac/collections", timeout=60).json()
        assert "devscore-change" in [c["id"] for c in stac["collections"]]
        if needs_browser.args[0]:
            return
        png = tmp_path / "change.png"  # the map page in change mode: the pair's tiles drawn, its value on click
        summary = shoot(f"{base}/?layer=change-2022-2023", png, wait_for="change 2022-2023", click="600,400")
        assert summary["tiles"]["loaded"] > 0 and summary["tiles"]["errors"] == []
        assert not [r for r in summary["responses"] if r["status"] >= 400 and not r["url"].endswith("favicon.ico")]
        assert "decline" in summary["text"] and "growth" in summary["text"]
        assert any("/change/pairs/2022-2023/tiles/" in r["url"] and r["status"] == 200 for r in summary["responses"])


def test_change_agreement_follows_truth_change_and_shuffled_control_does_not():
    import pandas as pd

    from publisher.change_quality import change_agreement

    rng = np.random.default_rng(2)
    rows, cols = np.divmod(np.arange(1024), 32)
    base = rng.random(1024)
    growth = {2022: 0.0, 2023: rng.random(1024) * 0.3, 2024: rng.random(1024) * 0.5}
    truth = pd.concat([pd.DataFrame({"tile": "48RVU", "year": y, "row": rows, "col": cols, "truth": base + g,
                                     "plain": True}) for y, g in growth.items()])
    scores = truth.assign(score=truth["truth"] + rng.normal(0, 0.03, len(truth)),
                          datetime=pd.to_datetime(truth["year"].astype(str) + "-04-01", utc=True))
    report = change_agreement(scores[["tile", "datetime", "row", "col", "score"]], truth)
    assert [p.id for p in report.pairs] == ["48RVU-2022-2023", "48RVU-2023-2024", "48RVU-2022-2024"]
    assert report.all.spearman > 0.8 and abs(report.shuffled_control.spearman) < 0.1
    assert change_agreement(scores[scores["datetime"].dt.year == 2023][["tile", "datetime", "row", "col", "score"]],
                            truth) is None


def test_change_cog_second_band_is_the_spread_of_the_difference(tmp_path):
    rng = np.random.default_rng(6)
    earlier, later = rng.random((300, 200)), rng.random((300, 200))
    u0, u1 = rng.random((300, 200)) * 0.1, rng.random((300, 200)) * 0.2
    u1[:10] = SCORE_NODATA
    cog, _ = write_change_cog(_raster(tmp_path / "a.tif", earlier), _raster(tmp_path / "b.tif", later),
                              tmp_path / "change.tif", spreads=(_raster(tmp_path / "ua.tif", u0),
                                                                _raster(tmp_path / "ub.tif", u1)))
    with rasterio.open(cog) as src:
        assert src.count == 2
        spread = src.read(2)
    np.testing.assert_allclose(spread[10:], np.hypot(u0, u1)[10:].astype(np.float32), atol=1e-6)
    assert (spread[:10] == SCORE_NODATA).all()
