"""The painter against a naive per-pixel reference; the CUDA path where a GPU exists."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from publisher.constants import CHIP_SIZE, GRANULE_SIZE, SCORE_NODATA
from publisher.errors import DevscoreError
from publisher.grid import TileGrid
from publisher.paint import paint, paint_window, resolve_device
from publisher.paint_cuda import cuda_available

#: The method's layout: the 10 m grid of 10980 px, 343 px chips.
GRID = TileGrid.from_tile_id("48RVU").chips


def naive_pixel(scores: np.ndarray, row: int, col: int) -> float:
    """The reference rule, one pixel at a time, written independently of the product code."""
    r, c = row // CHIP_SIZE, col // CHIP_SIZE
    if r >= 32 or c >= 32 or np.isnan(scores[r, c]):
        return SCORE_NODATA
    return float(scores[r, c])


def naive_window(scores: np.ndarray, window: Window) -> np.ndarray:
    out = np.empty((int(window.height), int(window.width)), dtype=np.float32)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = naive_pixel(scores, int(window.row_off) + i, int(window.col_off) + j)
    return out


@pytest.mark.parametrize(
    "window",
    [
        Window(0, 0, 700, 700),  # first chips and their boundary at 343
        Window(10900, 10900, 80, 80),  # last chip and the 4 px nodata strip
        Window(5000, 340, 40, 360),  # crosses a chip row boundary
        Window(0, 10970, GRANULE_SIZE, 10),  # full width, bottom edge
    ],
)
def test_window_matches_naive_reference(chip_scores, window):
    np.testing.assert_array_equal(paint_window(chip_scores, window, CHIP_SIZE), naive_window(chip_scores, window))


def test_full_grid_matches_reference_at_every_chip(chip_scores):
    grid = paint(chip_scores, GRID, device="cpu")
    assert grid.shape == (GRANULE_SIZE, GRANULE_SIZE) and grid.dtype == np.float32
    # every chip is constant and equals its score (or nodata): compare chip blocks with the reference
    blocks = grid[: 32 * CHIP_SIZE, : 32 * CHIP_SIZE].reshape(32, CHIP_SIZE, 32, CHIP_SIZE)
    expected = np.where(np.isnan(chip_scores), SCORE_NODATA, chip_scores)
    assert (blocks.min(axis=(1, 3)) == expected).all() and (blocks.max(axis=(1, 3)) == expected).all()
    assert (grid[32 * CHIP_SIZE :] == SCORE_NODATA).all() and (grid[:, 32 * CHIP_SIZE :] == SCORE_NODATA).all()


def test_nan_chips_are_nodata_not_zero(chip_scores):
    grid = paint(chip_scores, GRID, device="cpu")
    assert grid[5, 5 * CHIP_SIZE + 3] == SCORE_NODATA  # chip (0, 5) is NaN in the fixture
    assert not (grid == 0).any()


@pytest.mark.parametrize(
    "scores,message",
    [(np.zeros((31, 32)), "32 x 32"), (np.full((32, 32), 1.5), r"\[0, 1\]"), (np.full((32, 32), -0.1), r"\[0, 1\]")],
)
def test_bad_scores_rejected(scores, message):
    with pytest.raises(DevscoreError, match=message):
        paint(scores, GRID, device="cpu")


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if cuda_available() else "cpu")
    with pytest.raises(DevscoreError, match="unknown device"):
        resolve_device("tpu")
    if not cuda_available():
        with pytest.raises(DevscoreError, match="not available"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs pycuda and a CUDA GPU")
def test_cuda_equals_numpy(chip_scores):
    np.testing.assert_array_equal(paint(chip_scores, GRID, device="cuda"), paint(chip_scores, GRID, device="cpu"))
