"""The usable chips of a chip folder, as the ranking stage sees them: small thumbnails and pixel
indices in memory, full-size chips re-read from their file only when a VLM has to see them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from publisher.progress import tqdm

from publisher.errors import DevscoreError
from publisher.imagery.chipfiles import ChipFile, chips_fingerprint, list_chip_files
from publisher.imagery.extract import OK

#: Side of the thumbnails kept in memory (the network's CPU input size and the contact sheets').
THUMB = 64
#: Usable chips read from a chip file and measured together.
READ_CHUNK = 128


class NoUsableChipsError(DevscoreError):
    """Every chip of the folder is flagged blank or cloudy."""


@dataclass
class ChipStore:
    """Usable chips of every granule-year of a folder, in (tile, year, row, col) order."""

    folder: Path
    files: list[ChipFile]
    file_of: np.ndarray  # index into ``files``
    index_in_file: np.ndarray  # position in the file's chip arrays
    tile: np.ndarray
    year: np.ndarray
    row: np.ndarray
    col: np.ndarray
    thumbs: np.ndarray  # (n, THUMB, THUMB, 3) uint8
    indices: np.ndarray  # (n, k) float, from ``index_func`` on the full-size chips
    fingerprint: str
    flagged: int

    def __len__(self) -> int:
        return len(self.row)

    @classmethod
    def open(cls, folder: str | Path, index_func: Callable[[np.ndarray], np.ndarray], progress: bool = True) -> "ChipStore":
        """Read every chip file once: keep thumbnails and ``index_func`` of the usable chips.
        A missing or empty folder, or one whose chips are all flagged, is an error."""
        folder = Path(folder)
        files = list_chip_files(folder)
        parts: dict[str, list] = {k: [] for k in ("file_of", "index_in_file", "tile", "year", "row", "col", "thumbs", "indices")}
        flagged = 0
        for number, chip_file in enumerate(tqdm(files, desc="reading chips", unit="granule-year", disable=not progress)):
            chip_set = chip_file.load(lazy=True)  # chips read READ_CHUNK at a time, not the whole file
            usable = np.flatnonzero(chip_set.flags == OK)
            values, thumbs = _per_chunk(chip_set.chips, usable, index_func)
            finite = np.isfinite(values).all(axis=1)  # no clear pixel at all: nothing to measure, left out
            usable, values, thumbs = usable[finite], values[finite], thumbs[finite]
            flagged += len(chip_set.flags) - len(usable)
            if not len(usable):
                continue
            parts["file_of"].append(np.full(len(usable), number))
            parts["index_in_file"].append(usable)
            parts["tile"].append(np.full(len(usable), chip_file.tile, dtype=object))
            parts["year"].append(np.full(len(usable), chip_file.year))
            parts["row"].append(np.asarray(chip_set.rows)[usable])
            parts["col"].append(np.asarray(chip_set.cols)[usable])
            parts["thumbs"].append(thumbs)
            parts["indices"].append(values)
        if not parts["row"]:
            raise NoUsableChipsError(f"all {flagged} chips in {folder} are flagged blank or cloudy: nothing to rank")
        joined = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(folder=folder, files=files, fingerprint=chips_fingerprint(folder), flagged=flagged, **joined)

    def full(self, chips: np.ndarray) -> list[np.ndarray]:
        """Full-size chips at store positions ``chips``, reading each file once."""
        out: list[np.ndarray | None] = [None] * len(chips)
        chips = np.asarray(chips)
        for number in np.unique(self.file_of[chips]):
            chip_set = self.files[number].load(lazy=True)
            for slot in np.flatnonzero(self.file_of[chips] == number):
                out[slot] = np.array(chip_set.chips[self.index_in_file[chips[slot]]])
        return out  # type: ignore[return-value]

    def pngs(self, chips: np.ndarray) -> list[bytes]:
        """PNG bytes of the full-size chips at ``chips`` (what a VLM is shown)."""
        return [chip_png(c) for c in self.full(chips)]


def _per_chunk(chips, usable: np.ndarray, index_func: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
    """``index_func`` and thumbnails of the chips ``usable``, READ_CHUNK chips read at a time (a 10 m
    granule-year's chips are 360 MB; a chunk is 45 MB)."""
    values, thumbs = [], []
    for start in range(0, len(usable), READ_CHUNK):
        block = chips[usable[start:start + READ_CHUNK]]
        values.append(index_func(block))
        thumbs.append(thumbnails(block))
    if not values:
        return np.empty((0, 0)), np.empty((0, THUMB, THUMB, 3), np.uint8)
    return np.concatenate(values), np.concatenate(thumbs)


def chip_png(chip: np.ndarray) -> bytes:
    """One chip as PNG bytes; the same chip always gives the same bytes (they key the VLM cache)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(chip)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def thumbnails(chips: np.ndarray, size: int = THUMB) -> np.ndarray:
    """(n, size, size, 3) uint8 antialiased (PIL bilinear) thumbnails of (n, s, s, 3) uint8 chips."""
    out = np.empty((len(chips), size, size, 3), np.uint8)
    for i, chip in enumerate(chips):
        out[i] = np.asarray(Image.fromarray(np.ascontiguousarray(chip)).resize((size, size), Image.BILINEAR))
    return out
