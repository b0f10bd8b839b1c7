"""Cold tiles of score COGs without a warped read: every output pixel takes the COG pixel under its
centre (nearest), found by inverse projection, from the overview level TiTiler's warp would use.

A score COG is constant over each chip, so nearest sampling needs no resampling kernel and no GDAL
warper: project a coarse lattice of the tile's pixel centres into the COG's CRS (the projection is
smooth over a tile, so bilinear interpolation between lattice points is exact to a small fraction
of a pixel), read the one window of the right overview that covers them, and index it. Colormap,
rescale and PNG encoding stay TiTiler's: ``GridReader`` is a rio-tiler ``Reader`` whose ``tile()``
is replaced, so the factories, their parameters and their output are unchanged. Requests it does
not handle the same way (expressions, buffers, other resampling, several bands) go to rio-tiler.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from typing import Any

import attr
import numpy as np
import rasterio
from morecantile import Tile
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.windows import Window
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

#: Tile pixels between projected lattice points (the rest are interpolated).
LATTICE_STEP = 16
#: Keyword arguments of ``tile()`` this reader honours itself (with their default values only).
NEAREST = {"resampling_method": "nearest", "reproject_method": "nearest"}


#: Open datasets each thread keeps (asset files are immutable, named by their content).
OPEN_PER_THREAD = 8
_local = threading.local()


def _open(path: str) -> rasterio.DatasetReader:
    """This thread's open dataset of ``path`` (least recently used ones closed past OPEN_PER_THREAD):
    opening a COG (its header, its overviews) costs about as much as sampling a tile from it."""
    cache: OrderedDict[str, rasterio.DatasetReader] = getattr(_local, "datasets", None) or OrderedDict()
    _local.datasets = cache
    dataset = cache.pop(path, None)
    if dataset is None or dataset.closed:
        dataset = rasterio.open(path)
    cache[path] = dataset
    while len(cache) > OPEN_PER_THREAD:
        cache.popitem(last=False)[1].close()
    return dataset


@functools.lru_cache(maxsize=32)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)


def _lattice(bounds: tuple[float, float, float, float], width: int, height: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of a coarse lattice over the tile, and where each pixel sits in it."""
    west, south, east, north = bounds
    cols = np.unique(np.r_[np.arange(0, width, step), width - 1]).astype(np.float64)
    rows = np.unique(np.r_[np.arange(0, height, step), height - 1]).astype(np.float64)
    xs = west + (cols + 0.5) * (east - west) / width
    ys = north - (rows + 0.5) * (north - south) / height
    return xs, ys, cols, rows


@functools.lru_cache(maxsize=16)
def _weights(knots: tuple[float, ...], size: int) -> np.ndarray:
    """Linear interpolation from ``knots`` to every index 0..size-1, as a (size x knots) matrix."""
    eye = np.eye(len(knots))
    return np.stack([np.interp(np.arange(size), knots, eye[k]) for k in range(len(knots))], axis=1)


def _interpolate(values: np.ndarray, cols: np.ndarray, rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear upsampling of lattice ``values`` (rows x cols) to every pixel of the tile (einsum without
    BLAS: a threaded BLAS costs more than it saves on matrices this small, on a busy machine most)."""
    down = np.einsum("ir,rc->ic", _weights(tuple(rows), height), values, optimize=False)
    return np.einsum("ic,jc->ij", down, _weights(tuple(cols), width), optimize=False)


@attr.s
class GridReader(Reader):
    """A rio-tiler Reader whose web-map tiles are sampled (nearest) from the right overview, unwarped.
    Its dataset stays open for the next request of the same thread."""

    def __attrs_post_init__(self) -> None:
        if not self.dataset and isinstance(self.input, str) and "://" not in self.input:
            self.dataset = _open(self.input)
        super().__attrs_post_init__()

    def _handles(self, indexes: Any, expression: str | None, buffer: float | None, kwargs: dict) -> bool:
        if expression or buffer or self.dataset.count != 1 or indexes not in (None, 1, (1,), [1]):
            return False
        return all(str(getattr(kwargs.get(k, v), "value", kwargs.get(k, v))) == v for k, v in NEAREST.items()) and \
            set(kwargs) <= set(NEAREST)

    def tile(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None, indexes: Any = None,
             expression: str | None = None, buffer: float | None = None, **kwargs: Any) -> ImageData:
        """The tile as rio-tiler renders it with nearest resampling, by sampling instead of warping."""
        if not self._handles(indexes, expression, buffer, kwargs):
            return super().tile(tile_x, tile_y, tile_z, tilesize, indexes, expression, buffer, **kwargs)
        matrix = self.tms.matrix(tile_z)
        width, height = tilesize or matrix.tileWidth, tilesize or matrix.tileHeight
        bounds = tuple(self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z)))
        xs, ys, cols, rows = _lattice(bounds, width, height, LATTICE_STEP)
        grid_x, grid_y = np.meshgrid(xs, ys)
        project = _transformer(self.tms.rasterio_crs.to_wkt(), self.dataset.crs.to_wkt())
        src_x, src_y = project.transform(grid_x, grid_y)
        a, b, c, d, e, f = (~self.dataset.transform)[:6]
        src_col, src_row = a * src_x + b * src_y + c, d * src_x + e * src_y + f
        col = _interpolate(np.asarray(src_col), cols, rows, width, height)
        row = _interpolate(np.asarray(src_row), cols, rows, width, height)
        data, mask = self._sample(col, row, width)
        if mask.all() and not ((col >= 0) & (col < self.dataset.width) & (row >= 0) & (row < self.dataset.height)).any():
            raise TileOutsideBounds(f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) is outside bounds")
        array = np.ma.MaskedArray(data[np.newaxis], mask=mask[np.newaxis], fill_value=self.dataset.nodata)
        return ImageData(array, bounds=bounds, crs=self.tms.rasterio_crs, band_names=["b1"],
                         band_descriptions=[self.dataset.descriptions[0] or "b1"], dataset_statistics=None,
                         metadata={}, nodata=self.dataset.nodata, scales=list(self.dataset.scales),
                         offsets=list(self.dataset.offsets), assets=[self.input])

    def _decimation(self, col: np.ndarray, width: int) -> int:
        """The overview factor GDAL's warper reads from: the coarsest not coarser than the output pixels."""
        source_per_output = (np.nanmax(col) - np.nanmin(col)) / max(width - 1, 1)
        factors = [1, *self.dataset.overviews(1)]
        return max([f for f in factors if f <= source_per_output * 1.0001] or [1])

    def _sample(self, col: np.ndarray, row: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Values (float32) and mask of the COG pixels under ``col``, ``row`` (fractional full-res pixels)."""
        full_w, full_h = self.dataset.width, self.dataset.height
        inside = (col >= 0) & (col < full_w) & (row >= 0) & (row < full_h)
        nodata = self.dataset.nodata
        out = np.full(col.shape, nodata if nodata is not None else 0, dtype=self.dataset.dtypes[0])
        if inside.any():
            d = self._decimation(col, width)
            level_w, level_h = math.ceil(full_w / d), math.ceil(full_h / d)
            c = np.minimum((col[inside] / d).astype(np.int64), level_w - 1)
            r = np.minimum((row[inside] / d).astype(np.int64), level_h - 1)
            c0, c1, r0, r1 = int(c.min()), int(c.max()) + 1, int(r.min()), int(r.max()) + 1
            window = Window(c0 * d, r0 * d, min((c1 - c0) * d, full_w - c0 * d), min((r1 - r0) * d, full_h - r0 * d))
            block = self.dataset.read(1, window=window, out_shape=(r1 - r0, c1 - c0), resampling=Resampling.nearest)
            out[inside] = block[r - r0, c - c0]
        mask = ~inside
        if nodata is not None:
            mask |= out == nodata
        return out, mask
