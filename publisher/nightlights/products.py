"""Readers of the night-light products users download, each giving float32 radiance (nW/cm2/sr) on
its own native 15 arc-second grid with every invalid pixel as NaN.

Validity rule, per product (never counted as dark, i.e. never as radiance 0: they are left out):
- EOG VNL v2.x GeoTIFF (``.tif`` or ``.tif.gz`` read in place through ``/vsigzip/``): the declared
  nodata value (when there is one), non-finite values, and negative values (the background noise of
  the unmasked ``average``/``median`` layers dips below 0; no radiance is negative).
- NASA Black Marble VNP46A4 HDF-EOS5: the layer's ``_FillValue`` (collection 2: float32 -999.9,
  collection 1: uint16 65535 when the attribute is absent), then ``scale_factor``/``add_offset``
  (collection 1 defaults to 0.1 when uint16 carries no scale factor), then negative values.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from publisher.constants import VNP46A4_DEFAULT_LAYER
from publisher.errors import DevscoreError

log = logging.getLogger(__name__)

#: 15 arc-seconds, the pixel of both products.
PIXEL_DEG = 1.0 / 240.0
#: GDAL block cache while reading a strip-organised VNL file: bounds memory whatever the window.
READ_CACHE_MB = 64
VNP46A4_GROUP = "HDFEOS/GRIDS/VIIRS_Grid_DNB_2d/Data Fields"
VNP46A4_TILE_PIXELS = 2400
VNP46A4_TILE_DEG = 10.0
#: Defaults of the two Black Marble collections when the file does not state them.
VNP46A4_C1_FILL, VNP46A4_C1_SCALE = 65535, 0.1
VNP46A4_C2_FILL = -999.9
VNP46A4_NAME = re.compile(r"VNP46A4\.A(?P<year>\d{4})(?P<doy>\d{3})\.h(?P<h>\d{2})v(?P<v>\d{2})"
                          r"\.(?P<collection>\d{3})\.",
                          re.IGNORECASE)
YEAR_IN_NAME = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")


class NightLightsError(DevscoreError):
    """A night-light file or request that cannot be used, named with the reason."""


@dataclass(frozen=True)
class GridSpec:
    """A raster grid: affine transform (north up) and shape (rows, cols), in EPSG:4326."""

    transform: Affine
    height: int
    width: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north)."""
        west, north = self.transform.c, self.transform.f
        return (west, north + self.height * self.transform.e, west + self.width * self.transform.a, north)

    def aligned_with(self, other: GridSpec, tol: float = 1e-3) -> bool:
        """True when both grids have the same pixel size and pixel edges."""
        a, b = self.transform, other.transform
        if abs(a.a - b.a) > 1e-9 or abs(a.e - b.e) > 1e-9:
            return False
        dx, dy = (a.c - b.c) / a.a, (a.f - b.f) / a.e
        return abs(dx - round(dx)) < tol and abs(dy - round(dy)) < tol


class NightLightSource:
    """One input file: its product, its year (from the name, when it states one) and a windowed reader."""

    product: str
    path: Path
    year: int | None
    grid: GridSpec
    layer: str

    def read(self, window: Window) -> np.ndarray:
        """float32 radiance of ``window`` (rows, cols in this source's grid), NaN where invalid."""
        raise NotImplementedError


def optional_import(name: str):
    """A module of the ``nightlights`` extra, or an error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise NightLightsError(f"{name} is not installed: pip install 'devscore[nightlights]'") from None


def _year_from_name(name: str) -> int | None:
    years = {int(y) for y in YEAR_IN_NAME.findall(name)}
    return years.pop() if len(years) == 1 else None


class VnlRaster(NightLightSource):
    """An EOG VNL GeoTIFF (global or a window of it, plain or gzip-compressed), read by windows."""

    product = "EOG VNL v2 annual composite"

    def __init__(self, path: Path, layer: str | None = None) -> None:
        self.path = path
        self.layer = layer or _vnl_layer(path.name)
        self.year = _year_from_name(path.name)
        self.href = f"/vsigzip/{path.resolve()}" if path.name.lower().endswith(".gz") else str(path.resolve())
        try:
            with rasterio.open(self.href) as src:
                crs, transform, self.nodata = src.crs, src.transform, src.nodata
                self.grid = GridSpec(transform, src.height, src.width)
                self.dtype = src.dtypes[0]
        except rasterio.errors.RasterioIOError as exc:
            raise NightLightsError(f"{path.name}: not a readable GeoTIFF ({_first_line(exc)})") from None
        if crs is None:
            raise NightLightsError(f"{path.name}: the raster has no CRS (expected EPSG:4326)")
        if CRS.from_user_input(crs) != CRS.from_epsg(4326):
            raise NightLightsError(f"{path.name}: CRS {crs.to_string()} is not EPSG:4326 (VNL is on a lon/lat grid)")
        if transform.b or transform.d or abs(transform.a - PIXEL_DEG) > 1e-6 or abs(transform.e + PIXEL_DEG) > 1e-6:
            raise NightLightsError(f"{path.name}: pixels are not north-up 15 arc-second squares "
                                   f"({transform.a:.6g} deg)")

    def read(self, window: Window) -> np.ndarray:
        gdal_log = logging.getLogger("rasterio._err")
        level = gdal_log.level
        gdal_log.setLevel(logging.ERROR)  # GDAL's own lines would repeat the one error raised below
        try:
            with rasterio.Env(GDAL_CACHEMAX=READ_CACHE_MB), rasterio.open(self.href) as src:
                data = src.read(1, window=window).astype(np.float32)
        except rasterio.errors.RasterioIOError as exc:
            raise NightLightsError(f"{self.path.name}: reading rows {window.row_off}..{window.row_off + window.height} "
                                   f"failed, the file is truncated or damaged ({_root_cause(exc)})") from None
        finally:
            gdal_log.setLevel(level)
        invalid = ~np.isfinite(data) | (data < 0)
        if self.nodata is not None:
            invalid |= data == np.float32(self.nodata)
        data[invalid] = np.nan
        return data


def _vnl_layer(name: str) -> str:
    for layer in ("average_masked", "average", "median_masked", "median", "maximum", "minimum", "cf_cvg", "cvg"):
        if f".{layer}." in name or f"_{layer}." in name:
            return layer
    return "radiance"


def _root_cause(exc: BaseException) -> str:
    """The first line of the innermost cause (GDAL's own message rather than rasterio's summary)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class Vnp46a4Tile(NightLightSource):
    """One Black Marble VNP46A4 HDF-EOS5 tile hXXvYY, georeferenced from its tile index."""

    product = "NASA Black Marble VNP46A4 annual"

    def __init__(self, path: Path, layer: str | None = None) -> None:
        h5py = optional_import("h5py")
        self.path, self.layer = path, layer or VNP46A4_DEFAULT_LAYER
        m = VNP46A4_NAME.search(path.name)
        if not m:
            raise NightLightsError(f"{path.name}: not a VNP46A4 file name (VNP46A4.AYYYYDDD.hXXvYY.CCC....h5)")
        self.year, self.collection = int(m["year"]), int(m["collection"])
        h, v = int(m["h"]), int(m["v"])
        if not (0 <= h <= 35 and 0 <= v <= 17):
            raise NightLightsError(f"{path.name}: tile h{h:02d}v{v:02d} is outside h00-h35, v00-v17")
        res = VNP46A4_TILE_DEG / VNP46A4_TILE_PIXELS
        self.grid = GridSpec(Affine(res, 0.0, -180.0 + VNP46A4_TILE_DEG * h, 0.0, -res, 90.0 - VNP46A4_TILE_DEG * v),
                             VNP46A4_TILE_PIXELS, VNP46A4_TILE_PIXELS)
        try:
            with h5py.File(path, "r") as f:
                group = f.get(VNP46A4_GROUP)
                if group is None:
                    raise NightLightsError(f"{path.name}: no HDF-EOS5 group {VNP46A4_GROUP!r}")
                if self.layer not in group:
                    layers = ", ".join(k for k in group if isinstance(group[k], h5py.Dataset) and group[k].ndim == 2)
                    raise NightLightsError(f"{path.name}: no layer {self.layer!r} (layers: {layers})")
                ds = group[self.layer]
                if ds.shape != (VNP46A4_TILE_PIXELS, VNP46A4_TILE_PIXELS):
                    raise NightLightsError(f"{path.name}: layer {self.layer} is {ds.shape}, expected 2400 x 2400")
                self.dtype = ds.dtype
                self.fill = _attr(ds, "_FillValue", VNP46A4_C1_FILL if ds.dtype == np.uint16 else VNP46A4_C2_FILL)
                self.scale = _attr(ds, "scale_factor", VNP46A4_C1_SCALE if ds.dtype == np.uint16 else 1.0)
                self.offset = _attr(ds, "add_offset", 0.0)
                self._check_lonlat(group)
        except OSError as exc:
            raise NightLightsError(f"{path.name}: not a readable HDF5 file, truncated or damaged "
                                   f"({_first_line(exc)})") from None

    def _check_lonlat(self, group) -> None:
        """Where the file carries lon/lat of pixel centres, they must agree with the tile index."""
        west, south, east, north = self.grid.bounds
        for name, first, step in (("lon", west, PIXEL_DEG), ("lat", north, -PIXEL_DEG)):
            if name in group and group[name].ndim == 1 and group[name].shape[0] > 1:
                values = group[name][:2]
                if abs(values[0] - (first + step / 2)) > PIXEL_DEG / 2:
                    raise NightLightsError(f"{self.path.name}: its {name} ({values[0]:.4f}) contradicts the tile "
                                           f"index of its name ({first + step / 2:.4f})")

    def read(self, window: Window) -> np.ndarray:
        h5py = optional_import("h5py")
        r0, c0 = int(window.row_off), int(window.col_off)
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        try:
            with h5py.File(self.path, "r") as f:
                raw = f[VNP46A4_GROUP][self.layer][r0:r1, c0:c1]
        except OSError as exc:
            raise NightLightsError(f"{self.path.name}: reading {self.layer} failed, the file is truncated or damaged "
                                   f"({_first_line(exc)})") from None
        if np.issubdtype(raw.dtype, np.floating):
            invalid = ~np.isfinite(raw) | np.isclose(raw, self.fill, atol=1e-3)
        else:
            invalid = raw == self.fill
        data = (raw.astype(np.float64) * self.scale + self.offset).astype(np.float32)
        invalid |= data < 0
        data[invalid] = np.nan
        return data


def _attr(ds, name: str, default: float) -> float:
    value = ds.attrs.get(name)
    if value is None:
        return default
    return float(np.asarray(value).ravel()[0])


def open_sources(paths: Sequence[str | Path], layer: str | None = None) -> list[NightLightSource]:
    """Open every input file by its kind (``.h5``: VNP46A4, else a GeoTIFF); all must be one product
    on one grid. A truncated gzip or HDF5 file fails here or where a read reaches the cut."""
    if not paths:
        raise NightLightsError("no night-light rasters given")
    sources: list[NightLightSource] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise NightLightsError(f"{path}: no such file")
        if path.suffix.lower() in (".h5", ".hdf5", ".he5"):
            sources.append(Vnp46a4Tile(path, layer))
        else:
            if path.name.lower().endswith(".gz"):
                _check_gzip_header(path)
            sources.append(VnlRaster(path, layer))
    if len({s.product for s in sources}) > 1:
        raise NightLightsError("rasters of different products given at once: ingest VNL and VNP46A4 separately")
    for source in sources[1:]:
        if not source.grid.aligned_with(sources[0].grid):
            raise NightLightsError(f"{source.path.name} is not on the pixel grid of {sources[0].path.name}")
    return sources


def _check_gzip_header(path: Path) -> None:
    """A ``.gz`` file must start as gzip; a stream cut short is caught where a read reaches the cut
    (decompressing all of a 11.6 GB file up front to look for the cut would cost minutes)."""
    try:
        with gzip.open(path, "rb") as fh:
            fh.read(1)
    except (OSError, EOFError) as exc:
        raise NightLightsError(f"{path.name}: not a readable gzip file ({_first_line(exc)})") from None
