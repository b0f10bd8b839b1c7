"""Clip the night lights to one granule (its WGS84 bbox plus a margin) on the source's native
15 arc-second grid, mosaicking several source tiles, and write the clip as a COG."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from affine import Affine
from rasterio.windows import Window

from publisher.cog import write_cog
from publisher.nightlights.products import GridSpec, NightLightSource, NightLightsError

#: Margin around the granule's bbox (degrees, 12 pixels, ~5 km): chips on the edge get whole pixels.
MARGIN_DEG = 0.05
#: nodata of the published clips (radiance is never negative).
NODATA = -999.0
UNIT = "nW/cm2/sr"
COG_OPTIONS = {"COMPRESS": "ZSTD", "LEVEL": 9, "PREDICTOR": "3", "BLOCKSIZE": 256, "OVERVIEWS": "AUTO",
               "OVERVIEW_RESAMPLING": "AVERAGE"}


@dataclass(frozen=True)
class Clip:
    """Radiance of one granule on the source grid: float32, NaN where invalid, and its grid."""

    data: np.ndarray
    grid: GridSpec

    @property
    def valid_fraction(self) -> float:
        """Share of pixels with a radiance."""
        return float(np.isfinite(self.data).mean()) if self.data.size else 0.0


def clip_grid(reference: GridSpec, bbox: Sequence[float], margin: float = MARGIN_DEG) -> GridSpec:
    """The pixel-aligned grid of ``reference`` that covers ``bbox`` (west, south, east, north) plus ``margin``."""
    west, south, east, north = bbox
    if west > east:
        raise NightLightsError("granules crossing the antimeridian are not supported for night lights")
    inv = ~reference.transform
    c0, r0 = inv @ (west - margin, north + margin)
    c1, r1 = inv @ (east + margin, south - margin)
    c0, r0, c1, r1 = math.floor(c0 + 1e-6), math.floor(r0 + 1e-6), math.ceil(c1 - 1e-6), math.ceil(r1 - 1e-6)
    return GridSpec(reference.transform @ Affine.translation(c0, r0), r1 - r0, c1 - c0)


def _overlap(target: GridSpec, source: GridSpec) -> tuple[Window, Window] | None:
    """(window in target, window in source) of the pixels both share; None when they do not meet."""
    dx = round((source.transform.c - target.transform.c) / target.transform.a)
    dy = round((source.transform.f - target.transform.f) / target.transform.e)
    r0, c0 = max(0, dy), max(0, dx)
    r1, c1 = min(target.height, dy + source.height), min(target.width, dx + source.width)
    if r1 <= r0 or c1 <= c0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0), Window(c0 - dx, r0 - dy, c1 - c0, r1 - r0)


def clip_sources(sources: Sequence[NightLightSource], bbox: Sequence[float]) -> Clip | None:
    """The clip of ``bbox`` mosaicked from ``sources`` (first valid value wins); None when no source
    overlaps it. Only the overlapping windows are read."""
    target = clip_grid(sources[0].grid, bbox)
    data = np.full((target.height, target.width), np.nan, np.float32)
    touched = False
    for source in sources:
        windows = _overlap(target, source.grid)
        if windows is None:
            continue
        into, read = windows
        block = source.read(read)
        view = data[into.row_off:into.row_off + into.height, into.col_off:into.col_off + into.width]
        fill = np.isnan(view)
        view[fill] = block[fill]
        touched = True
    return Clip(data, target) if touched else None


def write_clip_cog(clip: Clip, path: str | Path, description: str) -> Path:
    """Write ``clip`` as a float32 COG in EPSG:4326 (nodata -999, ZSTD), temporary name then rename."""
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "nodata": NODATA, "width": clip.grid.width,
               "height": clip.grid.height, "crs": "EPSG:4326", "transform": clip.grid.transform}
    data = np.where(np.isnan(clip.data), np.float32(NODATA), clip.data).astype(np.float32)
    window = Window(0, 0, clip.grid.width, clip.grid.height)
    return write_cog(path, profile, lambda: [(window, data[None])], COG_OPTIONS, threads=1,
                     descriptions=[description], tags={"units": UNIT})
