"""Gap-free chips: a chip cloudy or blank in the chosen scene comes from the first other scene (clearest
first) where it is clear, and names that scene; chips cloudy everywhere stay flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from publisher.imagery.extract import BLANK, CLOUD, OK, extract_chips
from publisher.imagery.gapfill import fill_gaps
from publisher.mpi import world

SIZE = 8  # px per chip: 32 x 8 = 256 px scenes


def _scene(path: Path, seed: int, cloudy: list[tuple[int, int]], blank: list[tuple[int, int]] = ()) -> Path:
    rng = np.random.default_rng(seed)
    data = rng.integers(20, 120, (3, 32 * SIZE, 32 * SIZE), dtype=np.uint8)
    for row, col in cloudy:
        data[:, row * SIZE:(row + 1) * SIZE, col * SIZE:(col + 1) * SIZE] = 240
    for row, col in blank:
        data[:, row * SIZE:(row + 1) * SIZE, col * SIZE:(col + 1) * SIZE] = 0
    profile = {"driver": "GTiff", "dtype": "uint8", "count": 3, "width": 32 * SIZE, "height": 32 * SIZE,
               "crs": "EPSG:32648", "transform": Affine(10, 0, 300000, 0, -10, 3400000)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def test_fill_gaps_takes_each_chip_from_the_first_scene_where_it_is_clear(tmp_path):
    chosen = _scene(tmp_path / "chosen.tif", 1, cloudy=[(0, 0), (3, 4), (5, 5)], blank=[(10, 10)])
    first = _scene(tmp_path / "first.tif", 2, cloudy=[(0, 0), (5, 5)])        # clears (3, 4) and (10, 10)
    second = _scene(tmp_path / "second.tif", 3, cloudy=[(5, 5)], blank=[(1, 1)])  # clears (0, 0)
    with extract_chips(str(chosen), world()) as chipset:
        assert chipset.flags.reshape(32, 32)[10, 10] == BLANK and (chipset.flags != OK).sum() == 4
        sources = fill_gaps(chipset, str(chosen), [str(first), str(second)]).reshape(32, 32)
        flags = chipset.flags.reshape(32, 32)
        chips = chipset.chips.reshape(32, 32, SIZE, SIZE, 3)
        assert sources[3, 4] == 1 and sources[10, 10] == 1 and sources[0, 0] == 2 and sources[5, 5] == 0
        assert flags[5, 5] == CLOUD and (flags != OK).sum() == 1
        assert (sources[flags == OK] >= 0).all() and (sources != 0).sum() == 3
        with rasterio.open(second) as ds:
            np.testing.assert_array_equal(chips[0, 0], ds.read()[:, :SIZE, :SIZE].transpose(1, 2, 0))
        with rasterio.open(chosen) as ds:  # clear chips keep the chosen scene's pixels
            np.testing.assert_array_equal(chips[1, 1], ds.read()[:, SIZE:2 * SIZE, SIZE:2 * SIZE].transpose(1, 2, 0))
        path = chipset.save(tmp_path / "48RVU-2023.npz", scene_id="A",
                            chip_scenes=np.array(["A", "B", "C"])[sources.ravel()])
    from publisher.imagery.chipfiles import ChipFile

    scenes = ChipFile(path, "48RVU", 2023).chip_scenes(1024).reshape(32, 32)
    assert scenes[0, 0] == "C" and scenes[3, 4] == "B" and scenes[1, 1] == "A"


def test_fill_gaps_skips_a_scene_on_another_grid(tmp_path):
    chosen = _scene(tmp_path / "chosen.tif", 1, cloudy=[(2, 2)])
    other = tmp_path / "other.tif"
    with rasterio.open(_scene(tmp_path / "tmp.tif", 2, cloudy=[])) as src:
        profile, data = src.profile, src.read()
    profile["transform"] = Affine(10, 0, 300020, 0, -10, 3400000)
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data)
    with extract_chips(str(chosen), world()) as chipset:
        sources = fill_gaps(chipset, str(chosen), [str(other)])
        assert (sources == 0).all() and chipset.flags.reshape(32, 32)[2, 2] == CLOUD


def test_chip_cloudy_in_every_scene_is_mosaicked_when_the_mosaic_is_clear(tmp_path):
    chosen, other = _scene(tmp_path / "chosen.tif", 1, cloudy=[]), _scene(tmp_path / "other.tif", 2, cloudy=[])
    for path, rows in ((chosen, slice(0, 5)), (other, slice(3, 8))):  # 5 of 8 rows cloud in each: both flagged
        with rasterio.open(path, "r+") as ds:
            data = ds.read()
            data[:, 4 * SIZE + rows.start:4 * SIZE + rows.stop, 6 * SIZE:7 * SIZE] = 240
            ds.write(data)
    with extract_chips(str(chosen), world()) as chipset:
        assert chipset.flags.reshape(32, 32)[4, 6] == CLOUD
        sources = fill_gaps(chipset, str(chosen), [str(other)]).reshape(32, 32)
        assert chipset.flags.reshape(32, 32)[4, 6] == OK and (chipset.flags == OK).all()
        mosaic = chipset.chips.reshape(32, 32, SIZE, SIZE, 3)[4, 6]
        with rasterio.open(other) as a, rasterio.open(chosen) as b:
            theirs, ours = a.read().transpose(1, 2, 0), b.read().transpose(1, 2, 0)
        np.testing.assert_array_equal(mosaic[:3], theirs[4 * SIZE:4 * SIZE + 3, 6 * SIZE:7 * SIZE])  # rows clear there only
        np.testing.assert_array_equal(mosaic[5:], ours[4 * SIZE + 5:5 * SIZE, 6 * SIZE:7 * SIZE])
        assert sources[4, 6] in (0, 1)
