"""Render synthetic Sentinel-2 ``visual`` (true colour) scenes of a granule from the ground truth, strip by
strip, so a full 10980 x 10980 granule never holds more than one strip of float arrays.

Land cover follows the truth: dense urban cores with road grids and high texture, suburbs, rural field
mosaics, forested mountains and bare highland with relief shading, rivers. Each scene adds its own
clouds and a blank (nodata) swath edge, so scenes of one year differ in usefulness.

Smooth fields (truth, terrain, relief shading, vegetation patches, river distance, cloud cover) are
computed once on a coarse lattice (about 80 m) and interpolated bilinearly to each pixel; pixel-scale
texture (grain, field mosaic, road grid) is a function of the pixel's position. Rows r0..r1 rendered
alone are therefore identical to rows r0..r1 of a whole-image render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import Transformer

from publisher.imagery.truth import PLAIN_MAX_ELEVATION, development_field, fbm, terrain

#: Spacing of the lattice the smooth fields are computed on, in metres (pixels, when coarser).
LATTICE_M = 80.0
#: Rows rendered at once: 512 x 10980 x 3 float32 is 67 MB.
STRIP_ROWS = 512
#: Spacing of the urban road grid and size of rural fields, in metres.
ROAD_SPACING_M, ROAD_WIDTH_M = 420.0, 20.0
FIELD_W_M, FIELD_H_M = 260.0, 180.0
#: Development thresholds of the land-cover classes.
URBAN, SUBURB = 0.55, 0.3
#: Elevation thresholds: forest from here up, bare highland above the next.
FOREST, HIGHLAND = PLAIN_MAX_ELEVATION, 0.75
#: Latitudes of the region's rivers (they meander around these) and their half width in degrees (~75 m).
RIVER_LATITUDES, RIVER_HALF_WIDTH = (29.95, 30.45, 30.95), 0.0007
FIELD_COLOURS = np.array([[86, 120, 52], [118, 140, 62], [150, 150, 90], [132, 110, 74], [70, 100, 48]], np.float32)
CLOUD_BRIGHTNESS = 245.0


@dataclass(frozen=True)
class Lattice:
    """A coarse grid over an image (``step`` x ``step`` pixels a cell) and bilinear upsampling from it."""

    step: int
    image_shape: tuple[int, int]

    @classmethod
    def for_image(cls, shape: tuple[int, int], pixel_m: float) -> Lattice:
        """The lattice of about LATTICE_M spacing over an image of ``pixel_m`` metre pixels."""
        return cls(max(1, round(LATTICE_M / pixel_m)), shape)

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns of lattice cells (the last ones may reach past the image)."""
        return (math.ceil(self.image_shape[0] / self.step), math.ceil(self.image_shape[1] / self.step))

    def transform(self, image_transform: Affine) -> Affine:
        """Geotransform of the lattice as a raster."""
        return image_transform @ Affine.scale(self.step)

    def centres(self, image_transform: Affine) -> tuple[np.ndarray, np.ndarray]:
        """Projected x and y of every lattice cell centre."""
        rows, cols = np.mgrid[0 : self.shape[0], 0 : self.shape[1]].astype(np.float64) + 0.5
        return self.transform(image_transform) @ (cols, rows)

    def _axis(self, start: int, count: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = np.clip((np.arange(start, start + count) + 0.5) / self.step - 0.5, 0, cells - 1)
        low = np.minimum(np.floor(u).astype(np.intp), max(cells - 2, 0))
        return low, np.minimum(low + 1, cells - 1), (u - low).astype(np.float32)

    def upsample(self, field: np.ndarray, row0: int, nrows: int) -> np.ndarray:
        """Rows ``row0 .. row0 + nrows`` of ``field`` (lattice shape) interpolated to image pixels."""
        if self.step == 1:
            return field[row0 : row0 + nrows]
        r0, r1, wr = self._axis(row0, nrows, self.shape[0])
        c0, c1, wc = self._axis(0, self.image_shape[1], self.shape[1])
        rows = field[r0] * (1 - wr)[:, None] + field[r1] * wr[:, None]
        return rows[:, c0] * (1 - wc) + rows[:, c1] * wc


@dataclass(frozen=True)
class GroundFields:
    """The smooth fields of one granule-year on its lattice, from which any strip is rendered."""

    lattice: Lattice
    transform: Affine
    seed: int
    truth: np.ndarray
    elevation: np.ndarray
    shade: np.ndarray
    patches: np.ndarray
    river: np.ndarray  # distance in degrees of latitude to the nearest river line


def _hillshade(elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    dy, dx = np.gradient(elevation * 3000.0, pixel_m)
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    azimuth, altitude = np.radians(315.0), np.radians(45.0)
    shade = np.sin(altitude) * np.cos(slope) + np.cos(altitude) * np.sin(slope) * np.cos(azimuth - aspect)
    return np.clip(shade, 0.2, 1.0)


def ground_fields(transform: Affine, crs: str, shape: tuple[int, int], year: int, seed: int) -> GroundFields:
    """Truth, terrain, shading, patches and river distance of the image ``transform``/``shape`` in ``crs``."""
    lattice = Lattice.for_image(shape, abs(transform.a))
    xs, ys = lattice.centres(transform)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    elevation = terrain(lon, lat)
    river = np.min([np.abs(lat - (base + 0.05 * np.sin(lon * 9.0))) for base in RIVER_LATITUDES], axis=0)
    as32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return GroundFields(
        lattice=lattice, transform=transform, seed=seed,
        truth=as32(development_field(lon, lat, year)), elevation=as32(elevation),
        shade=as32(_hillshade(elevation, abs(transform.a) * lattice.step)),
        patches=as32(fbm(lattice.shape, seed + 1, base=6)), river=as32(river),
    )


def pixel_noise(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) float32 noise that depends only on the (row, col) position and ``seed``
    (a 32-bit integer hash; ``rows`` and ``cols`` broadcast against each other)."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint32) * np.uint32(0x9E3779B1) + cols.astype(np.uint32) * np.uint32(0x85EBCA77)
        z += np.uint32(seed & 0xFFFFFFFF) * np.uint32(0xC2B2AE3D)
        for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B)):
            z ^= z >> np.uint32(shift)
            z *= np.uint32(factor)
        z ^= z >> np.uint32(16)
    return (z >> np.uint32(8)).astype(np.float32) * np.float32(2**-24)


#: Land-cover classes and their base colours; a pixel's colour is its class colour times a brightness.
FIELDS, ROOF, GARDEN, CONCRETE, ROAD, FOREST_CANOPY, BARE, WATER = range(8)
PALETTE = np.float32([[0, 0, 0], [150, 145, 140], [96, 118, 70], [1.0, 0.98, 0.95], [62, 62, 66], [38, 72, 36],
                      [132, 118, 100], [34, 58, 82], *FIELD_COLOURS])


def render_ground(fields: GroundFields, row0: int, nrows: int) -> np.ndarray:
    """Cloud-free RGB (uint8, 1-255) of image rows ``row0 .. row0 + nrows``."""
    up = lambda f: fields.lattice.upsample(f, row0, nrows)  # noqa: E731
    truth, elevation, shade, patches, river = map(up, (fields.truth, fields.elevation, fields.shade,
                                                       fields.patches, fields.river))
    width = fields.lattice.image_shape[1]
    pixel_m, t = abs(fields.transform.a), fields.transform
    rows, cols = np.arange(row0, row0 + nrows)[:, None], np.arange(width)[None, :]
    x_m, y_m = t.c + (cols + 0.5) * pixel_m, t.f - (rows + 0.5) * pixel_m
    grain = pixel_noise(rows, cols, fields.seed)

    # rural field mosaic: one colour per field, a little grain
    field_id = pixel_noise(np.floor(y_m / FIELD_H_M), np.floor(x_m / FIELD_W_M), fields.seed + 7)
    cls = (field_id * len(FIELD_COLOURS)).astype(np.uint8) + np.uint8(WATER + 1)
    bright = 0.9 + 0.2 * grain
    # suburbs: roofs and gardens, medium texture
    suburb = truth > SUBURB
    cls = np.where(suburb, np.where(grain > 0.55, np.uint8(ROOF), np.uint8(GARDEN)), cls)
    bright = np.where(suburb, 0.85 + 0.3 * patches, bright)
    # urban cores: bright concrete, strong texture, dark road grid
    urban = truth > URBAN
    roads = (np.mod(x_m, ROAD_SPACING_M) < ROAD_WIDTH_M) | (np.mod(y_m, ROAD_SPACING_M) < ROAD_WIDTH_M)
    cls = np.where(urban, np.where(roads, np.uint8(ROAD), np.uint8(CONCRETE)), cls)
    bright = np.where(urban, np.where(roads, np.float32(1), 135 + 90 * grain), bright)
    # mountains: forest, then bare highland, with relief shading
    forest = (elevation > FOREST) & ~urban
    cls = np.where(forest, np.uint8(FOREST_CANOPY), cls)
    bright = np.where(forest, (0.8 + 0.4 * patches) * shade * 1.6, bright)
    highland = elevation > HIGHLAND
    cls = np.where(highland, np.uint8(BARE), cls)
    bright = np.where(highland, shade * 1.4, bright)
    # rivers on the plain: meandering lines, ~150 m wide
    water = (river < RIVER_HALF_WIDTH) & (elevation < FOREST) & ~urban
    cls = np.where(water, np.uint8(WATER), cls)
    bright = np.where(water, np.float32(1), bright)
    out = np.empty((nrows, width, 3), np.uint8)
    for band in range(3):
        value = np.take(PALETTE[:, band], cls) * bright
        out[..., band] = np.clip(np.rint(value, out=value), 1, 255, out=value)
    return out


@dataclass(frozen=True)
class SceneLook:
    """What varies between scenes of one granule-year: cloud share, blank share, seed."""

    cloud_share: float
    blank_share: float
    seed: int


@dataclass(frozen=True)
class Sky:
    """A scene's cloud cover field on the lattice and the level above which it is cloud."""

    look: SceneLook
    cover: np.ndarray
    threshold: float

    @classmethod
    def for_look(cls, lattice: Lattice, look: SceneLook) -> Sky:
        """Cloud cover of ``look``: the top ``cloud_share`` of a smooth noise field is cloud."""
        cover = fbm(lattice.shape, look.seed, base=3)
        threshold = float(np.quantile(cover, 1.0 - look.cloud_share)) if look.cloud_share > 0 else np.inf
        return cls(look, cover, threshold)


def apply_look(ground: np.ndarray, sky: Sky, lattice: Lattice, row0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clouds and the blank swath edge over ground rows starting at ``row0``: RGB uint8 (0 = nodata),
    the cloud mask and the blank mask."""
    height, width = lattice.image_shape
    nrows = ground.shape[0]
    cover = lattice.upsample(sky.cover, row0, nrows)
    cloud = cover >= sky.threshold
    opacity = (np.clip((cover - sky.threshold) / 0.05 + 0.6, 0.0, 1.0) * cloud)[..., None]
    rgb = ground * (1 - opacity) + CLOUD_BRIGHTNESS * opacity
    out = np.clip(np.rint(rgb), 1, 255).astype(np.uint8)
    rows, cols = np.arange(row0, row0 + nrows)[:, None], np.arange(width)[None, :]
    edge = cols / width * 0.7 + rows / height * 0.3  # a slanted swath edge, as an orbit boundary
    blank = edge > (1.0 - sky.look.blank_share) if sky.look.blank_share > 0 else np.zeros((nrows, width), bool)
    out[blank] = 0
    return out, cloud, blank
