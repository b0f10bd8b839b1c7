"""Write a granule's score grid as a Cloud-Optimized GeoTIFF, streaming so memory stays bounded.

The COG lies on the grid the chips were cut from (:class:`publisher.grid.ChipGrid`: its transform and
shape, 10980 x 10980 at 10 m for real Sentinel-2) and says its chip side in the ``chip_px`` tag, so a
reader finds every chip's pixels from the file alone (:func:`read_chip_grid`).

The painted grid goes window by window into a tiled scratch GeoTIFF, which GDAL's COG driver then
turns into the COG (overviews, 512 px tiles, ZSTD); both land under temporary names and the COG is
renamed onto its destination. On the GPU path the whole grid is painted at once (0.5 GB).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from publisher.atomic import atomic_path
from publisher.constants import CHIPS_PER_SIDE, SCORE_BAND_DESCRIPTION, SCORE_DTYPE, SCORE_NODATA
from publisher.grid import ChipGrid
from publisher.paint import check_scores, paint, paint_window, resolve_device

log = logging.getLogger(__name__)

BLOCKSIZE = 512
#: Rows painted and written at once: one row of internal tiles (512 x 10980 float32 = 22 MB).
STRIP_ROWS = BLOCKSIZE
#: GDAL block cache for the conversion; bounds the writer's memory.
GDAL_CACHEMAX_MB = 256
#: Creation options of the published COG: lossless ZSTD, nearest overviews so every overview pixel is
#: a real chip score. No predictor: the grid is constant runs that ZSTD packs to ~0.5 MB anyway, and
#: the floating-point predictor (0.18 MB) costs ~0.9 s more per granule (bench/RESULTS.md).
COG_OPTIONS = {
    "COMPRESS": "ZSTD",
    "LEVEL": 6,
    "PREDICTOR": "NO",
    "BLOCKSIZE": BLOCKSIZE,
    "OVERVIEWS": "AUTO",
    "OVERVIEW_RESAMPLING": "NEAREST",
    "BIGTIFF": "IF_SAFER",
}
#: The scratch file is read once; cheap compression keeps it small without costing time.
SCRATCH_OPTIONS = {"tiled": True, "blockxsize": BLOCKSIZE, "blockysize": BLOCKSIZE, "compress": "ZSTD",
                   "zstd_level": 1}


#: GeoTIFF tag of the score COG: the chip side in pixels of its grid.
CHIP_PX_TAG = "chip_px"


def _profile(grid: ChipGrid) -> dict:
    return {
        "driver": "GTiff", "dtype": SCORE_DTYPE, "count": 1, "nodata": SCORE_NODATA,
        "width": grid.width, "height": grid.height, "crs": grid.crs, "transform": grid.transform,
    }


def read_chip_grid(path: str | Path) -> ChipGrid:
    """The chip grid of a score COG: its CRS, transform and shape, chips of its ``chip_px`` tag (COGs of
    older releases carry none: they are 10980 px grids of 343 px chips, 32 per side plus a strip)."""
    with rasterio.open(path) as src:
        tag = src.tags().get(CHIP_PX_TAG)
        chip_px = int(tag) if tag else min(src.width, src.height) // CHIPS_PER_SIDE
        return ChipGrid(src.crs.to_epsg(), src.transform, src.width, src.height, chip_px)


def write_cog(
    path: str | Path,
    profile: dict,
    blocks: Callable[[], Iterable[tuple[Window, np.ndarray]]],
    options: dict,
    threads: int | None = None,
    descriptions: Sequence[str] = (),
    tags: dict | None = None,
) -> Path:
    """Stream ``blocks()`` (window, bands x rows x cols) into a tiled scratch GeoTIFF, then GDAL's COG
    driver writes ``path`` with ``options``: temporary names, then rename, memory bounded by the blocks."""
    path = Path(path)
    num_threads = "ALL_CPUS" if threads is None else str(max(1, threads))
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHEMAX_MB, GDAL_NUM_THREADS=num_threads):
        with atomic_path(path) as tmp:
            scratch = tmp.with_name(tmp.name + ".scratch.tif")
            try:
                with rasterio.open(scratch, "w", **profile, **SCRATCH_OPTIONS, num_threads=num_threads) as dst:
                    for band, text in enumerate(descriptions, start=1):
                        dst.set_band_description(band, text)
                    if tags:
                        dst.update_tags(**tags)
                    for window, data in blocks():
                        dst.write(data, window=window)
                rasterio.shutil.copy(scratch, tmp, driver="COG", NUM_THREADS=num_threads, **options)
            finally:
                scratch.unlink(missing_ok=True)
    log.debug("wrote %s (%d bytes)", path, path.stat().st_size)
    return path


def write_score_cog(
    scores: np.ndarray, grid: ChipGrid, path: str | Path, device: str = "auto", threads: int | None = None,
    description: str = SCORE_BAND_DESCRIPTION, units: str = "development score, 0 (least) to 1 (most developed)",
) -> Path:
    """Paint ``scores`` onto ``grid`` (the grid their chips were cut from) and write the COG at ``path``
    (temporary name, then rename).

    ``threads`` caps GDAL's compression threads (all cores when None); MPI runs give each rank its
    share so ranks do not fight over the same cores. On the CPU the grid is painted one strip of
    tiles at a time; on the GPU at once (0.5 GB). ``description`` and ``units`` name what the band holds
    (the ``uncertainty`` asset is painted the same way).
    """
    scores = check_scores(scores)
    device = resolve_device(device)

    def blocks() -> Iterator[tuple[Window, np.ndarray]]:
        if device == "cuda":
            yield Window(0, 0, grid.width, grid.height), paint(scores, grid, "cuda")[None]
            return
        for row in range(0, grid.height, STRIP_ROWS):
            window = Window(0, row, grid.width, min(STRIP_ROWS, grid.height - row))
            yield window, paint_window(scores, window, grid.chip_px)[None]

    return write_cog(path, _profile(grid), blocks, COG_OPTIONS, threads=threads,
                     descriptions=[description],
                     tags={"units": units,
                           CHIP_PX_TAG: str(grid.chip_px)})
