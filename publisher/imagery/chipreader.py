"""Read a few chips of a chips file without loading the others: positioned reads of the uncompressed
``chips.npy`` member of the ``.npz`` `devscore chips` writes.

Training and scoring read their chips a batch at a time through :class:`ChipReader`, so their working set
does not grow with the number of chips. Reads go through the page cache with ``os.pread`` rather than a
memory map: pages of a map that were touched count in the process's resident memory until the kernel
takes them back, pages read into a buffer do not.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from publisher.errors import DevscoreError

#: The fixed part of a zip local file header (signature ... extra field length).
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


class ChipReaderError(DevscoreError):
    """A chips file whose chips array cannot be located."""


class ChipReader:
    """A read-only, array-like view of an ``(n, s, s, 3)`` uint8 member of an ``.npz``: indexing with an int,
    a slice or an index array reads just those chips. A compressed member (not what `devscore chips`
    writes) is read whole once, on first use. Picklable (DataLoader workers re-open the file)."""

    def __init__(self, path: str | Path, member: str = "chips") -> None:
        self.path = Path(path)
        self.member = member
        self._offset, self.shape, self.dtype, self._loaded = _locate(self.path, f"{member}.npy")
        self.ndim = len(self.shape)
        self._item_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self.reads = 0  # chips read so far (what a test counts to show nothing beyond a batch was read)
        self.largest_read = 0  # most chips one indexing call read

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.take(np.array([int(key)]))[0]
        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        index = np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return self.take(index.astype(np.int64))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.take(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The chips at ``index`` (in that order), as a new ``(len(index), s, s, 3)`` array."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(index) and (index.min() < -n or index.max() >= n):
            raise IndexError(f"chip index out of range for {len(self)} chips of {self.path.name}")
        index = np.where(index < 0, index + n, index)
        self.reads += len(index)
        self.largest_read = max(self.largest_read, len(index))
        if self._loaded is not None:
            return self._loaded[index]
        out = np.empty((len(index), *self.shape[1:]), self.dtype)
        flat = out.reshape(len(index), -1).view(np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for slot, i in enumerate(index):
                start = self._offset + int(i) * self._item_bytes
                view, done = memoryview(flat[slot]), 0
                while done < self._item_bytes:
                    got = os.preadv(fd, [view[done:]], start + done)
                    if got <= 0:
                        raise ChipReaderError(f"{self.path.name}: truncated chips array")
                    done += got
        finally:
            os.close(fd)
        return out


def _locate(path: Path, name: str) -> tuple[int, tuple[int, ...], np.dtype, np.ndarray | None]:
    """(offset of the array's data in the file, shape, dtype, the whole array when it is compressed)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name)
            if info.compress_type != zipfile.ZIP_STORED:
                with archive.open(info) as fh:
                    array = np.lib.format.read_array(fh, allow_pickle=False)
                return 0, array.shape, array.dtype, array
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            header = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
            if header[0] != _LOCAL_SIGNATURE:
                raise ChipReaderError(f"{path.name}: damaged zip header before {name}")
            fh.seek(info.header_offset + _LOCAL_HEADER.size + header[-2] + header[-1])
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise ChipReaderError(f"{path.name}: {name} has .npy format {version}, which this reader does not know")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            if fortran or dtype.hasobject:
                raise ChipReaderError(f"{path.name}: {name} is not a C-ordered plain array")
            return fh.tell(), tuple(shape), dtype, None
    except KeyError:
        raise ChipReaderError(f"{path.name}: not a devscore chip file (no {name.removesuffix('.npy')!r} array)") from None
    except (OSError, ValueError, zipfile.BadZipFile, struct.error) as exc:
        raise ChipReaderError(f"{path.name}: cannot read chip file ({str(exc).splitlines()[0]})") from None
