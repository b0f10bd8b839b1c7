"""Paint 32 x 32 chip scores onto the grid the chips were cut from: every pixel of a chip gets its score.

The grid (a :class:`publisher.grid.ChipGrid`: the 10 m Sentinel-2 grid with 343 px chips, or a coarser
scene grid) comes with the scores, so each painted chip covers exactly the pixels it was cut from.

The numpy path works on any window, so writers stream the grid with bounded memory; the CUDA path
(``publisher.paint_cuda``) paints the whole grid on a GPU and gives the same array.
"""

from __future__ import annotations

import logging

import numpy as np
from rasterio.windows import Window

from publisher.constants import CHIPS_PER_SIDE, SCORE_NODATA
from publisher.errors import DevscoreError
from publisher.grid import ChipGrid

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def check_scores(scores: np.ndarray) -> np.ndarray:
    """Return ``scores`` as float32 after checking shape (32 x 32) and range ([0, 1] or NaN)."""
    scores = np.asarray(scores)
    if scores.shape != (CHIPS_PER_SIDE, CHIPS_PER_SIDE):
        raise DevscoreError(f"chip scores must be {CHIPS_PER_SIDE} x {CHIPS_PER_SIDE}, got {scores.shape}")
    scores = scores.astype(np.float32, copy=False)
    finite = scores[~np.isnan(scores)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise DevscoreError(f"chip scores must lie in [0, 1], got {finite.min():g} to {finite.max():g}")
    return scores


def chip_lookup(scores: np.ndarray) -> np.ndarray:
    """33 x 33 table: the scores with NaN as nodata, plus a nodata row and column for the edge strip."""
    table = np.full((CHIPS_PER_SIDE + 1, CHIPS_PER_SIDE + 1), SCORE_NODATA, dtype=np.float32)
    table[:CHIPS_PER_SIDE, :CHIPS_PER_SIDE] = np.where(np.isnan(scores), SCORE_NODATA, scores)
    return table


def _chip_index(start: int, length: int, chip_px: int) -> np.ndarray:
    """Chip index of each pixel in [start, start + length); pixels past the chips map to 32."""
    pixels = np.arange(start, start + length)
    return np.where(pixels < CHIPS_PER_SIDE * chip_px, pixels // chip_px, CHIPS_PER_SIDE)


def paint_window(scores: np.ndarray, window: Window, chip_px: int) -> np.ndarray:
    """Paint one window of a grid with chips of ``chip_px`` pixels: one gathered row per chip row,
    broadcast down its rows."""
    table = chip_lookup(check_scores(scores))
    rows = _chip_index(int(window.row_off), int(window.height), chip_px)
    cols = _chip_index(int(window.col_off), int(window.width), chip_px)
    out = np.empty((rows.size, cols.size), dtype=np.float32)
    starts = np.flatnonzero(np.diff(rows, prepend=-1))
    for start, stop in zip(starts, [*starts[1:], rows.size]):
        out[start:stop] = table[rows[start], cols]
    return out


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when pycuda and a GPU are present, else ``cpu``; ``cuda`` must be present."""
    if device not in DEVICES:
        raise DevscoreError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    from publisher.paint_cuda import cuda_available

    available = cuda_available()
    if device == "cuda" and not available:
        raise DevscoreError("--device cuda: pycuda or a CUDA GPU is not available here (use auto or cpu)")
    return "cuda" if available else "cpu"


def paint(scores: np.ndarray, grid: ChipGrid, device: str = "auto") -> np.ndarray:
    """The whole float32 score grid (``grid.shape``; 10980 x 10980 at 10 m), painted on the chosen device."""
    if resolve_device(device) == "cuda" and grid.width == grid.height:  # the kernel paints square grids
        from publisher.paint_cuda import paint_cuda

        return paint_cuda(check_scores(scores), grid)
    return paint_window(scores, Window(0, 0, grid.width, grid.height), grid.chip_px)
