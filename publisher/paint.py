"""Paint 32 x 32 chip scores onto the granule's 10 m grid: every pixel of a chip gets its score.

The numpy path works on any window, so writers stream the grid with bounded memory; the CUDA path
(``publisher.paint_cuda``) paints the whole grid on a GPU and gives the same array.
"""

from __future__ import annotations

import logging

import numpy as np
from rasterio.windows import Window

from publisher.constants import CHIP_SIZE, CHIPPED_SIZE, CHIPS_PER_SIDE, GRANULE_SIZE, SCORE_NODATA
from publisher.errors import DevscoreError

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


def _chip_index(start: int, length: int) -> np.ndarray:
    """Chip index of each pixel in [start, start + length); pixels past the chips map to 32."""
    pixels = np.arange(start, start + length)
    return np.where(pixels < CHIPPED_SIZE, pixels // CHIP_SIZE, CHIPS_PER_SIDE)


def paint_window(scores: np.ndarray, window: Window) -> np.ndarray:
    """Paint one window of the granule grid: one gathered row per chip row, broadcast down its rows."""
    table = chip_lookup(check_scores(scores))
    rows = _chip_index(int(window.row_off), int(window.height))
    cols = _chip_index(int(window.col_off), int(window.width))
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


def paint(scores: np.ndarray, device: str = "auto") -> np.ndarray:
    """The full 10980 x 10980 float32 score grid, painted on the chosen device."""
    if resolve_device(device) == "cuda":
        from publisher.paint_cuda import paint_cuda

        return paint_cuda(check_scores(scores))
    return paint_window(scores, Window(0, 0, GRANULE_SIZE, GRANULE_SIZE))
