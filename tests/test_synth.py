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


def test_every_year_has_one_clear_scene_and_acquisition_prefers_it(region):
    """One fairly clear scene with no blank swath per granule-year, the others cloudier or cut by the swath
    edge; the default --max-cloud finds scenes and the selection takes the clear, whole one."""
    from publisher.imagery.acquire import DEFAULT_MAX_CLOUD, search_scenes, select_scene

    out, result = region
    for tile in ("48RVU", "48RUU"):
        scenes = [i for i in result.scenes if i.properties["s2:mgrs_tile"] == tile]
        clear = [i for i in scenes if 3 <= i.properties["eo:cloud_cover"] <= 25
                 and i.properties["s2:nodata_pixel_percentage"] == 0]
        assert len(clear) == 1, [(i.properties["eo:cloud_cover"], i.properties["s2:nodata_pixel_percentage"]) for i in scenes]
        others = [i for i in scenes if i is not clear[0]]
        assert all(i.properties["eo:cloud_cover"] > 30 or i.properties["s2:nodata_pixel_percentage"] > 5 for i in others)
        found = search_scenes(tile, 2023, source_catalog=out / "source", max_cloud=DEFAULT_MAX_CLOUD)
        assert len(found) >= 2  # the clear scene and the swath-cut one: the choice between them matters
        chosen, ranked = select_scene(found, tile, 2023)
        assert chosen.item.id == clear[0].id and len(ranked) == len(found)


def test_year_looks_are_deterministic_and_vary():
    from publisher.imagery.scene import CLEAR_CLOUD, year_looks

    a = year_looks(np.random.default_rng(1), 4)
    assert a == year_looks(np.random.default_rng(1), 4)
    assert sum(CLEAR_CLOUD[0] <= look.cloud_share <= CLEAR_CLOUD[1] and look.blank_share == 0 for look in a) >= 1
    assert len({look.seed for look in a}) == 4 and len({round(look.cloud_share, 6) for look in a}) == 4
    assert year_looks(np.random.default_rng(2), 1)[0].blank_share == 0


def test_builtup_rule_separates_the_palette():
    """Every roof, concrete, paving and road colour counts as built-up, at any brightness the renderer
    gives it; fields, yards, trees, bare land and water do not, nor do cloud and blank pixels."""
    from publisher.imagery import scene
    from publisher.imagery.builtup import builtup_mask

    built = [*scene.ROOF_COLOURS, *scene.CONCRETE_COLOURS, scene.PAVING_COLOUR, *scene.PALETTE[[scene.ASPHALT, scene.LANE]]]
    land = [*scene.FIELD_COLOURS, *scene.YARD_COLOURS, *scene.PALETTE[[scene.FOREST_CANOPY, scene.BARE, scene.WATER]]]
    for factor in (0.9, 1.0, 1.1):
        for colours, expected in ((built, True), (land, False)):
            rgb = np.clip(np.rint(np.float32(colours) * factor), 1, 255).astype(np.uint8)
            mask, clear = builtup_mask(rgb)
            assert clear.all() and (mask == expected).all(), (factor, rgb[mask != expected])
    mask, clear = builtup_mask(np.uint8([[0, 0, 0], [245, 245, 245], [220, 225, 230]]))
    assert not mask.any() and not clear.any()


def test_builtup_share_from_pixels_follows_the_truth(tmp_path):
    """The built-up share measured from the chips of the scene acquisition picks ranks the plain's chips
    as their mean truth does (Spearman >= 0.8); the same shares shuffled do not."""
    from publisher.imagery.acquire import search_scenes, select_scene
    from publisher.imagery.builtup import check_against_truth
    from publisher.imagery.chipfiles import list_chip_files
    from publisher.imagery.extract import chip_grid, extract_chips
    from publisher.mpi import world

    synthesize(tmp_path / "region", tiles=("48RVU",), years=(2023,), scenes_per_year=2, size=768, seed=11,
               progress=False)
    chosen, _ = select_scene(search_scenes("48RVU", 2023, source_catalog=tmp_path / "region" / "source"), "48RVU", 2023)
    href = chosen.item.assets["visual"].get_absolute_href()
    with extract_chips(href, world()) as chipset:
        chipset.save(tmp_path / "chips" / "48RVU-2023.npz", chip_grid=chip_grid(href))
    check = check_against_truth(list_chip_files(tmp_path / "chips")[0], tmp_path / "region")
    assert check.chips > 500
    assert check.spearman >= 0.8 and abs(check.shuffled) < 0.15, check
