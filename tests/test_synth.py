"""The synthetic region: deterministic, valid COGs and STAC items, true cloud/blank shares, and a
truth that drives the land cover."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from catalog.validate import OfflineSchemaValidator
from publisher.errors import DevscoreError
from publisher.imagery.synth import synthesize

SIZE = 256


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "region"
    result = synthesize(out, tiles=("48RVU", "48RUU"), years=(2023,), scenes_per_year=3, size=SIZE, seed=3,
                        progress=False)
    return out, result


def test_layout_and_valid_cogs(region):
    out, result = region
    assert len(result.scenes) == 6 and len(result.truth) == 2 and len(result.nightlights) == 1
    for path in [*result.truth, *result.nightlights, *(Path(i.assets["visual"].get_absolute_href()) for i in result.scenes)]:
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, (path, errors)
    with rasterio.open(result.nightlights[0]) as ds:
        assert ds.crs.to_epsg() == 4326 and abs(ds.res[0] - 1 / 240) < 1e-12 and ds.nodata == -1.0


def test_items_look_like_planetary_computer_and_validate(region, schema_dir):
    out, _ = region
    catalog = pystac.Catalog.from_file(str(out / "source" / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    validator = OfflineSchemaValidator(schema_dir)
    for item in items:
        assert item.validate(validator=validator)
        assert item.collection_id == "sentinel-2-l2a"
        assert item.properties["s2:mgrs_tile"] in ("48RVU", "48RUU")
        assert item.properties["proj:shape"] == [SIZE, SIZE]
        assert item.assets["visual"].href == "./visual.tif"
    assert len({i.properties["eo:cloud_cover"] for i in items}) > 1  # scenes differ, so selection matters


def test_cloud_and_blank_shares_are_true(region):
    _, result = region
    for item in result.scenes:
        with rasterio.open(item.assets["visual"].get_absolute_href()) as ds:
            rgb = ds.read()
        blank = (rgb == 0).all(axis=0)
        assert 100 * blank.mean() == pytest.approx(item.properties["s2:nodata_pixel_percentage"], abs=0.5)
        white = (rgb >= 200).all(axis=0) & ~blank
        measured = 100 * white.sum() / max(1, (~blank).sum())
        assert measured == pytest.approx(item.properties["eo:cloud_cover"], abs=6)


def test_truth_drives_urban_texture(region):
    _, result = region
    item = min(result.scenes, key=lambda i: i.properties["eo:cloud_cover"] + i.properties["s2:nodata_pixel_percentage"])
    tile = item.properties["s2:mgrs_tile"]
    with rasterio.open(item.assets["visual"].get_absolute_href()) as ds:
        grey = ds.read().astype(np.float32).mean(axis=0)
    with rasterio.open(next(p for p in result.truth if p.name.startswith(tile))) as ds:
        truth = ds.read(1)
    local_std = np.sqrt(np.maximum(ndimage.uniform_filter(grey**2, 5) - ndimage.uniform_filter(grey, 5) ** 2, 0))
    clear = (grey > 0) & (grey < 200)
    assert local_std[(truth > 0.6) & clear].mean() > local_std[(truth < 0.2) & clear].mean()


def test_same_seed_same_bytes(tmp_path):
    a = synthesize(tmp_path / "a", tiles=("48RVU",), years=(2023,), scenes_per_year=1, size=64, seed=9, progress=False)
    b = synthesize(tmp_path / "b", tiles=("48RVU",), years=(2023,), scenes_per_year=1, size=64, seed=9, progress=False)
    pa, pb = (Path(r.scenes[0].assets["visual"].get_absolute_href()) for r in (a, b))
    assert pa.read_bytes() == pb.read_bytes()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(DevscoreError, match="size"):
        synthesize(tmp_path, tiles=("48RVU",), size=10, progress=False)
    exe = Path(sys.executable).parent / "devscore"
    result = subprocess.run([str(exe), "synth", "--out", str(tmp_path / "x"), "--tiles", "48RVX"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().startswith("Error:") and "48RVX" in result.stderr
    assert not (tmp_path / "x" / "source" / "catalog.json").exists()
