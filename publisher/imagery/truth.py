"""The ground truth of the synthetic region: a continuous development field and a terrain field.

Both are functions of longitude and latitude, so adjacent granules agree where they overlap, and
every later stage (chips, scores, night lights) can be scored honestly against the same truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject
from scipy import ndimage

from publisher.errors import DevscoreError
from publisher.imagery.chipfiles import list_chip_files

#: (lon, lat, radius in km, peak) of the settlements around Chengdu.
CITIES = ((104.07, 30.67, 22.0, 1.0), (103.62, 31.00, 8.0, 0.7), (104.40, 30.05, 9.0, 0.65),
          (103.85, 30.05, 7.0, 0.6), (104.55, 30.85, 6.0, 0.55), (103.45, 30.40, 5.0, 0.5))
#: Market towns scattered over the region: (lon, lat, radius in km, peak), drawn once from a fixed seed.
_TOWN_RNG = np.random.default_rng(20221)
TOWNS = tuple(zip(_TOWN_RNG.uniform(102.9, 105.1, 40), _TOWN_RNG.uniform(29.6, 31.7, 40),
                  _TOWN_RNG.uniform(1.2, 3.5, 40), _TOWN_RNG.uniform(0.22, 0.5, 40)))
#: The rural floor varies between these over tens of kilometres (denser and sparser countryside).
RURAL_FLOOR = (0.02, 0.24)
#: The world grows from BASE_YEAR on (and was smaller before it), at these documented rates
#: (docs/synthetic-world.md): towns and cities spread (radius +GROWTH_PER_YEAR a year) ...
GROWTH_PER_YEAR, BASE_YEAR = 0.06, 2022
#: ... villages densify: where a regional field says so, the rural floor grows by up to this share a year ...
DENSIFY_PER_YEAR = 0.08
#: ... and new estates (housing, industrial parks, campuses) go up on the edges of cities and towns:
#: ESTATE_COUNT of them over ESTATE_YEARS, each reaching its peak ESTATE_BUILD_YEARS after it starts.
ESTATE_COUNT, ESTATE_YEARS, ESTATE_BUILD_YEARS = 1000, (2015, 2031), 2
ESTATE_RADIUS_KM, ESTATE_PEAK = (1.0, 2.0), (0.5, 0.85)
#: The Longmen Shan front: mountains rise west of this longitude.
MOUNTAIN_FRONT_LON = 103.55
KM_PER_DEGREE = 111.32


def _estates() -> tuple[tuple[float, float, float, float, float], ...]:
    """(lon, lat, radius km, peak, start year) of every new estate, drawn once from a fixed seed: each
    beside a city or town (1 to 2.5 of its radii from its centre, bigger places getting more)."""
    rng = np.random.default_rng(20231)
    places = np.array([*CITIES, *TOWNS])
    parent = places[rng.choice(len(places), ESTATE_COUNT, p=places[:, 2] / places[:, 2].sum())]
    angle, reach = rng.uniform(0, 2 * np.pi, ESTATE_COUNT), rng.uniform(1.0, 2.5, ESTATE_COUNT) * parent[:, 2]
    lat = parent[:, 1] + reach * np.sin(angle) / KM_PER_DEGREE
    lon = parent[:, 0] + reach * np.cos(angle) / (KM_PER_DEGREE * np.cos(np.radians(lat)))
    start = rng.integers(ESTATE_YEARS[0], ESTATE_YEARS[1], ESTATE_COUNT, endpoint=True)
    return tuple(zip(lon, lat, rng.uniform(*ESTATE_RADIUS_KM, ESTATE_COUNT), rng.uniform(*ESTATE_PEAK, ESTATE_COUNT),
                     start.astype(float)))


ESTATES = _estates()


def _gaussian(lon: np.ndarray, lat: np.ndarray, clon: float, clat: float, radius_km: float) -> np.ndarray:
    dx = (lon - clon) * KM_PER_DEGREE * np.cos(np.radians(clat))
    dy = (lat - clat) * KM_PER_DEGREE
    return np.exp(-(dx**2 + dy**2) / (2 * radius_km**2))


def development_field(lon: np.ndarray, lat: np.ndarray, year: int, estate_lag: float = 0.0) -> np.ndarray:
    """Development level in [0, 1]: the strongest city, market-town or estate influence over a rural
    floor that itself varies from place to place (and densifies over the years), fading in the mountains.
    ``estate_lag`` years delays the estates alone (night lights: new estates fill up years after they stand)."""
    low, high = RURAL_FLOOR
    years = year - BASE_YEAR
    level = low + (high - low) * wave_noise(lon, lat, seed=5, waves=24) ** 2
    level = level * (1.0 + DENSIFY_PER_YEAR * np.clip(2 * wave_noise(lon, lat, seed=9, waves=16) - 1, 0, 1)) ** years
    growth = max(0.2, 1.0 + GROWTH_PER_YEAR * years)
    west, east, south, north = np.min(lon), np.max(lon), np.min(lat), np.max(lat)
    for clon, clat, radius, peak in (*CITIES, *TOWNS):
        reach = 6.0 * radius * growth / KM_PER_DEGREE  # beyond 6 sigma (in degrees, generously) it adds nothing
        if clon < west - 2 * reach or clon > east + 2 * reach or clat < south - reach or clat > north + reach:
            continue
        level = np.maximum(level, peak * _gaussian(lon, lat, clon, clat, radius * growth))
    lon2, lat2 = np.atleast_2d(lon), np.atleast_2d(lat)
    level = np.atleast_2d(level)
    # the rows and columns an estate can touch, from each row's and column's lon/lat range (grids are
    # near-aligned with lon/lat, so this window is small; any 2-D array works, only less fast)
    row_lat = lat2.min(axis=1), lat2.max(axis=1)
    col_lon = lon2.min(axis=0), lon2.max(axis=0)
    for clon, clat, radius, peak, start in ESTATES:
        built = min(1.0, (year - estate_lag - start) / ESTATE_BUILD_YEARS)
        reach = 4.0 * radius / KM_PER_DEGREE
        if built <= 0 or clon < west - 2 * reach or clon > east + 2 * reach or clat < south - reach or clat > north + reach:
            continue
        rows = np.flatnonzero((row_lat[1] >= clat - reach) & (row_lat[0] <= clat + reach))
        cols = np.flatnonzero((col_lon[1] >= clon - 2 * reach) & (col_lon[0] <= clon + 2 * reach))
        if rows.size == 0 or cols.size == 0:
            continue
        window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        level[window] = np.maximum(level[window],
                                   built * peak * _gaussian(lon2[window], lat2[window], clon, clat, radius))
    level = level.reshape(np.shape(lon))
    return np.clip(level * (1.0 - 0.9 * terrain(lon, lat)), 0.0, 1.0)


def terrain(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Elevation in [0, 1]: a plain in the east, ridges rising west of the mountain front."""
    rise = 1.0 / (1.0 + np.exp(-(MOUNTAIN_FRONT_LON - lon) * 12.0))
    return np.clip(rise * (0.45 + 0.55 * wave_noise(lon, lat)), 0.0, 1.0)


def wave_noise(lon: np.ndarray, lat: np.ndarray, seed: int = 0, waves: int = 32) -> np.ndarray:
    """Smooth noise in [0, 1] defined on lon/lat (random-direction waves, amplitude ~ 1/frequency),
    so every granule sees the same relief where granules overlap."""
    rng = np.random.default_rng(seed)
    freq = np.exp(rng.uniform(np.log(8.0), np.log(160.0), waves))  # cycles per degree
    angle, phase = rng.uniform(0, np.pi, waves), rng.uniform(0, 2 * np.pi, waves)
    total = np.zeros(np.shape(lon))
    for f, a, p in zip(freq, angle, phase):
        total += np.sin(2 * np.pi * f * (lon * np.cos(a) + lat * np.sin(a)) + p) / f
    norm = np.sum(1.0 / freq)
    return np.clip(0.5 + 0.5 * total / (0.5 * norm), 0.0, 1.0)


def fbm(shape: tuple[int, int], seed: int, base: int = 4, octaves: int = 5) -> np.ndarray:
    """Fractal value noise in [0, 1] (bilinear upsampled random grids), deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, dtype=np.float32)
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        cells = base * 2**octave
        coarse = rng.random((cells + 1, cells + 1), dtype=np.float32)
        zoom = (shape[0] / (cells + 1), shape[1] / (cells + 1))
        out += amplitude * ndimage.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)[: shape[0], : shape[1]]
        total += amplitude
        amplitude *= 0.5
    return out / total


#: Chips whose mean elevation lies below this are "the plain" (the scene renders forest from here up).
PLAIN_MAX_ELEVATION = 0.35


def chip_means(raster: str | Path, crs: CRS, chip_transform: Affine, shape: tuple[int, int] = (32, 32)) -> np.ndarray:
    """Mean of a single-band raster over each cell of a chip grid (average resampling), NaN where it has no data."""
    out = np.full(shape, np.nan, dtype=np.float64)
    with rasterio.open(raster) as src:
        reproject(rasterio.band(src, 1), out, src_nodata=src.nodata, dst_transform=chip_transform, dst_crs=crs,
                  dst_nodata=np.nan, resampling=Resampling.average)
    return out


def chip_truth(region: str | Path, tile: str, year: int, crs: CRS, chip_transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    """(mean ground truth, plain mask) of every chip of a synthetic granule-year: the truth raster of
    ``devscore synth`` averaged over each chip, and True where the chip's mean elevation is below the
    forest line (the plain, where development and not mountains has to carry a correlation)."""
    path = Path(region) / "truth" / f"{tile}_{year}.tif"
    if not path.exists():
        raise DevscoreError(f"no ground truth for {tile}-{year} at {path}")
    truth = chip_means(path, crs, chip_transform)
    # elevation on a 8 x 8 sample per chip, in lon/lat: the terrain field is defined there
    k = 8
    offsets = (np.arange(k) + 0.5) / k
    cols, rows = np.meshgrid(np.repeat(np.arange(32), k) + np.tile(offsets, 32),
                             np.repeat(np.arange(32), k) + np.tile(offsets, 32))
    xs, ys = chip_transform * (cols, rows)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    elevation = terrain(lon, lat).reshape(32, k, 32, k).mean(axis=(1, 3))
    return truth, elevation < PLAIN_MAX_ELEVATION


def chip_truth_table(region: str | Path, chips_dir: str | Path, usable_only: bool = False) -> pd.DataFrame:
    """tile, year, row, col, truth, plain of every chip of every granule-year in ``chips_dir`` (only the
    usable ones with ``usable_only``): what chip scores and rankings are measured against."""
    frames = []
    for chip_file in list_chip_files(chips_dir):
        truth, plain = chip_truth(region, chip_file.tile, chip_file.year, *chip_file.chip_grid())
        if usable_only:
            chips = chip_file.load(lazy=True)  # flags, rows and cols only
            ok = chips.flags == 0
            rows, cols = chips.rows[ok].astype(int), chips.cols[ok].astype(int)
        else:
            rows, cols = np.divmod(np.arange(truth.size), truth.shape[1])
        frames.append(pd.DataFrame({"tile": chip_file.tile, "year": chip_file.year, "row": rows, "col": cols,
                                    "truth": truth[rows, cols], "plain": plain[rows, cols]}))
    return pd.concat(frames, ignore_index=True)
