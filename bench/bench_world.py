"""The synthetic world: how far its night lights agree with its truth (the ceiling of any score's
agreement with them, docs/synthetic-world.md), per granule-year of the demo region and the seed-7
hold-out, the seconds one composite takes, how many chips the world's growth changes, and how well
the change shows in the imagery (the built-up share's change against the truth's, on the demo region)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import table
import pandas as pd

from publisher.change_quality import MIN_TRUTH_CHANGE, change_agreement
from publisher.imagery.builtup import builtup_share
from publisher.imagery.chipfiles import list_chip_files
from publisher.imagery.cut import cut_chips
from publisher.imagery.synth import synthesize
from publisher.imagery.truth import chip_truth_table
from publisher.mpi import world
from publisher.imagery.lights import chip_truth_of, truth_lights_spearman
from publisher.imagery.synth import _nightlights

REGIONS = {"demo (seed 0)": (("48RUU", "48RVU", "48RUT", "48RVT"), 0),
           "hold-out (seed 7)": (("48RUV", "48RVV", "48RVS", "48RWU"), 7)}
YEARS = (2021, 2023)
TARGET = (0.5, 0.8)


def builtup_change(folder: Path, tiles: tuple[str, ...], size: int) -> tuple[object, float]:
    """(ChangeAgreement of the chips' built-up share, seconds) over YEARS of a region synthesised at ``size``."""
    start = time.perf_counter()
    synthesize(folder / "region", tiles, YEARS, size=size, seed=0, progress=False)
    cut_chips([(t, y) for t in tiles for y in YEARS], {"source_catalog": folder / "region" / "source"},
              folder / "chips", world())
    frames = []
    for chip_file in list_chip_files(folder / "chips"):
        chips = chip_file.load()
        frames.append(pd.DataFrame({"tile": chip_file.tile, "datetime": f"{chip_file.year}-07-01T00:00:00Z",
                                    "row": chips.rows, "col": chips.cols, "score": builtup_share(chips.chips)}))
    scores = pd.concat(frames, ignore_index=True).dropna()
    report = change_agreement(scores, chip_truth_table(folder / "region", folder / "chips"))
    return report.changed, time.perf_counter() - start


def run(quick: bool = False) -> str:
    """Markdown section: truth vs lights per granule-year (target 0.5-0.8), composite seconds, chips changed."""
    rows, change_rows = [], []
    regions = dict(list(REGIONS.items())[:1]) if quick else REGIONS
    with tempfile.TemporaryDirectory(prefix="bench-world-") as tmp:
        for name, (tiles, seed) in regions.items():
            for year in YEARS:
                start = time.perf_counter()
                path = _nightlights(Path(tmp) / f"viirs_{seed}_{year}.tif", tiles, year, seed + year)
                seconds = time.perf_counter() - start
                figures = [truth_lights_spearman(path, tile, year) for tile in tiles]
                inside = sum(TARGET[0] <= f <= TARGET[1] for f in figures)
                rows.append([name, str(year), ", ".join(f"{t} {f:.2f}" for t, f in zip(tiles, figures)),
                             f"{inside}/{len(tiles)}", f"{seconds:.1f}"])
            for tile in tiles:
                change = chip_truth_of(tile, YEARS[-1]) - chip_truth_of(tile, YEARS[0])
                change_rows.append([tile, str(int((change > MIN_TRUTH_CHANGE).sum())), str(int((change > 0.1).sum())),
                                    f"{float(np.max(change)):.2f}"])
        tiles = REGIONS["demo (seed 0)"][0][:1] if quick else REGIONS["demo (seed 0)"][0]
        size = 366 if quick else 1098
        change, change_s = builtup_change(Path(tmp) / "change", tiles, size)
    return "\n".join([
        "### Synthetic world: night lights against the truth (the ceiling), and growth",
        "",
        "Spearman of chip mean truth against chip radiance (exactextract means, as `devscore compare` takes them), "
        f"per granule; target {TARGET[0]}-{TARGET[1]} (what real studies report), before the departures "
        "(issue 15) 0.98-0.996. Seconds: one composite over the region's granules.",
        "",
        table(["region", "year", "truth vs lights Spearman per granule", "in target", "composite s"], rows),
        "",
        f"Chips whose mean truth rose between {YEARS[0]} and {YEARS[-1]} (3.43 km chips):",
        "",
        table(["granule", f"> {MIN_TRUTH_CHANGE:g}", "> 0.1", "largest rise"], change_rows),
        "",
        f"The change in the imagery: {', '.join(tiles)} synthesised at grid {size} for {YEARS[0]} and {YEARS[-1]}, "
        "chips cut, each chip's built-up share B (the heuristic ranker's pixel count) as its score: "
        + " ".join(change.lines()) + f" ({change_s:.0f} s for synthesis, chips and measure).",
    ])
