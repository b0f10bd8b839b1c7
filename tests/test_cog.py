"""The score COG: valid COG, grid, nodata, overviews, values, and atomic replacement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

import publisher.cog as cog
from publisher.constants import CHIP_SIZE, SCORE_BAND_DESCRIPTION, SCORE_NODATA
from publisher.grid import TileGrid

GRID = TileGrid.from_tile_id("48RVU").chips


@pytest.fixture(scope="module")
def cog_path(tmp_path_factory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    scores = rng.random((32, 32), dtype=np.float32)
    scores[2, 7] = np.nan
    path = cog.write_score_cog(scores, GRID, tmp_path_factory.mktemp("cog") / "score.tif", device="cpu")
    return path, scores


def test_is_a_valid_cog_with_overviews(cog_path):
    path, _ = cog_path
    valid, errors, warnings = cog_validate(str(path), quiet=True)
    assert valid and not errors and not warnings
    with rasterio.open(path) as ds:
        assert ds.overviews(1)
        assert ds.block_shapes[0] == (512, 512)
        assert ds.compression is not None


def test_grid_nodata_and_description(cog_path):
    path, _ = cog_path
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32648
        assert ds.transform == GRID.transform
        assert (ds.width, ds.height) == (10980, 10980)
        assert ds.dtypes[0] == "float32" and ds.nodata == SCORE_NODATA
        assert ds.descriptions[0] == SCORE_BAND_DESCRIPTION


def test_values_at_chip_centres_and_strip(cog_path):
    path, scores = cog_path
    centres = (np.arange(32) * CHIP_SIZE + CHIP_SIZE // 2).tolist()
    with rasterio.open(path) as ds:
        for r in (0, 2, 17, 31):
            row = ds.read(1, window=((centres[r], centres[r] + 1), (0, 10980)))[0]
            expected = np.where(np.isnan(scores[r]), SCORE_NODATA, scores[r])
            np.testing.assert_array_equal(row[centres], expected)
            assert (row[10976:] == SCORE_NODATA).all()
        overview = ds.read(1, out_shape=(343, 343))  # coarsest reads use overviews: values stay real scores
        assert set(np.unique(overview)) <= set(np.unique(scores[~np.isnan(scores)])) | {SCORE_NODATA}


def test_failed_write_keeps_previous_file_and_leaves_no_temp(cog_path, monkeypatch):
    path, scores = cog_path
    before = path.read_bytes()

    def broken_copy(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cog.rasterio.shutil, "copy", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        cog.write_score_cog(np.zeros((32, 32), dtype=np.float32), GRID, path, device="cpu")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
