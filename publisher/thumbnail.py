"""A PNG thumbnail of the chip scores in the product colormap, nodata transparent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from rio_tiler.colormap import cmap

from publisher.atomic import atomic_path
from publisher.constants import COLORMAP
from publisher.paint import check_scores

#: Thumbnail side in pixels: each chip becomes an 8 x 8 block.
THUMBNAIL_SIZE = 256


def colorize(scores: np.ndarray) -> np.ndarray:
    """RGBA uint8 image of ``scores`` in [0, 1] with the product colormap; NaN is transparent."""
    lut = np.array([cmap.get(COLORMAP)[i] for i in range(256)], dtype=np.uint8)
    valid = ~np.isnan(scores)
    index = np.where(valid, np.rint(np.nan_to_num(scores) * 255), 0).astype(np.uint8)
    rgba = lut[index]
    rgba[..., 3] = np.where(valid, 255, 0)
    return rgba


def write_thumbnail(scores: np.ndarray, path: str | Path) -> Path:
    """Write the 32 x 32 scores as a 256 px PNG (nearest upscaling keeps chip edges sharp)."""
    scores = check_scores(scores)
    factor = THUMBNAIL_SIZE // scores.shape[0]
    image = np.repeat(np.repeat(colorize(scores), factor, axis=0), factor, axis=1)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image, mode="RGBA").save(tmp, format="PNG", optimize=True)
    return path
