"""Geometry of a Sentinel-2 granule from its MGRS tile id, offline, as real L2A products have it.

The tile's upper-left corner is the north-west corner of its MGRS 100 km square pushed outward onto
a 60 m lattice (counted from easting 0 and from the equator); the tile extends 109.8 km east and
south. The ``mgrs`` package only knows square centres, so the lettering is decoded here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

import antimeridian
import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.windows import Window
import shapely
from shapely import set_precision
from shapely.geometry import Polygon, mapping, shape

from publisher.constants import (
    CHIP_SIZE,
    CHIPS_PER_SIDE,
    CORNER_LATTICE_M,
    GRANULE_EXTENT_M,
    GRANULE_SIZE,
    PIXEL_SIZE,
)
from publisher.errors import DevscoreError

#: Latitude bands C..X (no I, no O); each 8 degrees from 80 S, X is 12 degrees.
BANDS = "CDEFGHJKLMNPQRSTUVWX"
#: 100 km column letters, by set (zone - 1) % 3.
COLUMN_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
#: 100 km row letters; odd zones start the cycle at A, even zones at F.
ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"
ROW_CYCLE_M = 2_000_000
SQUARE_M = 100_000
FALSE_NORTHING_SOUTH = 10_000_000
TILE_RE = re.compile(r"^(?P<zone>\d{1,2})(?P<band>[A-Z])(?P<col>[A-Z])(?P<row>[A-Z])$")
#: Points per footprint edge; densifies the UTM square so its WGS84 outline follows the curvature.
FOOTPRINT_POINTS_PER_EDGE = 20
#: Footprint coordinates are rounded to 1e-7 degrees (about 1 cm).
FOOTPRINT_PRECISION_DEG = 1e-7


class TileIdError(DevscoreError, ValueError):
    """An MGRS tile id that is malformed or names no real Sentinel-2 tile."""


def band_latitudes(band: str) -> tuple[float, float]:
    """South and north latitude of an MGRS latitude band."""
    i = BANDS.index(band)
    south = -80.0 + 8.0 * i
    return south, (84.0 if band == "X" else south + 8.0)


def _utm_crs(zone: int, north: bool) -> CRS:
    return CRS.from_epsg((32600 if north else 32700) + zone)


def _to_utm(zone: int, north: bool) -> Transformer:
    return Transformer.from_crs("EPSG:4326", _utm_crs(zone, north), always_xy=True)


def _to_wgs84(zone: int, north: bool) -> Transformer:
    return Transformer.from_crs(_utm_crs(zone, north), "EPSG:4326", always_xy=True)


def _square_origin(zone: int, band: str, col: str, row: str) -> tuple[int, int]:
    """Easting and northing (UTM, with false northing) of the square's south-west corner."""
    column_set = COLUMN_SETS[(zone - 1) % 3]
    if col not in column_set:
        raise TileIdError(
            f"column letter {col!r} does not exist in UTM zone {zone} (letters {column_set})"
        )
    if row not in ROW_LETTERS:
        raise TileIdError(f"row letter {row!r} is not an MGRS row letter ({ROW_LETTERS})")
    easting = (column_set.index(col) + 1) * SQUARE_M
    offset = 5 if zone % 2 == 0 else 0
    northing = ((ROW_LETTERS.index(row) - offset) % len(ROW_LETTERS)) * SQUARE_M
    # The row letters repeat every 2,000 km: lift into the cycle that reaches the band.
    south, _ = band_latitudes(band)
    north = band >= "N"
    central_meridian = -183 + 6 * zone
    _, band_min_northing = _to_utm(zone, north).transform(central_meridian, south)
    band_min_northing = math.floor(band_min_northing / SQUARE_M) * SQUARE_M
    while northing < band_min_northing:
        northing += ROW_CYCLE_M
    return easting, northing


def _check_square_in_band(zone: int, band: str, easting: int, northing: int) -> None:
    """Reject squares that lie wholly outside their latitude band (impossible tile ids)."""
    south, north = band_latitudes(band)
    xs = np.array([easting, easting + SQUARE_M, easting, easting + SQUARE_M], dtype=float)
    ys = np.array([northing, northing, northing + SQUARE_M, northing + SQUARE_M], dtype=float)
    _, lats = _to_wgs84(zone, band >= "N").transform(xs, ys)
    if np.all(lats < south - 0.5) or np.all(lats > north + 0.5):
        raise TileIdError(
            f"the 100 km square does not reach latitude band {band} "
            f"({south:g} to {north:g} degrees) in zone {zone}"
        )


@dataclass(frozen=True)
class TileGrid:
    """The 10 m grid of one Sentinel-2 granule: CRS, transform, footprint and chip windows."""

    tile: str
    epsg: int
    ulx: int
    uly: int

    @classmethod
    def from_tile_id(cls, tile_id: str) -> TileGrid:
        """Decode an MGRS tile id such as ``48RVU`` (a leading ``T`` is accepted)."""
        text = tile_id.strip().upper()
        if text.startswith("T") and len(text) in (6, 7):
            text = text[1:]
        m = TILE_RE.match(text)
        if not m:
            raise TileIdError(
                f"malformed MGRS tile id {tile_id!r}: expected zone 1-60, band letter and "
                "two 100 km square letters, e.g. '48RVU'"
            )
        zone, band = int(m["zone"]), m["band"]
        if not 1 <= zone <= 60:
            raise TileIdError(f"UTM zone {zone} in {tile_id!r} is outside 1-60")
        if band not in BANDS:
            raise TileIdError(f"latitude band {band!r} in {tile_id!r} is not one of C-X (no I, O)")
        try:
            easting, northing = _square_origin(zone, band, m["col"], m["row"])
            _check_square_in_band(zone, band, easting, northing)
        except TileIdError as exc:
            raise TileIdError(f"MGRS tile {text}: {exc}") from None
        north = band >= "N"
        false_northing = 0 if north else FALSE_NORTHING_SOUTH
        top = northing + SQUARE_M - false_northing  # true northing of the square's north edge
        ulx = math.floor(easting / CORNER_LATTICE_M) * CORNER_LATTICE_M
        uly = math.ceil(top / CORNER_LATTICE_M) * CORNER_LATTICE_M + false_northing
        epsg = (32600 if north else 32700) + zone
        return cls(tile=f"{zone:02d}{band}{m['col']}{m['row']}", epsg=epsg, ulx=ulx, uly=uly)

    @property
    def zone(self) -> int:
        """UTM zone number."""
        return self.epsg % 100

    @property
    def crs(self) -> CRS:
        """UTM CRS of the granule."""
        return CRS.from_epsg(self.epsg)

    @property
    def width(self) -> int:
        """Columns of the 10 m grid."""
        return GRANULE_SIZE

    @property
    def height(self) -> int:
        """Rows of the 10 m grid."""
        return GRANULE_SIZE

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the 10 m grid."""
        return (GRANULE_SIZE, GRANULE_SIZE)

    @property
    def transform(self) -> Affine:
        """Affine transform of the 10 m grid (north up)."""
        return Affine(PIXEL_SIZE, 0.0, self.ulx, 0.0, -PIXEL_SIZE, self.uly)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """(left, bottom, right, top) in the granule's UTM CRS."""
        return (self.ulx, self.uly - GRANULE_EXTENT_M, self.ulx + GRANULE_EXTENT_M, self.uly)

    @cached_property
    def footprint(self) -> dict:
        """WGS84 GeoJSON outline of the tile, edges densified, split at the antimeridian."""
        left, bottom, right, top = self.bounds
        t = np.linspace(0.0, 1.0, FOOTPRINT_POINTS_PER_EDGE, endpoint=False)
        xs = np.concatenate([left + t * (right - left), np.full_like(t, right),
                             right - t * (right - left), np.full_like(t, left)])
        ys = np.concatenate([np.full_like(t, top), top - t * (top - bottom),
                             np.full_like(t, bottom), bottom + t * (top - bottom)])
        lons, lats = _to_wgs84(self.zone, self.epsg < 32700).transform(xs, ys)
        ring = list(zip(lons.tolist(), lats.tolist()))[::-1]  # counter-clockwise
        fixed = antimeridian.fix_shape(mapping(Polygon(ring + ring[:1])))
        return mapping(set_precision(shape(fixed), FOOTPRINT_PRECISION_DEG))

    @property
    def bbox(self) -> list[float]:
        """WGS84 bbox of the footprint; west > east where it crosses the antimeridian."""
        return [round(v, 7) for v in antimeridian.bbox(shape(self.footprint))]

    @property
    def chips(self) -> ChipGrid:
        """The method's chip layout on the 10 m grid (343 px chips): the default for chip scores that
        do not say which grid they were cut from."""
        return ChipGrid(self.epsg, self.transform, GRANULE_SIZE, GRANULE_SIZE, CHIP_SIZE)

    def chip_window(self, row: int, col: int) -> Window:
        """Pixel window of chip (row, col) on the 10 m grid (see :attr:`chips`)."""
        return self.chips.chip_window(row, col)

    def chip_windows(self) -> Iterator[tuple[int, int, Window]]:
        """All 32 x 32 chip windows of the 10 m grid in row-major order, as (row, col, window)."""
        return self.chips.chip_windows()

    def chip_polygon(self, row: int, col: int) -> Polygon:
        """Chip outline in the granule's UTM CRS, on the 10 m grid."""
        return self.chips.chip_polygon(row, col)


class ChipGridError(DevscoreError, ValueError):
    """A chip grid that cannot be the one chips were cut from (not north-up, no chip fits, bad CRS)."""


@dataclass(frozen=True)
class ChipGrid:
    """The raster grid chips were cut from and their layout on it: ``transform`` of the source pixels,
    ``width`` x ``height`` pixels, 32 x 32 chips of ``chip_px`` pixels from the upper-left corner (the
    remainder strip east and south belongs to no chip). Every published chip footprint comes from here.

    The chips file records the chip grid's affine (``chip_transform``: one cell a chip); the source grid is
    that affine divided by the chip side, so a score COG painted on it covers each chip's cut window exactly.
    """

    epsg: int
    transform: Affine
    width: int
    height: int
    chip_px: int

    def __post_init__(self) -> None:
        t = self.transform
        if not (t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0 and math.isfinite(t.c) and math.isfinite(t.f)):
            raise ChipGridError(f"chip grid transform {tuple(t)[:6]} is not a north-up grid")
        if self.chip_px < 1 or min(self.width, self.height) < CHIPS_PER_SIDE * self.chip_px:
            raise ChipGridError(f"{CHIPS_PER_SIDE} chips of {self.chip_px} px do not fit a "
                                f"{self.width} x {self.height} px grid")

    @classmethod
    def from_chip_transform(cls, tile: TileGrid, chip_transform: Affine, chip_px: int) -> ChipGrid:
        """The grid chips of ``chip_px`` pixels were cut from, given the chip grid's affine (the chips file's
        ``chip_transform``); it spans the granule's footprint (109.8 km) at the source pixel size."""
        t = chip_transform  # divided, not multiplied by 1 / chip_px: 3400 / 34 is exactly 100
        transform = Affine(t.a / chip_px, t.b / chip_px, t.c, t.d / chip_px, t.e / chip_px, t.f)
        left, bottom, right, top = tile.bounds
        width = round((right - transform.c) / transform.a)
        height = round((transform.f - bottom) / -transform.e)
        return cls(tile.epsg, transform, max(width, CHIPS_PER_SIDE * chip_px), max(height, CHIPS_PER_SIDE * chip_px),
                   chip_px)

    @property
    def crs(self) -> CRS:
        """UTM CRS of the grid."""
        return CRS.from_epsg(self.epsg)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return (self.height, self.width)

    @property
    def pixel_size(self) -> float:
        """Side of a source pixel in metres."""
        return self.transform.a

    @property
    def chipped(self) -> int:
        """Pixels per side covered by chips (32 x ``chip_px``)."""
        return CHIPS_PER_SIDE * self.chip_px

    @property
    def chip_transform(self) -> Affine:
        """Affine of the 32 x 32 chip grid: one cell a chip."""
        return self.transform @ Affine.scale(self.chip_px)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the grid in its CRS."""
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    def chip_window(self, row: int, col: int) -> Window:
        """Pixel window of chip (row, col): row 0 is the northern row, col 0 the western column."""
        if not (0 <= row < CHIPS_PER_SIDE and 0 <= col < CHIPS_PER_SIDE):
            raise IndexError(f"chip ({row}, {col}) is outside 0..{CHIPS_PER_SIDE - 1}")
        return Window(col * self.chip_px, row * self.chip_px, self.chip_px, self.chip_px)

    def chip_windows(self) -> Iterator[tuple[int, int, Window]]:
        """All 32 x 32 chip windows in row-major order, as (row, col, window)."""
        for row in range(CHIPS_PER_SIDE):
            for col in range(CHIPS_PER_SIDE):
                yield row, col, self.chip_window(row, col)

    def chip_polygon(self, row: int, col: int) -> Polygon:
        """Chip outline in the grid's UTM CRS."""
        w = self.chip_window(row, col)
        x0, y0 = self.transform @ (w.col_off, w.row_off)
        x1, y1 = self.transform @ (w.col_off + w.width, w.row_off + w.height)
        return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def chip_boxes(self, edge_points: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, UTM polygons) of all 1024 chips, row-major; edges cut into ``edge_points`` segments
        so a reprojected outline follows the square."""
        rows, cols = np.divmod(np.arange(CHIPS_PER_SIDE * CHIPS_PER_SIDE), CHIPS_PER_SIDE)
        x0, y0 = self.chip_transform @ (cols, rows)
        x1, y1 = self.chip_transform @ (cols + 1, rows + 1)
        boxes = shapely.box(x0, y1, x1, y0)
        if edge_points > 1:
            boxes = shapely.segmentize(boxes, self.chip_px * self.pixel_size / edge_points)
        return rows, cols, boxes
