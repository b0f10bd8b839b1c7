"""The statistics mean something: the aggregation is the more accurate of the two measured, a linear
relation built into a raster is recovered, a shuffled control is near 0, and on the synthetic region
the night lights agree with the development truth."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from scipy import ndimage

from publisher.grid import TileGrid
from publisher.nightlights import aggregate
from publisher.nightlights.aggregate import aggregation_errors, chip_polygons, chip_radiance
from publisher.nightlights.correlate import correlate
from publisher.nightlights.products import NightLightsError

TILE = "48RVU"
D = 1.0 / 240.0


def _raster(path: Path, values, margin: float = 0.1) -> tuple[Path, Affine]:
    """An EPSG:4326 15 arc-second raster around TILE with ``values(lon, lat)`` at pixel centres."""
    west, south, east, north = TileGrid.from_tile_id(TILE).bbox
    width, height = int((east - west + 2 * margin) / D), int((north - south + 2 * margin) / D)
    transform = Affine(D, 0, west - margin, 0, -D, north + margin)
    lon, lat = np.meshgrid(west - margin + (np.arange(width) + 0.5) * D, north + margin - (np.arange(height) + 0.5) * D)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs="EPSG:4326", transform=transform, nodata=-999.0) as dst:
        dst.write(values(lon, lat).astype(np.float32), 1)
    return path, transform


def test_exactextract_is_the_more_accurate_aggregation(tmp_path):
    rng = np.random.default_rng(5)
    path, _ = _raster(tmp_path / "k.tif", lambda lon, lat: 40 * ndimage.gaussian_filter(rng.random(lon.shape), 2)
                      + 20 * rng.random(lon.shape))
    errors = aggregation_errors(path, TileGrid.from_tile_id(TILE).chips, np.arange(0, 1024, 41))
    assert aggregate.METHOD == min(errors, key=errors.get)
    assert errors["exactextract"] < 1e-4


def test_a_linear_relation_is_recovered(tmp_path):
    west, south, east, north = TileGrid.from_tile_id(TILE).bbox
    u = lambda lon, lat: 0.75 * (lon - west) / (east - west) + 0.25 * (lat - south) / (north - south)  # noqa: E731
    path, _ = _raster(tmp_path / "linear.tif", lambda lon, lat: 2.0 + 40.0 * u(lon, lat))
    centroids = shapely.centroid(chip_polygons(TileGrid.from_tile_id(TILE).chips).geometry.to_numpy())
    scores = u(shapely.get_x(centroids), shapely.get_y(centroids)).reshape(32, 32)
    radiance = chip_radiance(path, TileGrid.from_tile_id(TILE).chips)
    slope, intercept = np.polyfit(scores.ravel(), radiance.ravel(), 1)
    assert slope == pytest.approx(40.0, rel=0.01) and intercept == pytest.approx(2.0, abs=0.4)
    result = correlate(scores, radiance)
    assert result.pearson > 0.99 and result.spearman > 0.99 and result.n == 1024
    shuffled = np.random.default_rng(1).permutation(scores.ravel())
    control = correlate(shuffled, radiance)
    assert abs(control.pearson) < 0.1 and abs(control.spearman) < 0.1


def test_nodata_is_left_out_never_dark(tmp_path):
    west, *_ = TileGrid.from_tile_id(TILE).bbox
    path, _ = _raster(tmp_path / "holes.tif", lambda lon, lat: np.where(lon < west + 0.3, -999.0, 10.0 + lat))
    radiance = chip_radiance(path, TileGrid.from_tile_id(TILE).chips)
    assert np.isnan(radiance[:, 0]).all() and np.isfinite(radiance[:, -1]).all()
    assert np.nanmin(radiance) > 30  # a chip half in nodata averages its valid pixels only


def test_too_few_or_constant_chips_are_an_error():
    with pytest.raises(NightLightsError, match="only 2 chips"):
        correlate(np.array([0.1, 0.2, np.nan]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(NightLightsError, match="constant"):
        correlate(np.full(10, 0.5), np.arange(10.0))


@pytest.mark.slow
def test_synthetic_region_night_lights_agree_with_its_truth(tmp_path):
    from catalog.ingest import publish_table
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest
    from catalog.reader import StaticCatalog
    from publisher.imagery.truth import chip_truth
    from publisher.scores import GranuleYear, scores_to_table

    region = tmp_path / "region"
    subprocess.run([str(Path(sys.executable).parent / "devscore"), "synth", "--out", str(region), "--tiles", TILE,
                    "--years", "2023", "--size", "1098"], check=True, capture_output=True)
    grid = TileGrid.from_tile_id(TILE)
    truth, _ = chip_truth(region, TILE, 2023, grid.crs, grid.transform @ Affine.scale(343))
    granule = GranuleYear(TILE, 2023, dt.datetime(2023, 4, 1, tzinfo=dt.timezone.utc), None,
                          np.clip(truth, 0, 1).astype(np.float32))
    scores_to_table([granule]).to_csv(tmp_path / "scores.csv", index=False)
    publish_table(tmp_path / "scores.csv", tmp_path / "catalog")
    ingest([region / "nightlights" / "viirs_2023.tif"], 2023, tmp_path / "catalog")
    row = compare_catalog(tmp_path / "catalog", 2023).rows[0]
    assert row.correlation.spearman > 0.6 and row.correlation.pearson_log1p > 0.6 and row.correlation.n > 900
    rng = np.random.default_rng(0)
    cog = StaticCatalog(tmp_path / "catalog").asset_path("viirs-nightlights", "48RVU-2023", "radiance")
    radiance = chip_radiance(cog, TileGrid.from_tile_id(TILE).chips)
    control = correlate(rng.permutation(truth.ravel()).reshape(32, 32), radiance)
    assert abs(control.spearman) < 0.1
