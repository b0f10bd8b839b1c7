"""Read the chip folders `devscore chips` writes: one ``<tile>-<year>.npz`` per granule-year.

This is the one contract between the imagery stage and the later stages (ranking, scoring, the
pipeline): they list a folder with :func:`list_chip_files`, open a granule-year's chips with
:meth:`ChipFile.load` and tie their
outputs to the exact chips they saw with :func:`chips_fingerprint`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from publisher.errors import DevscoreError
from publisher.imagery.chipreader import ChipReader, ChipReaderError
from publisher.imagery.extract import OK, ChipSet

#: ``48RVU-2023.npz``
CHIP_FILE = re.compile(r"^(?P<tile>\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2})-(?P<year>\d{4})\.npz$")


class ChipFileError(DevscoreError):
    """A chip folder or file that cannot be read as `devscore chips` output."""


@dataclass(frozen=True)
class ChipFile:
    """One granule-year's chip file and what it says about its source scene."""

    path: Path
    tile: str
    year: int

    @property
    def id(self) -> str:
        """Granule-year id, as the score items use it: ``48RVU-2023``."""
        return f"{self.tile}-{self.year}"

    def load(self, lazy: bool = False) -> ChipSet:
        """The chips, flags, rows and cols (360 MB for a 10 m granule-year). ``lazy``: the chips stay on disk
        behind a :class:`ChipReader` that reads only the chips indexed (training and scoring, a batch at a time)."""
        arrays = _open(self.path, keys=("flags", "rows", "cols") if lazy else None)
        try:
            chips = ChipReader(self.path) if lazy else arrays["chips"]
            flags = np.asarray(arrays["flags"])
            rows, cols = np.asarray(arrays["rows"]), np.asarray(arrays["cols"])
        except KeyError as exc:
            raise ChipFileError(f"{self.path.name}: not a devscore chip file (no {exc.args[0]!r} array)") from None
        except ChipReaderError as exc:
            raise ChipFileError(str(exc)) from None
        if chips.ndim != 4 or chips.shape[-1] != 3 or chips.dtype != np.uint8 or len(flags) != len(chips):
            raise ChipFileError(f"{self.path.name}: chips of shape {chips.shape} {chips.dtype}; expected (n, s, s, 3) uint8")
        return ChipSet(chips=chips, flags=flags, rows=rows, cols=cols)

    def scene(self) -> tuple[str | None, dt.datetime]:
        """(scene id or None, scene datetime) recorded with the chips; mid-year when none was recorded."""
        arrays = _open(self.path, keys=("scene_id", "datetime"))
        scene_id = str(arrays.get("scene_id", "")) or None
        when = str(arrays.get("datetime", ""))
        if not when:
            return scene_id, dt.datetime(self.year, 7, 1, tzinfo=dt.timezone.utc)
        parsed = dt.datetime.fromisoformat(when)
        return scene_id, parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)

    def chip_scenes(self, count: int) -> np.ndarray:
        """The scene id of each of the ``count`` chips (gap-filled chips name the scene they came from; files
        of an older `devscore chips` name the one scene)."""
        arrays = _open(self.path, keys=("chip_scenes", "scene_id"))
        if "chip_scenes" in arrays and len(arrays["chip_scenes"]) == count:
            return np.asarray(arrays["chip_scenes"]).astype(object)
        return np.full(count, str(arrays.get("scene_id", "")) or None, dtype=object)

    def chip_grid(self) -> tuple[CRS, Affine]:
        """CRS and affine of the 32 x 32 chip grid (one cell a chip), to aggregate rasters per chip."""
        arrays = _open(self.path, keys=("epsg", "chip_transform"))
        epsg = int(arrays.get("epsg", 0))
        coefficients = arrays.get("chip_transform", np.full(6, np.nan))
        if not epsg or not np.isfinite(coefficients).all():
            raise ChipFileError(f"{self.path.name} records no chip grid (made by an older `devscore chips`)")
        return CRS.from_epsg(epsg), Affine(*coefficients)

    def usable(self) -> np.ndarray:
        """Boolean mask of the chips flagged OK (neither blank nor cloud)."""
        return np.asarray(_open(self.path, keys=("flags",))["flags"]) == OK


def _open(path: Path, keys: tuple[str, ...] | None = None) -> dict:
    """The arrays ``keys`` (all when None) of an .npz, read into memory."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in (keys or npz.files) if k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ChipFileError(f"{path.name}: cannot read chip file ({str(exc).splitlines()[0]})") from None


def list_chip_files(folder: str | Path) -> list[ChipFile]:
    """Every ``<tile>-<year>.npz`` of ``folder``, sorted by tile then year; an error when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChipFileError(f"chip folder {folder} does not exist")
    files = []
    for path in sorted(folder.iterdir()):
        match = CHIP_FILE.match(path.name)
        if match:
            files.append(ChipFile(path, match["tile"], int(match["year"])))
    if not files:
        raise ChipFileError(f"chip folder {folder} holds no <tile>-<year>.npz file (run `devscore chips` first)")
    return sorted(files, key=lambda f: (f.tile, f.year))


def chips_fingerprint(folder: str | Path) -> str:
    """SHA-256 over every chip file's name and bytes: a ranking or checkpoint made from other chips
    carries another fingerprint, so a later stage can refuse it."""
    digest = hashlib.sha256()
    for chip_file in list_chip_files(folder):
        digest.update(chip_file.path.name.encode())
        with open(chip_file.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()
