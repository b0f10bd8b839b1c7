"""Training chips read a batch at a time: each chip file stays on disk behind a
:class:`~publisher.imagery.chipreader.ChipReader`, a batch's chips are read and converted to the scorer's
input (grayscale, or RGB with ``bands="rgb"``) at the input side a few at a time, and converted chips are kept in a cache of bounded size. The working set is the cache
plus one batch, whatever the number of chips."""

from __future__ import annotations

import numpy as np
import torch

from publisher.constants import CONVERT_PIXELS, DEFAULT_BANDS, GRAY_CACHE_MB
from publisher.imagery.chipreader import ChipReader
from publisher.scoring.model import input_shape, to_input


def convert_chunk(source_side: int) -> int:
    """Chips of ``source_side`` px read and converted together."""
    return max(1, CONVERT_PIXELS // source_side ** 2)


class ChipSource:
    """Chip ``i`` is chip ``index_in_file[i]`` of ``readers[file_of[i]]``; :meth:`images` gives a batch as uint8
    (n, S, S) grayscale or (n, 3, S, S) RGB (``bands``). At most ``cache_mb`` of converted chips are kept (first
    converted, kept)."""

    def __init__(self, readers: list[ChipReader], file_of: np.ndarray, index_in_file: np.ndarray, input_size: int,
                 cache_mb: float = GRAY_CACHE_MB, bands: str = DEFAULT_BANDS) -> None:
        self.readers, self.input_size, self.bands = readers, input_size, bands
        self.shape = input_shape(input_size, bands)
        self.chip_bytes = int(np.prod(self.shape))
        self.file_of, self.index_in_file = np.asarray(file_of, np.int64), np.asarray(index_in_file, np.int64)
        self.capacity = int(min(len(self.file_of), max(0.0, cache_mb) * 2 ** 20 // self.chip_bytes))
        self.slot = np.full(len(self.file_of), -1, np.int64)  # cache slot of each chip, -1: not cached
        self.cached = 0
        self.cache: torch.Tensor | None = None  # allocated on first use; untouched pages cost nothing

    def __len__(self) -> int:
        return len(self.file_of)

    @property
    def cache_mb(self) -> float:
        """Memory the cache holds now."""
        return self.cached * self.chip_bytes / 2 ** 20

    def images(self, idx: np.ndarray) -> torch.Tensor:
        """The chips ``idx`` (repeats allowed) as uint8 (len(idx), S, S) grayscale or (len(idx), 3, S, S) RGB."""
        idx = np.asarray(idx, np.int64).reshape(-1)
        size = self.input_size
        out = torch.empty((len(idx), *self.shape), dtype=torch.uint8)
        hit = self.slot[idx] >= 0
        if hit.any():
            out[torch.from_numpy(np.flatnonzero(hit))] = self.cache[torch.from_numpy(self.slot[idx[hit]])]
        if hit.all():
            return out
        wanted, where = np.unique(idx[~hit], return_inverse=True)
        converted = torch.empty((len(wanted), *self.shape), dtype=torch.uint8)
        for number in np.unique(self.file_of[wanted]):
            mine = np.flatnonzero(self.file_of[wanted] == number)
            chunk = convert_chunk(self.readers[number].shape[1])
            for start in range(0, len(mine), chunk):
                part = mine[start:start + chunk]
                rgb = self.readers[number].take(self.index_in_file[wanted[part]])
                converted[torch.from_numpy(part)] = to_input(torch.from_numpy(rgb), size, self.bands)
        self._keep(wanted, converted)
        out[torch.from_numpy(np.flatnonzero(~hit))] = converted[torch.from_numpy(where.reshape(-1))]
        return out

    def _keep(self, chips: np.ndarray, converted: torch.Tensor) -> None:
        room = min(self.capacity - self.cached, len(chips))
        if room <= 0:
            return
        if self.cache is None:
            self.cache = torch.empty((self.capacity, *self.shape), dtype=torch.uint8)
        slots = np.arange(self.cached, self.cached + room)
        self.cache[torch.from_numpy(slots)] = converted[:room]
        self.slot[chips[:room]] = slots
        self.cached += room
