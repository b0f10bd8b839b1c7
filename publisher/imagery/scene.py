"""Render one synthetic Sentinel-2 ``visual`` (true colour) scene of a granule from the ground truth.

Land cover follows the truth: dense urban cores with road grids and high texture, suburbs, rural
field mosaics, forested mountains and bare highland with relief shading, rivers. Each scene adds
its own clouds and a blank (nodata) swath edge, so scenes of one year differ in usefulness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import Transformer
from scipy import ndimage

from publisher.imagery.truth import development_field, fbm, terrain

#: Lon/lat are computed on this coarse lattice (pixels) and interpolated: smooth over a granule.
LONLAT_STEP = 32
#: Spacing of the urban road grid and size of rural fields, in metres.
ROAD_SPACING_M, ROAD_WIDTH_M = 420.0, 20.0
FIELD_W_M, FIELD_H_M = 260.0, 180.0
#: Development thresholds of the land-cover classes.
URBAN, SUBURB = 0.55, 0.3
#: Elevation thresholds: forest from here up, bare highland above the next.
FOREST, HIGHLAND = 0.35, 0.75
#: Latitudes of the region's rivers (they meander around these).
RIVER_LATITUDES = (29.95, 30.45, 30.95)
FIELD_COLOURS = np.array([[86, 120, 52], [118, 140, 62], [150, 150, 90], [132, 110, 74], [70, 100, 48]], np.float32)


@dataclass(frozen=True)
class SceneLook:
    """What varies between scenes of one granule-year: cloud share, blank share, seed."""

    cloud_share: float
    blank_share: float
    seed: int


def lonlat_grid(transform: Affine, crs: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of every pixel centre, from a coarse lattice (bilinear)."""
    rows = np.arange(0, shape[0] + LONLAT_STEP, LONLAT_STEP, dtype=np.float64)
    cols = np.arange(0, shape[1] + LONLAT_STEP, LONLAT_STEP, dtype=np.float64)
    cc, rr = np.meshgrid(cols + 0.5, rows + 0.5)
    xs, ys = transform @ (cc, rr)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    fine_r, fine_c = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32) / LONLAT_STEP
    return (ndimage.map_coordinates(lon, [fine_r, fine_c], order=1),
            ndimage.map_coordinates(lat, [fine_r, fine_c], order=1))


def _hillshade(elevation: np.ndarray, pixel_m: float) -> np.ndarray:
    dy, dx = np.gradient(elevation * 3000.0, pixel_m)
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    azimuth, altitude = np.radians(315.0), np.radians(45.0)
    shade = np.sin(altitude) * np.cos(slope) + np.cos(altitude) * np.sin(slope) * np.cos(azimuth - aspect)
    return np.clip(shade, 0.2, 1.0)


def render_ground(transform: Affine, crs: str, shape: tuple[int, int], year: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cloud-free RGB (float32, 0-255) of the granule, and its truth field (same grid)."""
    lon, lat = lonlat_grid(transform, crs, shape)
    truth = development_field(lon, lat, year).astype(np.float32)
    elevation = terrain(lon, lat).astype(np.float32)
    pixel_m = abs(transform.a)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x_m, y_m = transform.c + cols * pixel_m, transform.f - rows * pixel_m
    rng = np.random.default_rng(seed)
    grain = rng.random(shape, dtype=np.float32)
    patches = fbm(shape, seed + 1, base=6)

    rgb = np.empty(shape + (3,), np.float32)
    # rural field mosaic: one colour per field
    ix, iy = np.floor(x_m / FIELD_W_M).astype(np.uint64), np.floor(y_m / FIELD_H_M).astype(np.uint64)
    field_hash = ((ix * np.uint64(73856093)) ^ (iy * np.uint64(19349663)) ^ np.uint64(seed)) * np.uint64(2654435761)
    rgb[:] = FIELD_COLOURS[((field_hash >> np.uint64(20)) % np.uint64(len(FIELD_COLOURS))).astype(np.intp)]
    rgb *= (0.9 + 0.2 * grain)[..., None]
    # suburbs: roofs and gardens, medium texture
    suburb = truth > SUBURB
    mix = (grain > 0.55)[..., None]
    rgb = np.where(suburb[..., None], np.where(mix, [150, 145, 140], [96, 118, 70]) * (0.85 + 0.3 * patches)[..., None], rgb)
    # urban cores: bright concrete, strong texture, dark road grid
    urban = truth > URBAN
    concrete = (135 + 90 * grain)[..., None] * np.array([1.0, 0.98, 0.95], np.float32)
    roads = (np.mod(x_m, ROAD_SPACING_M) < ROAD_WIDTH_M) | (np.mod(y_m, ROAD_SPACING_M) < ROAD_WIDTH_M)
    rgb = np.where(urban[..., None], np.where(roads[..., None], [62, 62, 66], concrete), rgb)
    # mountains: forest, then bare highland, with relief shading
    shade = _hillshade(elevation, pixel_m)[..., None]
    forest = (elevation > FOREST) & ~urban
    highland = elevation > HIGHLAND
    rgb = np.where(forest[..., None], np.array([38, 72, 36], np.float32) * (0.8 + 0.4 * patches)[..., None] * shade * 1.6, rgb)
    rgb = np.where(highland[..., None], np.array([132, 118, 100], np.float32) * shade * 1.4, rgb)
    # rivers on the plain: meandering lines at fixed latitudes, ~150 m wide
    river = np.zeros(shape, bool)
    for base_lat in RIVER_LATITUDES:
        river |= np.abs(lat - (base_lat + 0.05 * np.sin(lon * 9.0))) < 0.0007
    river &= (elevation < FOREST) & ~urban
    rgb = np.where(river[..., None], [34, 58, 82], rgb)
    return np.clip(rgb, 1, 255), truth


def apply_look(ground: np.ndarray, look: SceneLook) -> tuple[np.ndarray, float, float]:
    """Clouds and a blank swath edge over a ground image; returns RGB uint8 (0 = nodata), cloud %, blank %."""
    shape = ground.shape[:2]
    cover = fbm(shape, look.seed, base=3)
    threshold = np.quantile(cover, 1.0 - look.cloud_share) if look.cloud_share > 0 else np.inf
    cloud = cover >= threshold
    opacity = np.clip((cover - threshold) / 0.05 + 0.6, 0.0, 1.0) * cloud
    rgb = ground * (1 - opacity[..., None]) + 245.0 * opacity[..., None]
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    edge = (cols / shape[1] * 0.7 + rows / shape[0] * 0.3)  # a slanted swath edge, as a orbit boundary
    blank = edge > (1.0 - look.blank_share) if look.blank_share > 0 else np.zeros(shape, bool)
    out = np.clip(np.rint(rgb), 1, 255).astype(np.uint8)
    out[blank] = 0
    valid = ~blank
    cloud_pct = 100.0 * float((cloud & valid).sum()) / max(1, int(valid.sum()))
    return out, cloud_pct, 100.0 * float(blank.mean())
