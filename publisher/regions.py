"""The Sentinel-2 granules (MGRS tiles) that cover a WGS84 bounding box, computed offline.

MGRS cuts each UTM zone (6 degrees of longitude) and latitude band (8 degrees, 12 for X) into 100 km
squares; a square clipped to its zone and band is a *cell*, and the cells partition the earth between
80 S and 84 N. A Sentinel-2 tile is named after its square and extends 109.8 km east and south of the
square's north-west corner, so its footprint holds its cell: the tiles of the cells a box meets cover
the box, and no tile of a cell the box misses is taken, even where its 9.8 km overlap reaches the box.
The square lettering is the one ``publisher.grid`` decodes; the test checks the two against each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import Transformer
from shapely import box as shapely_box
from shapely.geometry import Polygon

from publisher.errors import DevscoreError
from publisher.grid import BANDS, COLUMN_SETS, ROW_LETTERS, SQUARE_M, TileGrid, band_latitudes

#: Latitudes MGRS (and Sentinel-2's tiling) covers; UPS covers the poles.
SOUTH_LIMIT, NORTH_LIMIT = -80.0, 84.0
#: Points per edge when a lon/lat rectangle is carried into UTM (its edges curve there).
EDGE_POINTS = 64
#: Boxes wider than this are refused: a bbox is a region, not a continent (about 2,000 tiles at most).
MAX_SPAN_DEG = 60.0


class BBoxError(DevscoreError, ValueError):
    """A bounding box that is malformed or outside what MGRS covers."""


@dataclass(frozen=True)
class BBox:
    """A WGS84 box: west, south, east, north in degrees (west <= east: no antimeridian crossing)."""

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        values = (self.west, self.south, self.east, self.north)
        if not all(math.isfinite(v) for v in values):
            raise BBoxError(f"bbox {self.text()} has a value that is not a finite number")
        if not (-180 <= self.west <= 180 and -180 <= self.east <= 180):
            raise BBoxError(f"bbox {self.text()}: longitudes must lie in -180..180")
        if self.west > self.east:
            raise BBoxError(f"bbox {self.text()}: west {self.west:g} is east of east {self.east:g} "
                            "(give W,S,E,N; a box across the antimeridian is two boxes)")
        if self.south > self.north:
            raise BBoxError(f"bbox {self.text()}: south {self.south:g} is north of north {self.north:g}")
        if self.south < SOUTH_LIMIT or self.north > NORTH_LIMIT:
            raise BBoxError(f"bbox {self.text()}: latitudes must lie in {SOUTH_LIMIT:g}..{NORTH_LIMIT:g} "
                            "(Sentinel-2 granules follow MGRS, which stops there)")
        if self.east - self.west > MAX_SPAN_DEG or self.north - self.south > MAX_SPAN_DEG:
            raise BBoxError(f"bbox {self.text()} spans more than {MAX_SPAN_DEG:g} degrees; split the region")

    @classmethod
    def parse(cls, text: str) -> "BBox":
        """``"W,S,E,N"`` in degrees."""
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4:
            raise BBoxError(f"bbox {text!r} is not W,S,E,N (four numbers in degrees, e.g. 103.9,30.5,104.2,30.8)")
        return cls(*values)

    def text(self) -> str:
        """``W,S,E,N`` as given."""
        return ",".join(f"{v:g}" for v in (self.west, self.south, self.east, self.north))

    def polygon(self) -> Polygon:
        """The box as a WGS84 polygon."""
        return shapely_box(self.west, self.south, self.east, self.north)


def _rectangle_in_utm(west: float, south: float, east: float, north: float, to_utm: Transformer) -> Polygon:
    """A lon/lat rectangle as a polygon in UTM, its edges densified (a degenerate one stays a point or line)."""
    t = np.linspace(0.0, 1.0, EDGE_POINTS, endpoint=False)
    lons = np.concatenate([west + t * (east - west), np.full_like(t, east), east - t * (east - west),
                           np.full_like(t, west)])
    lats = np.concatenate([np.full_like(t, south), south + t * (north - south), np.full_like(t, north),
                           north - t * (north - south)])
    xs, ys = to_utm.transform(lons, lats)
    return Polygon(zip(xs, ys)).buffer(0) if (east > west and north > south) else Polygon(zip(xs, ys)).convex_hull


def _tile_id(zone: int, band: str, easting_index: int, northing_index: int) -> str | None:
    """The MGRS tile of the 100 km square whose south-west corner is (index x 100 km), None off the lettering."""
    columns = COLUMN_SETS[(zone - 1) % 3]
    if not 1 <= easting_index <= len(columns):
        return None
    offset = 5 if zone % 2 == 0 else 0
    row = ROW_LETTERS[(northing_index + offset) % len(ROW_LETTERS)]
    return f"{zone:02d}{band}{columns[easting_index - 1]}{row}"


def tiles_for_bbox(bbox: BBox) -> list[str]:
    """The MGRS tile ids whose cells meet ``bbox`` (sorted), each a Sentinel-2 granule TileGrid accepts."""
    found: set[str] = set()
    first_zone = min(int((bbox.west + 180) // 6) + 1, 60)
    last_zone = min(int((bbox.east + 180) // 6) + 1, 60)
    for zone in range(first_zone, last_zone + 1):
        zone_west, zone_east = -180.0 + 6 * (zone - 1), -180.0 + 6 * zone
        west, east = max(bbox.west, zone_west), min(bbox.east, zone_east)
        if west > east or (west == zone_east and zone < 60):  # touches the next zone only
            continue
        for band in BANDS:
            band_south, band_north = band_latitudes(band)
            south, north = max(bbox.south, band_south), min(bbox.north, band_north)
            if south > north or (south == band_north and band != BANDS[-1]):
                continue
            north_hemisphere = band >= "N"
            to_utm = Transformer.from_crs("EPSG:4326", (32600 if north_hemisphere else 32700) + zone, always_xy=True)
            region = _rectangle_in_utm(west, south, east, north, to_utm)
            cell = _rectangle_in_utm(zone_west, band_south, zone_east, band_north, to_utm)
            minx, miny, maxx, maxy = region.bounds
            for ei in range(math.floor(minx / SQUARE_M), math.floor(maxx / SQUARE_M) + 1):
                for ni in range(math.floor(miny / SQUARE_M), math.floor(maxy / SQUARE_M) + 1):
                    square = shapely_box(ei * SQUARE_M, ni * SQUARE_M, (ei + 1) * SQUARE_M, (ni + 1) * SQUARE_M)
                    part = square.intersection(cell)
                    if part.is_empty or not part.intersects(region):
                        continue
                    tile = _tile_id(zone, band, ei, ni)  # southern northings carry the false northing
                    if tile is not None:
                        found.add(TileGrid.from_tile_id(tile).tile)
    return sorted(found)
