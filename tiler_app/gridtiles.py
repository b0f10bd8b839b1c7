"""Cold tiles of score COGs without a warped read: every output pixel takes the COG pixel under its
centre (nearest), found by inverse projection, from the overview level TiTiler's warp would use.

A score COG is constant over each chip, so nearest sampling needs no resampling kernel and no GDAL
warper: project a coarse lattice of the tile's pixel centres into the COG's CRS (the projection is
smooth over a tile, so bilinear interpolation between lattice points is exact to a small fraction
of a pixel), read the one window of the right overview that covers them, and index it. Colormap,
rescale and PNG encoding stay TiTiler's: ``GridReader`` is a rio-tiler ``Reader`` whose ``tile()``
is replaced, so the factories, their parameters and their output are unchanged. Requests it does
not handle the same way (expressions, buffers, other resampling, several bands) go to rio-tiler.

A published score COG says how big its chips are (the ``chip_px`` tag, ``publisher.cog``): there no
raster is read per tile at all. Each output pixel's chip is ``floor(pixel / chip_px)`` of its source
position, its value one of the 32 x 32 chip values, read once per file (``_grid``, a process-wide
LRU). Away from chip edges that is the warped read's pixel at every zoom (an overview pixel there is
one of the chip's own pixels).
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import attr
import numpy as np
import rasterio
from morecantile import Tile

from publisher.constants import CHIPS_PER_SIDE
from publisher.cog import CHIP_PX_TAG
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


#: Open datasets kept for reuse by the process (asset files are immutable, named by their content): more
#: than the granules of a busy region's year mosaics, whose tiles each open several.
OPEN_DATASETS = 128
_idle: OrderedDict[str, list[rasterio.DatasetReader]] = OrderedDict()
_idle_lock = threading.Lock()


def _checkout(path: str) -> rasterio.DatasetReader:
    """An open dataset of ``path`` for one reader's use until ``_checkin``: a kept one, or a new one.
    Opening a COG (its header, its overviews) costs about as much as sampling a tile from it."""
    with _idle_lock:
        kept = _idle.get(path)
        if kept:
            dataset = kept.pop()
            if not kept:
                del _idle[path]
            return dataset
    return rasterio.open(path)


def _checkin(path: str, dataset: rasterio.DatasetReader) -> None:
    """Keep ``dataset`` for the next reader of ``path``; past OPEN_DATASETS the least recently used go."""
    surplus = []
    with _idle_lock:
        _idle.setdefault(path, []).append(dataset)
        _idle.move_to_end(path)
        count = sum(len(kept) for kept in _idle.values())
        while count > OPEN_DATASETS:
            oldest, kept = next(iter(_idle.items()))
            surplus.append(kept.pop(0))
            if not kept:
                del _idle[oldest]
            count -= 1
    for extra in surplus:
        extra.close()


@dataclass(frozen=True)
class ChipValues:
    """What a tile of a chip-constant COG needs from the file: its grid, and the chip values (a
    (CHIPS_PER_SIDE + 2)^2 table, nodata in its last two rows and columns: pixels past the chips and
    pixels outside the raster)."""

    crs_wkt: str
    inverse: tuple[float, float, float, float, float, float]
    width: int
    height: int
    nodata: float
    chip_px: int
    table: np.ndarray


@functools.lru_cache(maxsize=1024)
def _chip_grid(path: str, stamp: tuple[int, int]) -> ChipValues | None:
    """The chip grid of the COG at ``path`` (``stamp``: its mtime and size), or None when it carries no
    ``chip_px`` tag. The chip values are one nearest read of 32 x 32 pixels, each a chip's centre."""
    with rasterio.open(path) as dataset:
        chip_px = int(dataset.tags().get(CHIP_PX_TAG, 0) or 0)
        nodata = dataset.nodata
        side = CHIPS_PER_SIDE * chip_px
        if dataset.count != 1 or chip_px <= 0 or nodata is None or side > min(dataset.width, dataset.height):
            return None
        values = dataset.read(1, window=Window(0, 0, side, side), out_shape=(CHIPS_PER_SIDE, CHIPS_PER_SIDE),
                              resampling=Resampling.nearest)
        table = np.full((CHIPS_PER_SIDE + 2, CHIPS_PER_SIDE + 2), nodata, dtype=dataset.dtypes[0])
        table[:CHIPS_PER_SIDE, :CHIPS_PER_SIDE] = values
        return ChipValues(dataset.crs.to_wkt(), tuple((~dataset.transform)[:6]), dataset.width, dataset.height,
                        nodata, chip_px, table)


def chip_grid(path: str) -> ChipValues | None:
    """The cached chip grid of the local file ``path`` (re-read when the file changes), or None."""
    stat = os.stat(path)
    return _chip_grid(path, (stat.st_mtime_ns, stat.st_size))


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
def _stencil(knots: tuple[float, ...], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every index 0..size-1: the knots before and after it and its fraction of the way between."""
    k = np.asarray(knots)
    at = np.arange(size, dtype=np.float64)
    low = np.clip(np.searchsorted(k, at, side="right") - 1, 0, len(k) - 1)
    high = np.minimum(low + 1, len(k) - 1)
    span = k[high] - k[low]
    fraction = np.divide(at - k[low], span, out=np.zeros(size), where=span > 0)
    return low, high, fraction


def _interpolate(values: np.ndarray, cols: np.ndarray, rows: np.ndarray, width: int, height: int,
                 window: tuple[slice, slice]) -> np.ndarray:
    """Bilinear upsampling of lattice ``values`` (rows x cols) to the tile's pixels in ``window`` (rows,
    columns): each pixel from the two lattice rows, then the two lattice columns, around it."""
    low, high, fraction = (a[window[0]] for a in _stencil(tuple(rows), height))
    down = values[low] + (values[high] - values[low]) * fraction[:, None]
    low, high, fraction = (a[window[1]] for a in _stencil(tuple(cols), width))
    left = down[:, low]
    return left + (down[:, high] - left) * fraction


def _span(lattice: np.ndarray, size: int) -> np.ndarray:
    """Which lattice cells' corners straddle some of 0..size along one source axis (NaN corners ignored):
    a pixel's position interpolates its cell's corners, so a cell whose corners all lie on one side of
    the raster holds no pixel inside it."""
    corners = np.stack([lattice[:-1, :-1], lattice[:-1, 1:], lattice[1:, :-1], lattice[1:, 1:]])
    with np.errstate(invalid="ignore"):  # fmax/fmin skip NaN; an all-NaN cell stays NaN: False below
        return (np.fmax.reduce(corners, axis=0) >= 0) & (np.fmin.reduce(corners, axis=0) < size)


def _window(src_col: np.ndarray, src_row: np.ndarray, cols: np.ndarray, rows: np.ndarray, width: int,
            height: int) -> tuple[slice, slice] | None:
    """The tile's pixel rows and columns that can fall inside a ``width`` x ``height`` raster: the box of
    the lattice cells meeting it (a granule covers a small part of a low-zoom mosaic tile, and only
    there are pixels interpolated and looked up); None when no cell meets it."""
    meets = _span(src_col, width) & _span(src_row, height)
    if not meets.any():
        return None
    cell_rows, cell_cols = np.flatnonzero(meets.any(axis=1)), np.flatnonzero(meets.any(axis=0))
    return (slice(int(rows[cell_rows[0]]), int(rows[cell_rows[-1] + 1]) + 1),
            slice(int(cols[cell_cols[0]]), int(cols[cell_cols[-1] + 1]) + 1))


@functools.lru_cache(maxsize=64)
def _wkt_of(crs: Any) -> str:
    return crs.to_wkt()


def _wkt(crs: Any) -> str:
    """WKT of a rasterio CRS, cached (``to_wkt`` costs about 0.1 ms)."""
    return _wkt_of(crs)


_TMS_WKT: dict[tuple[str, str], str] = {}


def _tms_wkt(tms: Any) -> str:
    """WKT of a tile matrix set's CRS, cached by the set's id and CRS (TiTiler hands each request a new
    copy of the set)."""
    key = (str(tms.id), str(tms.crs))
    if key not in _TMS_WKT:
        _TMS_WKT[key] = tms.rasterio_crs.to_wkt()
    return _TMS_WKT[key]


def _from_chips(chips: ChipValues, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and mask of the chips under ``col``, ``row`` (fractional full-resolution pixels): pixels
    past the chips and outside the raster take the table's nodata."""
    inside = (col >= 0) & (col < chips.width) & (row >= 0) & (row < chips.height)  # NaN: outside
    last = CHIPS_PER_SIDE + 1
    with np.errstate(invalid="ignore"):  # NaN and far-away positions: replaced below
        c = np.minimum((col * (1.0 / chips.chip_px)).astype(np.intp), last)
        r = np.minimum((row * (1.0 / chips.chip_px)).astype(np.intp), last)
    index = r * (last + 1) + c
    index[~inside] = -1  # the table's last cell: nodata
    out = np.take(chips.table, index)
    return out, out == chips.nodata


@attr.s
class GridReader(Reader):
    """A rio-tiler Reader whose nearest web-map tiles come from the chip values (a tagged score COG) or
    from the overview the warp would read, unwarped. Its dataset stays open for the next reader of the
    same file (``_checkout``), in any thread."""

    _pooled: rasterio.DatasetReader | None = attr.ib(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        if not self.dataset and isinstance(self.input, str) and "://" not in self.input:
            self.dataset = self._pooled = _checkout(self.input)
        super().__attrs_post_init__()

    def close(self) -> None:
        super().close()
        if self._pooled is not None:
            _checkin(self.input, self._pooled)
            self._pooled = None

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
        chips = chip_grid(self.input) if isinstance(self.input, str) and "://" not in self.input else None
        xs, ys, cols, rows = _lattice(bounds, width, height, LATTICE_STEP)
        grid_x, grid_y = np.meshgrid(xs, ys)
        project = _transformer(_tms_wkt(self.tms), chips.crs_wkt if chips else _wkt(self.dataset.crs))
        src_x, src_y = project.transform(grid_x, grid_y)
        a, b, c, d, e, f = chips.inverse if chips else (~self.dataset.transform)[:6]
        src_col, src_row = np.asarray(a * src_x + b * src_y + c), np.asarray(d * src_x + e * src_y + f)
        outside = f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) is outside bounds"
        window = _window(src_col, src_row, cols, rows, self.dataset.width, self.dataset.height)
        if window is None:
            raise TileOutsideBounds(outside)
        col = _interpolate(src_col, cols, rows, width, height, window)
        row = _interpolate(src_row, cols, rows, width, height, window)
        part, part_mask = _from_chips(chips, col, row) if chips else self._sample(col, row, src_col, width)
        if part_mask.all() and not ((col >= 0) & (col < self.dataset.width) & (row >= 0) & (row < self.dataset.height)).any():
            raise TileOutsideBounds(outside)
        data = np.full((height, width), 0 if self.dataset.nodata is None else self.dataset.nodata, dtype=part.dtype)
        mask = np.ones((height, width), dtype=bool)
        data[window], mask[window] = part, part_mask
        array = np.ma.MaskedArray(data[np.newaxis], mask=mask[np.newaxis], fill_value=self.dataset.nodata)
        return ImageData(array, bounds=bounds, crs=self.tms.rasterio_crs, band_names=["b1"],
                         band_descriptions=[self.dataset.descriptions[0] or "b1"], dataset_statistics=None,
                         metadata={}, nodata=self.dataset.nodata, scales=list(self.dataset.scales),
                         offsets=list(self.dataset.offsets), assets=[self.input])

    def _decimation(self, lattice_col: np.ndarray, width: int) -> int:
        """The overview factor GDAL's warper reads from: the coarsest not coarser than the output pixels
        (``lattice_col``: the source columns of the tile's lattice, whose extremes are the pixels')."""
        source_per_output = (np.nanmax(lattice_col) - np.nanmin(lattice_col)) / max(width - 1, 1)
        factors = [1, *self.dataset.overviews(1)]
        return max([f for f in factors if f <= source_per_output * 1.0001] or [1])

    def _sample(self, col: np.ndarray, row: np.ndarray, lattice_col: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Values and mask of the COG pixels under ``col``, ``row`` (fractional full-res pixels) of a tile
        ``width`` pixels wide whose lattice's source columns are ``lattice_col``."""
        full_w, full_h = self.dataset.width, self.dataset.height
        inside = (col >= 0) & (col < full_w) & (row >= 0) & (row < full_h)
        nodata = self.dataset.nodata
        out = np.full(col.shape, nodata if nodata is not None else 0, dtype=self.dataset.dtypes[0])
        if inside.any():
            d = self._decimation(lattice_col, width)
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
