"""Render synthetic Sentinel-2 ``visual`` (true colour) scenes of a granule from the ground truth, strip by
strip, so a full 10980 x 10980 granule never holds more than one strip of float arrays.

Development shows continuously, as it does in real 10 m imagery: hamlets and villages whose extent and
roof share grow with the truth, a road network that densifies (rural roads everywhere, then collector
roads, then an urban grid), fields that are subdivided towards towns, and towns that merge into suburbs
and concrete cores. The same truth looks different in different places: settlement layouts follow a
noise field, roof colours and field patterns change from region to region. Forested mountains and bare
highland with relief shading, and rivers, complete the land. Each scene adds its own clouds and a blank
(nodata) swath edge, so scenes of one year differ in usefulness.

Smooth fields (truth, terrain, relief shading, settlement potential, regional styles, river distance,
cloud cover) are computed once on a coarse lattice (about 80 m) and interpolated bilinearly to each
pixel; pixel-scale structure (houses, fields, roads, grain) is a hash of the cell a pixel's position
falls in. Rows r0..r1 rendered alone are therefore identical to rows r0..r1 of a whole-image render.
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
#: Houses are blocks of this side (or one pixel, when pixels are coarser); estates share a roof colour.
HOUSE_M, ESTATE_M = 20.0, 120.0
#: Field cells (width, height in metres) of the regional field patterns; towns split them in halves, twice.
FIELD_PATTERNS = ((420.0, 260.0), (240.0, 400.0), (330.0, 330.0))
#: Road levels: (spacing m, width m, development at which the level is half present, always-present share).
ROAD_LEVELS = ((2400.0, 20.0, 0.0, 0.75), (800.0, 10.0, 0.25, 0.0), (240.0, 10.0, 0.5, 0.0))
#: Elevation thresholds: forest from here up, bare highland above the next.
FOREST, HIGHLAND = PLAIN_MAX_ELEVATION, 0.75
#: Latitudes of the region's rivers (they meander around these) and their half width in degrees (~75 m).
RIVER_LATITUDES, RIVER_HALF_WIDTH = (29.95, 30.45, 30.95), 0.0007
#: Brightness of opaque cloud.
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
    settled: np.ndarray  # share of the ground inside a settlement (houses, yards, trees between them)
    houses: np.ndarray  # share of the ground under roofs or concrete
    style: np.ndarray  # regional roof palette and field pattern, uniform in [0, 1)


def _hillshade(elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    dy, dx = np.gradient(elevation * 3000.0, pixel_m)
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    azimuth, altitude = np.radians(315.0), np.radians(45.0)
    shade = np.sin(altitude) * np.cos(slope) + np.cos(altitude) * np.sin(slope) * np.cos(azimuth - aspect)
    return np.clip(shade, 0.2, 1.0)


def _uniform(field: np.ndarray) -> np.ndarray:
    """``field`` mapped to its ranks in [0, 1): the same pattern with a uniform distribution, so a
    threshold at q selects a share 1 - q of it exactly."""
    ranks = np.empty(field.size, np.float64)
    ranks[np.argsort(field, axis=None, kind="stable")] = np.arange(field.size) / field.size
    return ranks.reshape(field.shape)


def settlement_shares(truth: np.ndarray, potential: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(settled share, roofed share) of the ground from the truth and a uniform settlement potential:
    the settled area grows with development (scattered hamlets at 0.05, villages and market towns
    around 0.3, continuous town from about 0.7), and so does the roof share inside it."""
    extent = np.clip(0.03 + 1.35 * truth, 0.0, 1.0)
    settled = np.clip((potential - (1.0 - extent)) / 0.08 + 0.5, 0.0, 1.0)
    return settled, settled * np.clip(0.28 + 0.6 * truth, 0.0, 0.85)


def ground_fields(transform: Affine, crs: str, shape: tuple[int, int], year: int, seed: int) -> GroundFields:
    """Truth, terrain, shading, patches, river distance and settlement of the image ``transform``/``shape`` in ``crs``."""
    lattice = Lattice.for_image(shape, abs(transform.a))
    xs, ys = lattice.centres(transform)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    elevation = terrain(lon, lat)
    river = np.min([np.abs(lat - (base + 0.05 * np.sin(lon * 9.0))) for base in RIVER_LATITUDES], axis=0)
    truth = development_field(lon, lat, year)
    # settlement potential: hamlets of a lattice cell (~80 m) to villages of several hundred metres
    hamlets = pixel_noise(*np.indices(lattice.shape), seed + 2)
    potential = _uniform(0.6 * fbm(lattice.shape, seed + 2, base=200, octaves=2) + 0.4 * hamlets)
    settled, houses = settlement_shares(truth, potential)
    as32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return GroundFields(
        lattice=lattice, transform=transform, seed=seed,
        truth=as32(truth), elevation=as32(elevation),
        shade=as32(_hillshade(elevation, abs(transform.a) * lattice.step)),
        patches=as32(fbm(lattice.shape, seed + 1, base=6)), river=as32(river),
        settled=as32(settled), houses=as32(houses), style=as32(_uniform(fbm(lattice.shape, seed + 3, base=3, octaves=3))),
    )


_M1, _M2, _M3 = np.uint32(0x9E3779B1), np.uint32(0x85EBCA77), np.uint32(0xC2B2AE3D)


def _mix(z: np.ndarray) -> np.ndarray:
    """A 32-bit integer hash of ``z`` (uint32, modified in place) as uniform [0, 1) float32."""
    with np.errstate(over="ignore"):
        for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B)):
            z ^= z >> np.uint32(shift)
            z *= np.uint32(factor)
        z ^= z >> np.uint32(16)
    return (z >> np.uint32(8)).astype(np.float32) * np.float32(2**-24)


def _key(values: np.ndarray, factor: np.uint32, seed: int = 0) -> np.ndarray:
    """Cell indices (non-negative whole numbers below 2**32) as uint32 hash keys."""
    with np.errstate(over="ignore"):
        return values.astype(np.uint32) * factor + np.uint32(seed & 0xFFFFFFFF) * _M3


def pixel_noise(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) float32 noise that depends only on the (row, col) position and ``seed``
    (a 32-bit integer hash; ``rows`` and ``cols`` broadcast against each other)."""
    with np.errstate(over="ignore"):
        return _mix(_key(rows, _M1, seed) + _key(cols, _M2))


def _frac(a: np.ndarray, k: float) -> np.ndarray:
    """A further uniform number from a uniform ``a`` (its digits after scaling by ``k``)."""
    b = a * np.float32(k)
    return b - np.floor(b)


#: Colours (RGB, before brightness): fields, yards and trees, roofs, concrete, roads, and the rest.
FIELD_COLOURS = [[86, 120, 52], [118, 140, 62], [150, 150, 90], [132, 110, 74], [70, 100, 48], [145, 125, 95],
                 [78, 112, 70]]
YARD_COLOURS = [[84, 100, 62], [110, 118, 80]]
#: Roofs: greys most places, and each region's accent (tile red, orange, metal blue, dark brick) on a share.
ROOF_COLOURS = [[100, 102, 108], [150, 148, 144], [172, 170, 165], [150, 92, 78], [172, 112, 86], [88, 118, 156],
                [124, 80, 70]]
GREY_ROOFS, ACCENT_SHARE = 3, 0.3
CONCRETE_COLOURS = [[150, 148, 145], [172, 170, 166], [125, 125, 128], [112, 114, 120], [84, 124, 172]]
#: Paving between urban buildings.
PAVING_COLOUR = [132, 130, 126]
PALETTE = np.float32([*FIELD_COLOURS, *YARD_COLOURS, *ROOF_COLOURS, *CONCRETE_COLOURS, PAVING_COLOUR,
                      [70, 70, 74], [150, 148, 140], [38, 72, 36], [132, 118, 100], [34, 58, 82]])
FIELD0 = 0
YARD0 = FIELD0 + len(FIELD_COLOURS)
ROOF0 = YARD0 + len(YARD_COLOURS)
CONCRETE0 = ROOF0 + len(ROOF_COLOURS)
PAVING = CONCRETE0 + len(CONCRETE_COLOURS)
ASPHALT, LANE, FOREST_CANOPY, BARE, WATER = range(PAVING + 1, len(PALETTE))


def _fields(truth: np.ndarray, style: np.ndarray, x_m: np.ndarray, y_m: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a uniform number per field, pattern index): fields follow one of FIELD_PATTERNS per region, and
    a field is split into halves or quarters with a probability that grows with development, so fields
    shrink towards towns."""
    pattern = np.minimum((style * 3.0).astype(np.intp), 2)
    first, second = pattern == 0, pattern == 1
    pick = lambda a: np.where(first, a[0], np.where(second, a[1], a[2]))  # noqa: E731
    u = pick([(x_m / w).astype(np.float32) for w, _ in FIELD_PATTERNS])
    v = pick([(y_m / h).astype(np.float32) for _, h in FIELD_PATTERNS])
    large = _mix(_key(np.floor(v), _M1, seed) + _key(np.floor(u), _M2) + _key(pattern, _M3))
    split = np.clip(0.1 + 1.6 * truth, 0.0, 1.0)
    scale = np.exp2((large < split).astype(np.float32) + (_frac(large, 37.0) < split))
    return _mix(_key(np.floor(v * scale), _M1, seed + 1) + _key(np.floor(u * scale), _M2) + _key(scale, _M3)), pattern


def _roads(truth: np.ndarray, land: np.ndarray, x_m: np.ndarray, y_m: np.ndarray, pixel_m: float,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(opacity, colour index) of the road network: ROAD_LEVELS of jittered grids whose segments between
    crossings are present with a probability that grows with development; roads narrower than a pixel
    blend into it."""
    opacity = np.zeros(truth.shape, np.float32)
    colour = np.full(truth.shape, LANE, np.uint8)
    for level, (spacing, width, half, always) in enumerate(ROAD_LEVELS):
        present = np.maximum(always, np.clip((truth - half) / 0.15 + 0.5, 0.0, 1.0)) * land
        alpha = np.float32(min(1.0, width / pixel_m))
        reach = max(width, pixel_m) / 2
        for axis, (along, across) in enumerate(((x_m, y_m), (y_m, x_m))):
            base = np.floor(along / spacing)
            best_d = np.full(along.shape, np.inf)
            best_k = base.copy()
            for dk in (-1.0, 0.0, 1.0):
                k = base + dk
                pos = k * spacing + 0.35 * spacing * pixel_noise(k, np.zeros_like(k), seed + 100 * level + axis)
                d = np.abs(along - pos)
                best_k = np.where(d < best_d, k, best_k)
                best_d = np.minimum(d, best_d)
            on = np.flatnonzero(best_d < reach)
            if on.size == 0:
                continue
            segment = np.floor(across / spacing)
            if axis == 0:  # north-south roads: columns ``on``, segments by row
                gate = pixel_noise(segment[:, None], best_k[None, on], seed + 100 * level + 7)
                sub = (slice(None), on)
            else:  # east-west roads: rows ``on``, segments by column
                gate = pixel_noise(best_k[on, None], segment[None, :], seed + 100 * level + 8)
                sub = (on, slice(None))
            hit = gate < present[sub]
            opacity[sub] = np.where(hit, np.maximum(opacity[sub], alpha), opacity[sub])
            if level != 1:  # main roads and the urban grid are asphalt, collector lanes concrete
                colour[sub] = np.where(hit, np.uint8(ASPHALT), colour[sub])
    return opacity, colour


def render_ground(fields: GroundFields, row0: int, nrows: int) -> np.ndarray:
    """Cloud-free RGB (uint8, 1-255) of image rows ``row0 .. row0 + nrows``."""
    up = lambda f: fields.lattice.upsample(f, row0, nrows)  # noqa: E731
    truth, elevation, shade, patches, river, settled, houses, style = map(up, (
        fields.truth, fields.elevation, fields.shade, fields.patches, fields.river, fields.settled, fields.houses,
        fields.style))
    width = fields.lattice.image_shape[1]
    pixel_m, t, seed = abs(fields.transform.a), fields.transform, fields.seed
    rows, cols = np.arange(row0, row0 + nrows, dtype=np.float64), np.arange(width, dtype=np.float64)
    x_m, y_m = t.c + (cols + 0.5) * pixel_m, t.f - (rows + 0.5) * pixel_m
    grain = pixel_noise(rows[:, None], cols[None, :], seed)

    # fields: a colour and brightness per field, the colours drawn from the region's pattern
    field, pattern = _fields(truth, style, x_m[None, :], y_m[:, None], seed + 7)
    cls = (np.floor(_frac(field, 977.0) * 5).astype(np.intp) + pattern).astype(np.uint8)
    bright = 0.86 + 0.2 * _frac(field, 313.0) + 0.08 * grain
    # settlements: house-sized blocks, yards and trees inside the settled area, roofs on a share of it;
    # a roof colour per estate (~120 m), from the region's palette; apartment slabs in urban estates
    estate = pixel_noise(np.floor(y_m / ESTATE_M)[:, None], np.floor(x_m / ESTATE_M)[None, :], seed + 4)
    house_m = max(HOUSE_M, pixel_m)
    block = pixel_noise(np.floor(y_m / house_m)[:, None], np.floor(x_m / house_m)[None, :], seed + 3)
    yard = block < settled
    roofed = block < houses
    urban = _frac(estate, 631.0) < np.clip((truth - 0.45) / 0.3, 0.0, 1.0)
    if pixel_m <= HOUSE_M:
        lx, ly = np.mod(x_m, ESTATE_M), np.mod(y_m, ESTATE_M)
        along_x, along_y = (lx > 10) & (lx < ESTATE_M - 10), (ly > 10) & (ly < ESTATE_M - 10)
        rows_ew = (np.mod(ly, 40.0) >= 15)[:, None] & along_x[None, :]
        rows_ns = along_y[:, None] & (np.mod(lx, 40.0) >= 15)[None, :]
        slab = np.where(_frac(estate, 17.0) < 0.5, rows_ew, rows_ns)
    else:  # slabs finer than a pixel: the same share, dithered
        slab = _frac(block, 17.0) < 0.5
    draw = np.where(_frac(block, 53.0) < 0.15, _frac(block, 7919.0), _frac(estate, 7919.0))
    accent = GREY_ROOFS + np.floor(style * 8).astype(np.intp) % (len(ROOF_COLOURS) - GREY_ROOFS)
    roof = ROOF0 + np.where(draw < ACCENT_SHARE, accent, np.floor(_frac(draw, 3.0) * GREY_ROOFS).astype(np.intp))
    # urban estates: slabs of one concrete colour (few blue-roofed works), paving or trees between them
    concrete = CONCRETE0 + np.minimum(np.floor(draw * 4.4).astype(np.intp), len(CONCRETE_COLOURS) - 1)
    village = np.where(roofed, roof, np.where(yard, YARD0 + (_frac(block, 7919.0) < 0.5), cls))
    town = np.where(slab & yard, concrete, np.where(roofed, PAVING, np.where(yard, YARD0, cls)))
    cls = np.where(urban, town, village).astype(np.uint8)
    roofed = np.where(urban, (slab & yard) | roofed, roofed)
    bright = np.where(yard, 0.92 + 0.08 * _frac(block, 113.0) + 0.06 * grain, bright)
    # mountains: forest, then bare highland, with relief shading (houses stay)
    forest = (elevation > FOREST) & ~roofed
    cls = np.where(forest, np.uint8(FOREST_CANOPY), cls)
    bright = np.where(forest, (0.8 + 0.4 * patches) * shade * 1.6, bright)
    highland = (elevation > HIGHLAND) & ~roofed
    cls = np.where(highland, np.uint8(BARE), cls)
    bright = np.where(highland, shade * 1.4, bright)
    # rivers on the plain: meandering lines, ~150 m wide
    water = (river < RIVER_HALF_WIDTH) & (elevation < FOREST) & ~roofed
    cls = np.where(water, np.uint8(WATER), cls)
    bright = np.where(water, np.float32(1), bright)
    # roads over everything on the plain (bridges over the rivers)
    opacity, road = _roads(truth, (elevation < FOREST).astype(np.float32), x_m, y_m, pixel_m, seed + 5)
    road_bright = 0.95 + 0.1 * grain
    out = np.empty((nrows, width, 3), np.uint8)
    for band in range(3):
        value = np.take(PALETTE[:, band], cls) * bright
        value += (np.take(PALETTE[:, band], road) * road_bright - value) * opacity
        out[..., band] = np.clip(np.rint(value, out=value), 1, 255, out=value)
    return out


@dataclass(frozen=True)
class SceneLook:
    """What varies between scenes of one granule-year: cloud share, blank share, seed."""

    cloud_share: float
    blank_share: float
    seed: int


#: Cloud shares of a year's scenes: one fairly clear, one clear-ish but cut by the swath edge, the rest cloudy.
CLEAR_CLOUD, SWATH_CLOUD, CLOUDY_CLOUD = (0.03, 0.2), (0.05, 0.25), (0.35, 0.75)


def year_looks(rng: np.random.Generator, count: int) -> list[SceneLook]:
    """The looks of a granule-year's ``count`` scenes, as a real year offers them: one fairly clear scene
    with no blank swath (at a random position in the year), one nearly as clear but with a blank swath
    edge, and cloudier ones, so that choosing the scene matters."""
    clear = int(rng.integers(count))
    looks = []
    for k in range(count):
        role = (k - clear) % count
        if role == 0:
            cloud, blank = rng.uniform(*CLEAR_CLOUD), 0.0
        elif role == 1:
            cloud, blank = rng.uniform(*SWATH_CLOUD), rng.choice([0.1, 0.25, 0.4])
        else:
            cloud, blank = rng.uniform(*CLOUDY_CLOUD), rng.choice([0.0, 0.1, 0.25])
        looks.append(SceneLook(cloud_share=float(cloud), blank_share=float(blank), seed=int(rng.integers(2**31))))
    return looks


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
