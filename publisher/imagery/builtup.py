"""Built-up share of image chips, measured from the pixels alone (no truth): the share of each chip's
clear pixels whose colour is that of a roof, concrete or a road.

A pixel is built-up when it is neither blank (0, 0, 0) nor cloud-like (every band >= 200 within a spread
of 30, as ``publisher.imagery.extract`` flags cloud) and it is
- grey: (max - min) / max < 0.2 with 50 <= max < 235 (grey roofs, concrete, asphalt, concrete lanes), or
- tile red: red >= 1.45 x green and red >= 1.45 x blue (red and orange tile roofs), or
- metal blue: blue >= red + 35, blue >= green + 10 and max >= 110 (blue metal roofs; water is darker).
Fields, trees, bare soil and water are saturated green, yellow or brown, or dark, so they are not.

``python -m publisher.imagery.builtup REGION CHIPS`` measures, for every granule-year of a chip folder
made from a synthetic region, the Spearman between the chips' built-up share and their mean truth over
the plain's usable chips, with a shuffled control.
"""

from __future__ import annotations

import numpy as np

import sys
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import spearmanr

from publisher.imagery.chipfiles import ChipFile, list_chip_files
from publisher.imagery.extract import CLOUD_MAX_SPREAD, CLOUD_MIN_BRIGHTNESS
from publisher.imagery.truth import chip_truth

#: Chips processed at once (bounds the float copies to a few hundred MB at 343 px chips).
BATCH = 64


def builtup_mask(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(built-up, clear) pixel masks of ``rgb`` (..., 3 uint8) by the module's colour rule."""
    red, green, blue = (rgb[..., band].astype(np.int16) for band in range(3))
    high = np.maximum(np.maximum(red, green), blue)
    low = np.minimum(np.minimum(red, green), blue)
    blank = high == 0
    cloud = (low >= CLOUD_MIN_BRIGHTNESS) & (high - low <= CLOUD_MAX_SPREAD)
    clear = ~blank & ~cloud
    grey = (5 * (high - low) < high) & (high >= 50) & (high < 235)
    tile = (100 * red >= 145 * green) & (100 * red >= 145 * blue)
    metal = (blue >= red + 35) & (blue >= green + 10) & (high >= 110)
    return (grey | tile | metal) & clear, clear


def builtup_share(chips: np.ndarray) -> np.ndarray:
    """Share of each chip's clear pixels that are built-up, for ``chips`` (n, rows, cols, 3 uint8);
    NaN for a chip with no clear pixel."""
    out = np.empty(len(chips), np.float64)
    for start in range(0, len(chips), BATCH):
        built, clear = builtup_mask(np.asarray(chips[start : start + BATCH]))
        counts = clear.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + BATCH] = np.where(counts > 0, built.sum(axis=(1, 2)) / counts, np.nan)
    return out


@dataclass(frozen=True)
class TruthCheck:
    """Spearman of built-up share against mean truth over a granule-year's usable plain chips."""

    granule_year: str
    chips: int
    spearman: float
    shuffled: float


def check_against_truth(chip_file: ChipFile, region: str | Path, seed: int = 0) -> TruthCheck:
    """Built-up share of ``chip_file``'s chips against the synthetic truth of ``region`` (plain, usable chips)."""
    chipset = chip_file.load()
    truth, plain = chip_truth(region, chip_file.tile, chip_file.year, *chip_file.chip_grid())
    keep = (chipset.flags == 0) & plain.ravel()
    share, mean_truth = builtup_share(chipset.chips[keep]), truth.ravel()[keep]
    shuffled = np.random.default_rng(seed).permutation(share)
    return TruthCheck(chip_file.id, int(keep.sum()), float(spearmanr(share, mean_truth)[0]),
                      float(spearmanr(shuffled, mean_truth)[0]))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m publisher.imagery.builtup REGION CHIPS_DIR")
    for chip_file in list_chip_files(sys.argv[2]):
        check = check_against_truth(chip_file, sys.argv[1])
        print(f"{check.granule_year}: {check.chips} plain chips, Spearman {check.spearman:.3f} "
              f"(shuffled {check.shuffled:+.3f})")
