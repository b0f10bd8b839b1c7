"""The synthetic world's night lights depart from its truth by the documented amount, deterministically;
the world grows between years, visibly in the imagery; the change-agreement measure can tell a score
change that follows the truth from one that does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from publisher.change_quality import MIN_TRUTH_CHANGE, change_agreement, write_change_report
from publisher.grid import TileGrid
from publisher.imagery.lights import chip_truth_of, nightlight_raster, truth_lights_spearman
from publisher.imagery.scene import ground_fields, render_ground
from publisher.imagery.synth import _nightlights

#: The target of docs/synthetic-world.md: truth against night lights, per granule, as real studies report.
TARGET = (0.5, 0.8)


@pytest.mark.parametrize("tiles, year, seed", [(("48RVU", "48RVT"), 2023, 11), (("48RUU", "48RUT"), 2022, 5)])
def test_lights_agree_with_truth_only_as_far_as_real_lights_do(tmp_path, tiles, year, seed):
    path = _nightlights(tmp_path / "viirs.tif", tiles, year, seed)
    for tile in tiles:
        rho = truth_lights_spearman(path, tile, year)
        assert TARGET[0] <= rho <= TARGET[1], (tile, year, rho)


def test_lights_are_deterministic_by_seed(tmp_path):
    a, profile_a = nightlight_raster(("48RVU",), 2023, seed=3)
    b, profile_b = nightlight_raster(("48RVU",), 2023, seed=3)
    c, _ = nightlight_raster(("48RVU",), 2023, seed=4)
    assert np.array_equal(a, b) and profile_a == profile_b
    assert not np.array_equal(a, c)
    assert np.isfinite(a).all() and a.min() > 0
    first, second = _nightlights(tmp_path / "a.tif", ("48RVU",), 2023, 3), _nightlights(tmp_path / "b.tif", ("48RVU",), 2023, 3)
    with rasterio.open(first) as x, rasterio.open(second) as y:
        assert np.array_equal(x.read(1), y.read(1))


def test_the_world_grows_between_years():
    before, after = chip_truth_of("48RVU", 2021), chip_truth_of("48RVU", 2023)
    change = after - before
    assert change.min() > -1e-9  # nothing is demolished
    assert (change > MIN_TRUTH_CHANGE).sum() >= 100  # a city region changes in hundreds of chips
    assert (change > 0.1).sum() >= 10  # and new estates change some a lot


def test_growth_shows_in_the_imagery_and_nothing_else_moves():
    """Same tile, two years, same ground layout: pixels change where the truth grew, hardly elsewhere."""
    size = 366  # 300 m pixels: chips of 11 px
    grid = TileGrid.from_tile_id("48RVU")
    pixel = 109800 / size
    transform = Affine(pixel, 0, grid.ulx, 0, -pixel, grid.uly)
    images, truths = [], []
    for year in (2021, 2023):
        fields = ground_fields(transform, f"EPSG:{grid.epsg}", (size, size), year, seed=42)
        images.append(render_ground(fields, 0, size).astype(np.int16))
        truths.append(fields.lattice.upsample(fields.truth, 0, size))
    moved = np.abs(images[1] - images[0]).max(axis=2) > 0
    grew = truths[1] - truths[0]
    assert moved[grew > 0.1].mean() > 0.3
    assert moved[grew < 1e-4].mean() < 0.02


def _table(truth0: np.ndarray, truth1: np.ndarray, score0: np.ndarray, score1: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(truth0)
    base = {"tile": "48RVU", "row": np.arange(n) // 32, "col": np.arange(n) % 32}
    scores = pd.concat([pd.DataFrame({**base, "datetime": f"{y}-06-01T00:00:00Z", "score": s})
                        for y, s in ((2021, score0), (2023, score1))])
    truth = pd.concat([pd.DataFrame({**base, "year": y, "truth": t, "plain": True}) for y, t in ((2021, truth0), (2023, truth1))])
    return scores, truth


def test_change_agreement_follows_the_truth_and_its_controls_do_not(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    truth0 = rng.uniform(0, 0.6, n)
    growth = np.where(rng.random(n) < 0.5, rng.uniform(0.0, 0.3, n), 0.0)
    truth1 = truth0 + growth
    score0 = truth0 + rng.normal(0, 0.05, n)
    following = _table(truth0, truth1, score0, score0 + growth + rng.normal(0, 0.05, n))
    report = change_agreement(*following)
    result = report.changed
    assert result.n == int((growth > MIN_TRUTH_CHANGE).sum()) and result.first_year == 2021 and result.last_year == 2023
    assert result.spearman > 0.6
    assert abs(result.shuffled_mean) < 0.05 and 0 < result.shuffled_sd < 0.1
    assert any(line.startswith("changed chips 2021 -> 2023") for line in report.lines())
    noise_only = change_agreement(*_table(truth0, truth1, score0, score0 + rng.normal(0, 0.05, n))).changed
    assert abs(noise_only.spearman) < 3 * noise_only.shuffled_sd + 0.05
    reversed_ = change_agreement(*_table(truth0, truth1, score0, score0 - growth)).changed
    assert reversed_.spearman < -0.9
    one_year = following[0][following[0]["datetime"].str.startswith("2021")]
    assert change_agreement(one_year, following[1]) is None
    (path,) = write_change_report(report, tmp_path / "change")
    assert '"changed"' in path.read_text() and '"min_truth_change"' in path.read_text()
    assert '"scaled_spearman"' in path.read_text()


def test_change_agreement_on_the_scores_scale_ignores_how_the_scores_are_spaced():
    """A score that is a log of the truth (as the demo's scorer, taught log-spaced levels, roughly is)
    weighs a village that doubles above a town that grows more: the raw change figure drops, the figure on
    the scores' scale does not; noise, a uniform drift and reversed changes earn nothing there."""
    rng = np.random.default_rng(1)
    n = 800
    truth0 = rng.uniform(0.1, 0.9, n) ** 2
    truth1 = truth0 + np.where(rng.random(n) < 0.5, rng.uniform(0.0, 0.15, n), 0.0)
    log0, log1 = np.log(truth0 + 0.01), np.log(truth1 + 0.01)
    report = change_agreement(*_table(truth0, truth1, log0, log1))
    result = report.changed
    assert result.scaled_spearman > 0.99 and result.spearman < result.scaled_spearman - 0.2
    assert abs(result.scaled_shuffled_mean) < 0.05 and 0 < result.scaled_shuffled_sd < 0.1
    assert any("scores' scale" in line for line in report.lines())
    for later in (log0 + rng.normal(0, 0.05, n), log0 + 0.05 + rng.normal(0, 0.01, n)):  # noise; a drift
        control = change_agreement(*_table(truth0, truth1, log0, later)).changed
        assert abs(control.scaled_spearman) < 3 * control.scaled_shuffled_sd + 0.05
    reversed_ = change_agreement(*_table(truth0, truth1, log0, log0 - (log1 - log0))).changed
    assert reversed_.scaled_spearman < -0.9


def test_compare_shows_the_ceiling_and_the_builtup_baseline(tmp_path):
    """`devscore compare` with a synthetic region and the run's chips: each row carries truth vs lights
    (the ceiling) and the ranker's built-up share vs lights (the baseline), in the table and the CSV."""
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest
    from publisher.imagery.cut import cut_chips
    from publisher.imagery.synth import synthesize
    from publisher.mpi import world
    from tests.nightlights_fixtures import publish_field_scores

    region = tmp_path / "region"
    synthesize(region, tiles=("48RVU",), years=(2023,), scenes_per_year=1, size=384, seed=2, progress=False)
    cut_chips([("48RVU", 2023)], {"source_catalog": region / "source"}, tmp_path / "chips", world())
    catalog = publish_field_scores(tmp_path, ("48RVU",), 2023)
    lights = region / "nightlights" / "viirs_2023.tif"
    ingest([lights], 2023, catalog)
    plain = compare_catalog(catalog, 2023).rows[0]
    assert plain.truth_spearman is None and plain.builtup_spearman is None
    report = compare_catalog(catalog, 2023, truth=region, chips_dir=tmp_path / "chips")
    row = report.rows[0]
    # the truth raster's chip means give the ceiling the truth field itself gives
    assert row.truth_spearman == pytest.approx(truth_lights_spearman(lights, "48RVU", 2023), abs=0.03)
    assert TARGET[0] <= row.truth_spearman <= TARGET[1]
    assert 0.2 < row.builtup_spearman < 0.95
    header, values = report.csv.read_text().splitlines()[:2]
    assert header.endswith("truth_spearman,builtup_spearman") and values.split(",")[-1] != ""
    assert "ceiling" in report.table() and f"{row.truth_spearman:.2f}" in report.table()
