"""Paletted PNG tiles (tiler_app.render): decoded, every pixel is the RGBA of TiTiler's own render_image,
masked pixels included; what a palette cannot hold goes to render_image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from rio_tiler.colormap import cmap
from rio_tiler.models import ImageData
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image

from tiler_app.render import render_tile

COLORMAP = cmap.get("rdylgn_r")


def _image(values: np.ndarray, masked: np.ndarray) -> ImageData:
    """An image of copies: rio-tiler's rescale writes into the array it was given."""
    return ImageData(np.ma.MaskedArray(values[None].copy(), mask=masked[None].copy()))


def _rgba(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def _colour_type(content: bytes) -> int:
    return content[25]  # IHDR's colour type: 3 paletted, 6 RGBA


def _both(values: np.ndarray, masked: np.ndarray, **params) -> tuple[tuple[bytes, str], tuple[bytes, str]]:
    """(TiTiler's, ours) for the same image and parameters (each renders its own copy: rescale is in place)."""
    return (render_image(_image(values, masked), **params), render_tile(_image(values, masked), **params))


@pytest.mark.parametrize("distinct", [1, 7, 200])
def test_few_colours_give_a_paletted_png_with_the_same_pixels(distinct):
    rng = np.random.default_rng(distinct)
    levels = rng.random(distinct).astype(np.float32)
    values = levels[rng.integers(0, distinct, (256, 256))]
    masked = rng.random((256, 256)) < 0.3
    (theirs, kind), (ours, our_kind) = _both(values, masked, colormap=COLORMAP, output_format=ImageType.png,
                                             rescale=[(0, 1)])
    assert our_kind == kind == "image/png" and _colour_type(ours) == 3 and _colour_type(theirs) == 6
    assert np.array_equal(_rgba(ours), _rgba(theirs))
    assert _rgba(ours)[..., 3][masked].max() == 0 and _rgba(ours)[..., 3][~masked].min() == 255
    assert len(ours) < len(theirs)


def test_more_than_a_palette_falls_back_to_rgba():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, (256, 256)).astype(np.uint8)  # every level, masked and not: 512 colours
    masked = rng.random((256, 256)) < 0.5
    (theirs, _), (ours, _) = _both(values, masked, colormap=COLORMAP, output_format=ImageType.png)
    assert _colour_type(ours) == 6 and np.array_equal(_rgba(ours), _rgba(theirs))


@pytest.mark.parametrize("params", [
    {"colormap": COLORMAP, "output_format": ImageType.jpeg, "rescale": [(0, 1)]},
    {"colormap": [((0, 100), (255, 0, 0, 255)), ((100, 256), (0, 0, 255, 255))], "output_format": ImageType.png},
    {"output_format": ImageType.png, "rescale": [(0, 1)]},
])
def test_what_a_palette_does_not_cover_is_titilers_render(params):
    rng = np.random.default_rng(3)
    values = (rng.integers(0, 4, (64, 64)) / 4).astype(np.float32)
    if "rescale" not in params:
        values = (values * 255).astype(np.uint8)
    masked = np.zeros((64, 64), bool)
    (theirs, kind), (ours, our_kind) = _both(values, masked, **params)
    assert (ours, our_kind) == (theirs, kind)
