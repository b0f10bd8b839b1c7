"""Stage 1: cut a granule-year's scene into 32 x 32 chips, spread over MPI ranks.

Each rank reads its own chip windows straight from the COG (a local path or /vsicurl/ over HTTP);
rank 0 gathers them in chip order into one array for the scorer, so the result is the same for any
number of ranks. Chips that are mostly blank or cloud are flagged, not passed off as land.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.windows import Window

from publisher.atomic import atomic_path
from publisher.constants import CHIPS_PER_SIDE
from publisher.errors import DevscoreError
from publisher.imagery.acquire import HTTP_ENV, gdal_path
from publisher.mpi import Communicator

log = logging.getLogger(__name__)

#: Chip flags.
OK, BLANK, CLOUD = 0, 1, 2
FLAG_NAMES = {OK: "ok", BLANK: "blank", CLOUD: "cloud"}
#: A chip is blank (cloud) when more than this share of its pixels is nodata (cloud-like).
BLANK_SHARE, CLOUD_SHARE = 0.5, 0.5
#: Cloud-like pixel: every band at least this bright and the bands within this spread (grey-white).
CLOUD_MIN_BRIGHTNESS, CLOUD_MAX_SPREAD = 200, 30


def chip_size(shape: tuple[int, int]) -> int:
    """Side of a chip in pixels for an image of ``shape``: 32 chips per side, the remainder strip east
    and south belongs to no chip (343 px on the 10980 px Sentinel-2 grid)."""
    size = min(shape) // CHIPS_PER_SIDE
    if size < 1:
        raise DevscoreError(f"image of {shape} pixels is too small for {CHIPS_PER_SIDE} x {CHIPS_PER_SIDE} chips")
    return size


def chip_flag(chip: np.ndarray) -> int:
    """OK, BLANK or CLOUD for one chip (rows, cols, 3 uint8)."""
    blank = (chip == 0).all(axis=-1)
    if blank.mean() > BLANK_SHARE:
        return BLANK
    spread = chip.max(axis=-1).astype(np.int16) - chip.min(axis=-1)
    cloud = (chip.min(axis=-1) >= CLOUD_MIN_BRIGHTNESS) & (spread <= CLOUD_MAX_SPREAD) & ~blank
    return CLOUD if cloud.mean() > CLOUD_SHARE else OK


@dataclass(frozen=True)
class ChipSet:
    """All chips of a granule-year, in row-major chip order."""

    chips: np.ndarray  # (1024, size, size, 3) uint8
    flags: np.ndarray  # (1024,) uint8
    rows: np.ndarray
    cols: np.ndarray

    def save(self, path: Path) -> Path:
        """Write a compressed .npz (temporary name, then rename)."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, chips=self.chips, flags=self.flags, rows=self.rows, cols=self.cols)
        return path

    def export_png(self, folder: Path) -> int:
        """One PNG per chip (``r07_c12.png``) for labelling and inspection; returns the count."""
        folder.mkdir(parents=True, exist_ok=True)
        for chip, row, col in zip(self.chips, self.rows, self.cols):
            Image.fromarray(chip).save(folder / f"r{row:02d}_c{col:02d}.png")
        return len(self.chips)


def _read_chips(href: str, indices: np.ndarray, size: int) -> list[np.ndarray]:
    with rasterio.Env(**HTTP_ENV), rasterio.open(gdal_path(href)) as ds:
        if ds.count < 3:
            raise DevscoreError(f"{href} has {ds.count} band(s); a true-colour scene needs 3")
        out = []
        for index in indices:
            row, col = divmod(int(index), CHIPS_PER_SIDE)
            out.append(np.moveaxis(ds.read((1, 2, 3), window=Window(col * size, row * size, size, size)), 0, -1))
    return out


def extract_chips(href: str, comm: Communicator) -> ChipSet | None:
    """Every chip of the scene at ``href``; rank r reads the r-th contiguous block of chip rows.

    Returns the ChipSet on rank 0 (None on the others)."""
    with rasterio.Env(**HTTP_ENV), rasterio.open(gdal_path(href)) as ds:
        size = chip_size(ds.shape)
    indices = np.array_split(np.arange(CHIPS_PER_SIDE * CHIPS_PER_SIDE), comm.size)[comm.rank]
    try:
        mine, error = (indices, _read_chips(href, indices, size)), None
    except (DevscoreError, rasterio.errors.RasterioIOError) as exc:
        mine, error = (indices, []), f"rank {comm.rank}: {str(exc).splitlines()[0]}"
    gathered = comm.gather((mine, error))
    if gathered is None:
        return None
    errors = [e for _, e in gathered if e]
    if errors:
        raise DevscoreError("; ".join(errors))
    chips = np.stack([chip for (_, part), _ in gathered for chip in part])
    rows, cols = np.divmod(np.arange(len(chips)), CHIPS_PER_SIDE)
    flags = np.array([chip_flag(chip) for chip in chips], dtype=np.uint8)
    log.info("%s: %d chips of %d px (%s)", href, len(chips), size,
             ", ".join(f"{(flags == f).sum()} {name}" for f, name in FLAG_NAMES.items()))
    return ChipSet(chips=chips, flags=flags, rows=rows.astype(np.uint8), cols=cols.astype(np.uint8))
