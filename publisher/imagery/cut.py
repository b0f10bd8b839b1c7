"""The chips job as a function: choose the best scene of every granule-year and cut it into chips.

`devscore chips` and `devscore run` both call :func:`cut_chips`; under MPI every rank calls it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from publisher.errors import DevscoreError
from publisher.imagery.acquire import search_scenes, select_scene
from publisher.imagery.extract import FLAG_NAMES, chip_grid, extract_chips
from publisher.imagery.gapfill import fill_gaps
from publisher.mpi import Communicator, map_gather


#: Scenes up to this cloud cover (percent) may fill the chosen scene's blank and cloudy chips: every chip
#: taken from them is checked clear on its own.
GAP_FILL_MAX_CLOUD = 100.0


@dataclass(frozen=True)
class CutChips:
    """One granule-year's chips as written by rank 0."""

    path: Path
    scene_id: str
    chips: int
    chip_px: int
    ranks: int
    seconds: float
    flag_counts: dict[str, int]

    def line(self) -> str:
        """The one-line summary `devscore chips` prints."""
        counts = ", ".join(f"{n} {name}" for name, n in self.flag_counts.items())
        return (f"{self.path}: {self.chips} chips of {self.chip_px} px on {self.ranks} rank(s) in {self.seconds:.2f} s "
                f"({self.chips / max(self.seconds, 1e-9):.0f} chips/s; {counts})")


def select_href(job: tuple[str, int], search: dict) -> tuple[str, int, str, str, str, list[tuple[str, str]]]:
    """(tile, year, href, scene id, scene datetime in ISO form, [(href, scene id) of the other scenes, clearest
    first]) of the best scene of a granule-year: the others fill its blank and cloudy chips."""
    tile, year = job
    best, _ = select_scene(search_scenes(tile, year, **search), tile, year)
    # a chip clear in a cloudy scene is clear: gaps may be filled from any scene of the year, least cloud first
    wider = {**search, "max_cloud": GAP_FILL_MAX_CLOUD}
    _, ranked = select_scene(search_scenes(tile, year, **wider), tile, year)
    others = [(c.href, c.item.id) for c in sorted(ranked, key=lambda c: (c.cloud, c.blank, c.item.id))
              if c.item.id != best.item.id]
    return tile, year, best.href, best.item.id, best.item.datetime.isoformat(), others


def cut_chips(jobs: list[tuple[str, int]], search: dict, out: Path, comm: Communicator,
              export_png: bool = False) -> list[CutChips]:
    """Cut the best scene of every (tile, year) of ``jobs`` into ``out/<tile>-<year>.npz``, the chip rows of
    each spread over the ranks; returns what rank 0 wrote ([] on the other ranks). Any search failure
    fails every rank before anything is written."""
    gathered = map_gather(lambda job: select_href(job, search), jobs, comm)
    chosen, errors = gathered if gathered is not None else (None, None)
    chosen, errors = comm.bcast((chosen, errors))
    if errors:
        raise DevscoreError("; ".join(errors))
    written = []
    for tile, year, href, scene_id, when, others in sorted(chosen):
        start = time.perf_counter()
        with extract_chips(href, comm) as chipset:
            if chipset is None:
                continue
            sources = fill_gaps(chipset, href, [h for h, _ in others])
            seconds = time.perf_counter() - start
            scene_ids = np.array([scene_id, *(i for _, i in others)])
            path = chipset.save(Path(out) / f"{tile}-{year}.npz", scene_id=scene_id, datetime=when,
                                chip_grid=chip_grid(href), chip_scenes=scene_ids[sources])
            if export_png:
                chipset.export_png(Path(out) / f"{tile}-{year}")
            counts = {name: int(np.sum(chipset.flags == flag)) for flag, name in FLAG_NAMES.items()}
            written.append(CutChips(path, scene_id, len(chipset.chips), chipset.chips.shape[1], comm.size, seconds,
                                    counts))
    return written
