"""PNG tiles of a one-band layer through a 256-entry colormap, encoded as paletted PNGs.

A score, uncertainty, change or night-light tile holds few distinct values (a score COG is constant
over each 3.4 km chip), so the colours a tile uses fit a palette: the PNG is one byte a pixel instead
of four, about half the bytes, and Pillow encodes it in about a third of the time of TiTiler's RGBA
PNG through GDAL (``bench/bench_cold_tiles.py``). Decoded, every pixel's RGBA is the one
``titiler.core.utils.render_image`` gives, masked pixels included (tests/test_render.py). Anything
else (other formats, expressions, intervals, more than 256 colours in a tile) is TiTiler's own
``render_image``. ``render_tile`` is the ``render_func`` of every tile factory of the server.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from rio_tiler.colormap import make_lut
from rio_tiler.models import ImageData
from rio_tiler.profiles import img_profiles
from rio_tiler.types import ColorMapType, IntervalTuple
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image

#: zlib level of the PNGs: TiTiler's (rio-tiler's PNG profile), so the bytes cost what they did.
PNG_ZLEVEL = int(img_profiles.get("png")["zlevel"])


def _lookup_table(colormap: ColorMapType | None) -> np.ndarray | None:
    """The colormap as a 256 x 4 table when rio-tiler applies it as one (256 integer keys 0-255), else None."""
    if not isinstance(colormap, dict) or len(colormap) != 256:
        return None
    if any(not isinstance(k, (int, np.integer)) or not 0 <= k < 256 for k in colormap):
        return None
    return make_lut(colormap)


def _paletted_png(index: np.ndarray, valid: np.ndarray, table: np.ndarray) -> bytes | None:
    """A paletted PNG of uint8 ``index`` through ``table`` (transparent where not ``valid``, keeping the
    colour TiTiler gives such pixels), or None when the tile needs more than 256 palette entries."""
    key = index.astype(np.uint16) + np.where(valid, 0, 256).astype(np.uint16)
    used = np.flatnonzero(np.bincount(key.ravel(), minlength=512))
    if len(used) > 256:
        return None
    position = np.zeros(512, np.uint8)
    position[used] = np.arange(len(used), dtype=np.uint8)
    masked = table.copy()
    masked[:, 3] = 0
    palette = np.concatenate([table, masked])[used]
    picture = Image.fromarray(position[key], "P")
    picture.putpalette(palette.tobytes(), "RGBA")
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=PNG_ZLEVEL)
    return out.getvalue()


def render_tile(image: ImageData, colormap: ColorMapType | None = None, output_format: ImageType | None = None,
                add_mask: bool = True, rescale: Sequence[IntervalTuple] | None = None, color_formula: str | None = None,
                **kwargs: Any) -> tuple[bytes, str]:
    """TiTiler's ``render_image``, with a paletted PNG for one band through a 256-entry colormap."""
    table = _lookup_table(colormap)
    if output_format != ImageType.png or table is None or color_formula or kwargs or not add_mask or image.count != 1:
        return render_image(image, colormap=colormap, output_format=output_format, add_mask=add_mask,
                            rescale=rescale, color_formula=color_formula, **kwargs)
    if rescale:
        image.rescale(rescale)
    if image.array.dtype == np.uint8:
        content = _paletted_png(image.data[0], ~np.ma.getmaskarray(image.array)[0], table)
        if content is not None:
            return content, output_format.mediatype
    return render_image(image, colormap=colormap, output_format=output_format, add_mask=add_mask)
