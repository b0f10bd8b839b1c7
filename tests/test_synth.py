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


def test_strips_render_the_same_pixels_as_the_whole_image():
    """Noise depends on pixel position only, so any strip equals the same rows of a whole render."""
    from publisher.imagery.scene import SceneLook, Sky, apply_look, ground_fields, render_ground
    from publisher.imagery.synth import _grid

    grid, transform = _grid("48RVU", 600)
    fields = ground_fields(transform, f"EPSG:{grid.epsg}", (600, 600), 2023, seed=4)
    whole = render_ground(fields, 0, 600)
    sky = Sky.for_look(fields.lattice, SceneLook(cloud_share=0.3, blank_share=0.25, seed=8))
    scene, cloud, blank = apply_look(whole, sky, fields.lattice, 0)
    for row0, nrows in ((0, 1), (137, 64), (599, 1)):
        np.testing.assert_array_equal(render_ground(fields, row0, nrows), whole[row0 : row0 + nrows])
        part, part_cloud, part_blank = apply_look(whole[row0 : row0 + nrows], sky, fields.lattice, row0)
        np.testing.assert_array_equal(part, scene[row0 : row0 + nrows])
        np.testing.assert_array_equal(part_blank, blank[row0 : row0 + nrows])
    assert 0.2 < cloud.mean() < 0.4 and 0.05 < blank.mean() < 0.25


def test_lattice_upsampling_is_bilinear():
    """A linear field on the coarse lattice comes back exactly on every pixel between lattice centres."""
    from publisher.imagery.scene import Lattice

    lattice = Lattice(step=8, image_shape=(100, 90))
    assert lattice.shape == (13, 12)
    rows, cols = np.mgrid[0:13, 0:12].astype(np.float32)
    field = 3.0 * rows + 0.5 * cols  # in lattice units
    up = lattice.upsample(field, 20, 50)
    pr, pc = np.mgrid[20:70, 0:90].astype(np.float32)
    expected = 3.0 * ((pr + 0.5) / 8 - 0.5) + 0.5 * ((pc + 0.5) / 8 - 0.5)
    inner = (slice(None), slice(4, 86))  # between the first and last lattice centres
    np.testing.assert_allclose(up[inner], expected[inner], atol=1e-4)


@pytest.mark.slow
def test_default_size_is_the_real_10m_grid(tmp_path):
    """The default scene is the full Sentinel-2 grid (10980 px of 10 m, 343 px chips); the truth lies on
    its ~80 m lattice over the same footprint."""
    from publisher.grid import TileGrid
    from publisher.imagery.extract import chip_size

    result = synthesize(tmp_path, tiles=("48RVU",), years=(2023,), scenes_per_year=1, seed=2, progress=False)
    grid = TileGrid.from_tile_id("48RVU")
    visual = result.scenes[0].assets["visual"].get_absolute_href()
    valid, errors, _ = cog_validate(visual, quiet=True)
    assert valid, errors
    with rasterio.open(visual) as ds:
        assert ds.shape == (10980, 10980) and ds.res == (10.0, 10.0) and ds.transform == grid.transform
        assert chip_size(ds.shape) == 343
        overview = ds.read(out_shape=(3, 343, 343))
    with rasterio.open(result.truth[0]) as ds:
        assert ds.res == (80.0, 80.0) and ds.bounds.left == grid.ulx and ds.bounds.top == grid.uly
        truth = ds.read(1)
    assert truth.max() > 0.6 and truth.min() < 0.1  # Chengdu's core and its countryside
    assert len(np.unique(overview.reshape(3, -1), axis=1)[0]) > 100  # textured land, not a flat fill
