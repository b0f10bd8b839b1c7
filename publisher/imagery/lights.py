"""VIIRS-like annual night lights of the synthetic region, with their own departures from development.

Real night lights are not development seen from above: highways are lit where nobody lives, factories
and ports outshine their built-up share, dense villages stay dark, whole regions light more or less
than others for the same wealth, light blooms kilometres past bright centres, gas flares burn in
empty country and the composite sits a fraction of a pixel off the imagery. Each of these is a term
or a factor below, with its parameters in this module's constants (docs/synthetic-world.md explains
them and the figures they give). Features fixed on the ground (industrial zones, flares, highways,
regional habits) are functions of longitude and latitude drawn from fixed seeds, so adjacent granules
and successive years agree; each year adds its own noise and misregistration from ``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from affine import Affine
from pyproj import Transformer
from scipy import ndimage

from publisher.constants import CHIP_SIZE, CHIPS_PER_SIDE
from publisher.grid import TileGrid
from publisher.imagery.truth import CITIES, KM_PER_DEGREE, TOWNS, development_field, terrain, wave_noise

#: VIIRS-like 15 arc-second grid, nodata, and the radiance (nW/cm2/sr) of development 1 and of saturation.
VIIRS_DEG = 1.0 / 240.0
VIIRS_NODATA = -1.0
RADIANCE_SCALE, RADIANCE_SATURATION = 90.0, 63.0
#: Light grows faster than development: radiance ~ development ** LIGHT_EXPONENT.
LIGHT_EXPONENT = 2.8
#: Regional lighting habits: a smooth factor exp(+-HABIT_SIGMA) varying over tens of kilometres, times
#: a district factor exp(+-DISTRICT_SIGMA) varying over a few kilometres (commercial centres, lit or unlit streets).
HABIT_SIGMA, HABIT_STRETCH = 1.3, 0.15
DISTRICT_SIGMA, DISTRICT_STRETCH = 0.5, 0.5
#: Dense villages darker than their size: below VILLAGE_MAX development, a share (a village-scale noise
#: field) of the settled countryside is lit at as little as VILLAGE_DIM of what its development gives.
VILLAGE_MAX, VILLAGE_DIM = 0.5, 0.15
#: Empty new estates: an estate is lit as if built OCCUPANCY_LAG_YEARS later than it stands (the truth
#: counts its buildings; people move in over years).
OCCUPANCY_LAG_YEARS = 3.0
#: Industrial and port zones: (count, radius km range, peak radiance range), on the plain, anywhere.
INDUSTRY_COUNT, INDUSTRY_RADIUS_KM, INDUSTRY_PEAK = 80, (0.6, 1.8), (12.0, 45.0)
#: Lit highways: radiance on the axis and half width (km) of the lit band, between linked settlements.
HIGHWAY_RADIANCE, HIGHWAY_SIGMA_KM = 6.0, 0.35
#: Every HIGHWAY_TOWN_STEP-th market town has a lit road to its nearest city (1: all of them).
HIGHWAY_TOWN_STEP = 1
#: Gas flares: (count, peak radiance range), points of ~200 m in empty country.
FLARE_COUNT, FLARE_PEAK, FLARE_SIGMA_KM = 30, (80.0, 250.0), 0.2
#: Blooming: this share of the light spreads with a Gaussian of this sigma (km) around bright centres.
BLOOM_SHARE, BLOOM_SIGMA_KM = 0.35, 2.5
#: Sensor blur (pixels), multiplicative noise (log sigma), background (gamma shape, scale).
PSF_PIXELS, NOISE_SIGMA, BACKGROUND = 1.0, 0.25, (1.5, 0.25)
#: Misregistration: the composite is shifted by up to this share of a pixel in each direction, per year.
MISREGISTRATION_PIXELS = 0.6
#: The box the fixed features are drawn in (the region around Chengdu), and their seed.
REGION_BOX, FEATURE_SEED = (102.9, 29.6, 105.1, 31.7), 20240
#: Fixed features lie below this elevation (valleys and foothills too: mines, hydropower, quarries).
MAX_TERRAIN = 0.8


def _points(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` fixed points on the plain of the region box (terrain below the forest line)."""
    rng = np.random.default_rng(seed)
    west, south, east, north = REGION_BOX
    lon, lat = rng.uniform(west, east, 8 * count), rng.uniform(south, north, 8 * count)
    keep = np.flatnonzero(terrain(lon, lat) < MAX_TERRAIN)[:count]
    return lon[keep], lat[keep]


def _spots(lon: np.ndarray, lat: np.ndarray, centres: tuple[np.ndarray, np.ndarray], sigma_km: np.ndarray,
           peak: np.ndarray) -> np.ndarray:
    """Sum of Gaussian spots (km-scale) at ``centres``."""
    out = np.zeros(lon.shape)
    for clon, clat, s, p in zip(*centres, sigma_km, peak):
        dx = (lon - clon) * KM_PER_DEGREE * np.cos(np.radians(clat))
        dy = (lat - clat) * KM_PER_DEGREE
        near = (np.abs(dx) < 5 * s) & (np.abs(dy) < 5 * s)
        if near.any():
            out[near] += p * np.exp(-(dx[near] ** 2 + dy[near] ** 2) / (2 * s * s))
    return out


def industry(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Radiance of the industrial and port zones (fixed; their development is whatever the truth says)."""
    rng = np.random.default_rng(FEATURE_SEED + 1)
    centres = _points(INDUSTRY_COUNT, FEATURE_SEED)
    n = len(centres[0])
    return _spots(lon, lat, centres, rng.uniform(*INDUSTRY_RADIUS_KM, n), rng.uniform(*INDUSTRY_PEAK, n))


def flares(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Radiance of the gas flares: isolated bright points."""
    rng = np.random.default_rng(FEATURE_SEED + 3)
    centres = _points(FLARE_COUNT, FEATURE_SEED + 2)
    n = len(centres[0])
    return _spots(lon, lat, centres, np.full(n, FLARE_SIGMA_KM), rng.uniform(*FLARE_PEAK, n))


def highway_links() -> list[tuple[float, float, float, float]]:
    """(lon0, lat0, lon1, lat1) of the lit highways: every city to Chengdu, every town to its nearest city."""
    hub = CITIES[0]
    links = [(hub[0], hub[1], c[0], c[1]) for c in CITIES[1:]]
    for lon, lat, *_ in TOWNS[::HIGHWAY_TOWN_STEP]:
        near = min(CITIES, key=lambda c: (c[0] - lon) ** 2 + (c[1] - lat) ** 2)
        links.append((near[0], near[1], lon, lat))
    return links


def highways(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Radiance of the lit highways: a band of light along each link (distance to the segment, in km)."""
    out = np.zeros(lon.shape)
    kx = KM_PER_DEGREE * np.cos(np.radians(30.5))
    x, y = lon * kx, lat * KM_PER_DEGREE
    for lon0, lat0, lon1, lat1 in highway_links():
        ax, ay, bx, by = lon0 * kx, lat0 * KM_PER_DEGREE, lon1 * kx, lat1 * KM_PER_DEGREE
        t = np.clip(((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / max((bx - ax) ** 2 + (by - ay) ** 2, 1e-9), 0, 1)
        distance = np.hypot(x - ax - t * (bx - ax), y - ay - t * (by - ay))
        out = np.maximum(out, HIGHWAY_RADIANCE * np.exp(-(distance**2) / (2 * HIGHWAY_SIGMA_KM**2)))
    return out


def habits(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Lighting habit: a regional factor between exp(-HABIT_SIGMA) and exp(HABIT_SIGMA), smooth over tens
    of km, times a district factor within exp(+-DISTRICT_SIGMA) over a few km."""
    regional = 2 * wave_noise(lon * HABIT_STRETCH, lat * HABIT_STRETCH, seed=31, waves=16) - 1
    district = 2 * wave_noise(lon * DISTRICT_STRETCH, lat * DISTRICT_STRETCH, seed=41, waves=16) - 1
    return np.exp(HABIT_SIGMA * regional + DISTRICT_SIGMA * district)


def village_dimming(lon: np.ndarray, lat: np.ndarray, development: np.ndarray) -> np.ndarray:
    """Factor in [VILLAGE_DIM, 1]: villages (development below VILLAGE_MAX) where the village-scale noise
    is high are lit far less than their size; towns and cities are not dimmed."""
    dark = np.clip(2.5 * wave_noise(lon, lat, seed=37, waves=24) - 1.0, 0.0, 1.0)
    village = np.clip((VILLAGE_MAX - development) / 0.15, 0.0, 1.0)
    return 1.0 - (1.0 - VILLAGE_DIM) * dark * village


def radiance(lon: np.ndarray, lat: np.ndarray, year: int, seed: int) -> np.ndarray:
    """Annual radiance (nW/cm2/sr) on a regular lon/lat grid (1-D ``lon`` west to east, ``lat`` north
    to south, spacing VIIRS_DEG), before misregistration."""
    lons, lats = np.meshgrid(lon, lat)
    development = development_field(lons, lats, year, estate_lag=OCCUPANCY_LAG_YEARS)
    light = RADIANCE_SCALE * development**LIGHT_EXPONENT * habits(lons, lats) * village_dimming(lons, lats, development)
    light = light + industry(lons, lats) + highways(lons, lats) + flares(lons, lats)
    pixel_km = VIIRS_DEG * KM_PER_DEGREE
    light = (1 - BLOOM_SHARE) * light + BLOOM_SHARE * ndimage.gaussian_filter(light, BLOOM_SIGMA_KM / pixel_km)
    light = ndimage.gaussian_filter(light, PSF_PIXELS)
    rng = np.random.default_rng(seed)
    light = np.minimum(light, RADIANCE_SATURATION) * rng.lognormal(0.0, NOISE_SIGMA, light.shape)
    return light + rng.gamma(*BACKGROUND, light.shape)


def nightlight_raster(tiles: Sequence[str], year: int, seed: int) -> tuple[np.ndarray, dict]:
    """(radiance float32 (rows, cols), rasterio profile) of the composite covering ``tiles`` in ``year``:
    the grid is shifted by a sub-pixel misregistration drawn from ``seed``."""
    west, south, east, north = np.array([TileGrid.from_tile_id(t).bbox for t in tiles]).T
    west, south, east, north = west.min(), south.min(), east.max(), north.max()
    cols, rows = int(np.ceil((east - west) / VIIRS_DEG)), int(np.ceil((north - south) / VIIRS_DEG))
    shift = np.random.default_rng([seed, 1]).uniform(-MISREGISTRATION_PIXELS, MISREGISTRATION_PIXELS, 2) * VIIRS_DEG
    lon = west + (np.arange(cols) + 0.5) * VIIRS_DEG + shift[0]
    lat = north - (np.arange(rows) + 0.5) * VIIRS_DEG + shift[1]
    light = radiance(lon, lat, year, seed).astype(np.float32)
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": "float32",
               "nodata": VIIRS_NODATA, "crs": "EPSG:4326", "transform": Affine(VIIRS_DEG, 0, west, 0, -VIIRS_DEG, north)}
    return light, profile


def chip_truth_of(tile: str, year: int, samples: int = 8) -> np.ndarray:
    """(32, 32) mean development of each chip of ``tile`` (``samples`` x ``samples`` points a chip, on
    the method's 10 m chip layout, TileGrid.chips), straight from the truth field."""
    grid = TileGrid.from_tile_id(tile)
    offsets = (np.arange(samples) + 0.5) / samples
    steps = np.repeat(np.arange(CHIPS_PER_SIDE), samples) + np.tile(offsets, CHIPS_PER_SIDE)
    cols, rows = np.meshgrid(steps * CHIP_SIZE, steps * CHIP_SIZE)
    xs, ys = grid.transform @ (cols, rows)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    field = development_field(lon, lat, year)
    return field.reshape(CHIPS_PER_SIDE, samples, CHIPS_PER_SIDE, samples).mean(axis=(1, 3))


def truth_lights_spearman(raster: str | Path, tile: str, year: int) -> float:
    """Spearman of chip truth against chip radiance (exactextract means, as ``devscore compare`` takes
    them) of one granule-year: the ceiling of any score's agreement with these lights."""
    from scipy.stats import spearmanr

    from publisher.nightlights.aggregate import chip_radiance

    truth, light = chip_truth_of(tile, year).ravel(), chip_radiance(raster, TileGrid.from_tile_id(tile).chips).ravel()
    keep = np.isfinite(light)
    return float(spearmanr(truth[keep], light[keep]).statistic)
