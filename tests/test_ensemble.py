"""The scorer ensemble (issue 18 item 2): members trained from the main model on bootstrap resamples of the
POGs give every chip a spread; it is published as an ``uncertainty`` asset and chips-table column (valid
STAC), served as tiles with a legend, carried into change items and zonal figures, and its calibration
against the truth is in the quality report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio

from publisher.scoring.ensemble import EnsembleConfig, bootstrap_ranking, score_ensemble, train_members
from publisher.scoring.train import TrainConfig, train
from tests.conftest import module_folder
from tests.ranking_fixture import build_ranking

BIN = Path(sys.executable).parent
TINY = dict(input_size=32, batch_size=8, steps_per_epoch=2, max_epochs=1, patience=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def devscore(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "devscore"), *args], capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def ensemble(request, tmp_path_factory):
    """A two-year region, a truth ranking with several differing POGs, a tiny main model, three members and
    their scores table: (region, chips, ranking, members, scores)."""
    with module_folder(request, tmp_path_factory, "ensemble") as tmp:
        yield _ensemble(tmp)


def _ensemble(tmp: Path):
    devscore("synth", "--out", str(tmp / "R"), "--tiles", "48RVU", "--years", "2022,2023", "--size", "352")
    devscore("chips", "--tile", "48RVU", "--year", "2022,2023", "--source-catalog", str(tmp / "R" / "source"),
             "--max-cloud", "100", "--out", str(tmp / "C"))
    ranking = tmp / "ranking"
    build_ranking(tmp / "R", tmp / "C", ranking)
    # annotators who disagree: each POG swaps one pair of neighbouring levels
    levels = json.loads((ranking / "targets.json").read_text())["levels"]
    pogs = []
    for swap in range(len(levels) - 1):
        order = [*levels[:swap], levels[swap + 1], levels[swap], *levels[swap + 2:]]
        pogs.append(">".join("=".join(map(str, level)) for level in order))
    (ranking / "pogs.txt").write_text("\n".join(pogs) + "\n")
    main = train(ranking, tmp / "C", tmp / "model", TrainConfig(**TINY), progress=False, plot=False).checkpoint
    config = EnsembleConfig(members=3, steps=2)
    members = train_members(ranking, tmp / "C", main, tmp / "ensemble", config, TINY, progress=False)
    scores = score_ensemble(members, tmp / "C", tmp / "scores.parquet", progress=False)
    return tmp / "R", tmp / "C", ranking, members, scores


def test_bootstrap_resamples_change_the_targets(ensemble, tmp_path):
    _, _, ranking, _, _ = ensemble
    original = json.loads((ranking / "targets.json").read_text())
    drawn = [json.loads((bootstrap_ranking(ranking, tmp_path / str(seed), seed) / "targets.json").read_text())
             for seed in range(4)]
    assert all(set(d["targets"]) == set(original["targets"]) for d in drawn)
    assert any(d["targets"] != original["targets"] for d in drawn)
    assert (tmp_path / "0" / "clusters.parquet").stat().st_size == (ranking / "clusters.parquet").stat().st_size


def test_members_differ_and_each_chip_gets_a_spread(ensemble):
    _, _, _, members, scores = ensemble
    assert len(members) == 3 and len({m.resolve() for m in members}) == 3
    table = pd.read_parquet(scores)
    assert {"score", "uncertainty"} <= set(table.columns)
    assert table["uncertainty"].notna().all() and (table["uncertainty"] >= 0).all()
    assert table["uncertainty"].gt(0).mean() > 0.9  # members that differ


def test_trained_members_are_kept_on_a_rerun(ensemble):
    region, chips, ranking, members, _ = ensemble
    before = [m.stat().st_mtime_ns for m in members[1:]]
    again = train_members(ranking, chips, members[0], members[1].parents[2], EnsembleConfig(members=3, steps=2),
                          TINY, progress=False)
    assert again == members and [m.stat().st_mtime_ns for m in again[1:]] == before


@pytest.fixture(scope="module")
def published(ensemble, tmp_path_factory):
    """The ensemble's scores published into a catalog, with change items and zonal figures."""
    from catalog.change import publish_changes
    from catalog.ingest import publish_table
    from catalog.zonal.publish import publish_zonal
    from publisher.zonal.counties import COUNTY_FIELD, write_counties

    catalog = tmp_path_factory.mktemp("published") / "catalog"
    publish_table(ensemble[4], catalog, device="cpu", progress=False)
    publish_changes(catalog)
    zones = catalog.parent / "counties.gpkg"
    write_counties(["48RVU"], zones)
    zonal = publish_zonal(catalog, zones, COUNTY_FIELD)
    return catalog, zonal


def test_uncertainty_asset_validates_and_matches_the_table(ensemble, published, schema_dir):
    from catalog.validate import OfflineSchemaValidator, validate_catalog

    catalog, _ = published
    assert validate_catalog(catalog, schema_dir) == []
    path = catalog / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json"
    item = pystac.Item.from_file(str(path))
    item.validate(validator=OfflineSchemaValidator(schema_dir))
    asset = item.assets["uncertainty"]
    assert asset.extra_fields["raster:bands"][0]["statistics"]["maximum"] > 0
    assert asset.extra_fields["file:checksum"].startswith("1220")
    assert item.properties["renders"]["uncertainty"]["assets"] == ["uncertainty"]
    table = pd.read_parquet(ensemble[4])
    chips = pd.read_parquet(path.parent / item.assets["chips"].href)
    assert "uncertainty" in {c["name"] for c in item.assets["chips"].extra_fields["table:columns"]}
    ours = table[pd.to_datetime(table["datetime"]).dt.year == 2023].set_index(["row", "col"])["uncertainty"]
    theirs = chips.dropna(subset=["score"]).set_index(["row", "col"])["uncertainty"]
    assert np.allclose(theirs.loc[ours.index].to_numpy(), ours.to_numpy())
    with rasterio.open(path.parent / asset.href) as src:
        assert "uncertainty" in src.descriptions[0]
        band = src.read(1)
        assert np.isclose(band[band != src.nodata].max(), ours.max(), atol=1e-6)


def test_change_items_carry_the_spread_of_the_difference(published):
    catalog, _ = published
    item = next((catalog / "devscore-change").glob("*/*.json"))
    doc = json.loads(item.read_text())
    with rasterio.open(item.parent / doc["assets"]["change"]["href"]) as src:
        assert src.count == 2
        spread = src.read(2)
    assert spread[spread != -9999.0].min() >= 0 and spread[spread != -9999.0].max() > 0


def test_zonal_figures_have_a_mean_uncertainty(published):
    _, zonal = published
    assert zonal.table["mean_uncertainty"].notna().any()
    assert (zonal.table["mean_uncertainty"].dropna() > 0).all()


def test_uncertainty_tiles_and_legend_are_served(published, tmp_path):
    from tests.conftest import serve_catalog

    catalog, _ = published
    with serve_catalog(catalog, tmp_path / "serve.log") as base:
        layers = httpx.get(f"{base}/uncertainty/layers", timeout=30).json()
        assert [y["year"] for y in layers["years"]] == [2022, 2023]
        tilejson = httpx.get(f"{base}{layers['years'][1]['tilejson']}", timeout=30).json()
        tile = httpx.get(tilejson["tiles"][0].replace("{z}/{x}/{y}", _centre_tile(tilejson)), timeout=60)
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
        legend = httpx.get(f"{base}{layers['legend']}", timeout=30)
        assert legend.status_code == 200 and legend.content[:4] == b"\x89PNG"
        wmts = httpx.get(f"{base}/uncertainty/years/2023/WMTSCapabilities.xml", timeout=30).text
        assert "legend.png?collection=uncertainty" in wmts
        lon, lat = tilejson["center"][:2]
        point = httpx.get(f"{base}/uncertainty/items/48RVU-2023/point/{lon},{lat}", timeout=30)
        assert point.status_code == 200 and point.json()["values"][0] >= 0
        assert httpx.get(f"{base}/uncertainty/years/1999/WebMercatorQuad/tilejson.json", timeout=30).status_code == 404
        box = [[lon - 0.2, lat - 0.2], [lon + 0.2, lat - 0.2], [lon + 0.2, lat + 0.2], [lon - 0.2, lat + 0.2]]
        zonal = httpx.post(f"{base}/zonal", json={"type": "Polygon", "coordinates": [[*box, box[0]]]}, timeout=60)
        assert zonal.status_code == 200, zonal.text
        assert all(y["mean_uncertainty"] is not None and y["mean_uncertainty"] > 0 for y in zonal.json()["years"])


def _centre_tile(tilejson: dict) -> str:
    import morecantile

    lon, lat, _ = tilejson["center"]
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, tilejson["maxzoom"] - 4)
    return f"{tile.z}/{tile.x}/{tile.y}"


def test_quality_report_has_the_calibration(ensemble, tmp_path):
    from publisher.imagery.truth import chip_truth_table
    from publisher.quality import assess, write_quality_report

    region, chips, _, _, scores = ensemble
    table, truth = pd.read_parquet(scores), chip_truth_table(region, chips)
    report = assess(table, truth)
    assert report.calibration is not None and report.calibration.all.spearman is not None
    assert any("uncertainty calibration" in line for line in report.lines())
    # a spread made to follow the rank error is found calibrated; its shuffled control is near 0
    from publisher.quality import _join, rank_errors

    joined = _join(table, truth, {})
    made = joined.assign(uncertainty=rank_errors(joined) + np.random.default_rng(0).normal(0, 0.05, len(joined)).clip(0))
    calibrated = assess(made.drop(columns=["truth", "plain", "year"]), truth).calibration
    assert calibrated.all.spearman > 0.5 and abs(calibrated.shuffled.mean) < 0.05
    written = write_quality_report(report, table, truth, tmp_path)
    assert json.loads(written[0].read_text())["calibration"]["all"]["n"] == len(joined)
