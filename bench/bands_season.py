"""How much a scorer's ranking depends on the season's colours: a hue-only "other season" for the same chips.

The synthetic world has no seasons, so the RGB-versus-grayscale comparison (``bench_scorer_variants``) cannot
show what seasons do to a colour scorer. Here every green pixel of every usable chip (G above R and B: fields,
trees) is turned brown at about the same brightness (luma kept within 2 %); roofs, roads and other pixels stay.
Each checkpoint scores the chips as they are and browned; the table gives Spearman against the truth for both
(all / plain), the mean and mean absolute score shift, and the Spearman of the two scorings of the same ground.
A hue-only change leaves a grayscale scorer nearly unmoved by construction; what it measures is how much an RGB
scorer's ranking rests on colour a season changes.

``python -m bench.bands_season --region REGION --chips CHIPS CHECKPOINT [CHECKPOINT ...]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from bench.common import table
from publisher.imagery.chipfiles import list_chip_files
from publisher.imagery.truth import chip_truth_table
from publisher.scoring.model import load_scorer, normalise, to_input

#: Brown at a green pixel's luma: R, G, B as multiples of the luma (0.299 x 1.15 + 0.587 x 0.95 + 0.114 x 0.75 = 0.99).
BROWN = (1.15, 0.95, 0.75)


def brown(chips: np.ndarray) -> np.ndarray:
    """(N, s, s, 3) uint8 chips with their green pixels turned brown at the same brightness."""
    x = chips.astype(np.float32)
    green = (x[..., 1] > x[..., 0]) & (x[..., 1] > x[..., 2])
    luma = x @ np.array((0.299, 0.587, 0.114), np.float32)
    x[green] = luma[green][:, None] * np.array(BROWN, np.float32)
    return np.clip(x.round(), 0, 255).astype(np.uint8)


def _scores(model: torch.nn.Module, chips: np.ndarray) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(chips), 256):
            batch = to_input(torch.from_numpy(chips[start:start + 256]), model.input_size, model.bands)
            out.append(model(normalise(batch)))
    return torch.cat(out).numpy()


def measure(region: Path, chips_dir: Path, checkpoints: list[Path]) -> list[list[str]]:
    """One row per checkpoint: its bands and what browning the green pixels does to its scores."""
    torch.set_num_threads(1)
    truth = chip_truth_table(region, chips_dir, usable_only=True)
    rows = []
    for checkpoint in checkpoints:
        model, _ = load_scorer(checkpoint)
        model.eval()
        frames = []
        for chip_file in list_chip_files(chips_dir):
            chips = chip_file.load()
            ok = chips.flags == 0
            frames.append(pd.DataFrame({"tile": chip_file.tile, "year": chip_file.year, "row": chips.rows[ok].astype(int),
                                        "col": chips.cols[ok].astype(int), "as is": _scores(model, chips.chips[ok]),
                                        "browned": _scores(model, brown(chips.chips[ok]))}))
        scored = pd.concat(frames).merge(truth, on=["tile", "year", "row", "col"])
        plain = scored[scored["plain"]]
        rho = lambda frame, column: f"{spearmanr(frame[column], frame['truth'])[0]:.3f}"  # noqa: E731
        shift = scored["browned"] - scored["as is"]
        rows.append([f"{checkpoint} ({model.bands})", f"{rho(scored, 'as is')} / {rho(plain, 'as is')}",
                     f"{rho(scored, 'browned')} / {rho(plain, 'browned')}", f"{shift.mean():+.3f}",
                     f"{shift.abs().mean():.3f}", f"{spearmanr(scored['as is'], scored['browned'])[0]:.3f}"])
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", type=Path, required=True, help="the `devscore synth` region (its truth)")
    parser.add_argument("--chips", type=Path, required=True, help="the region's chip folder")
    parser.add_argument("checkpoints", type=Path, nargs="+")
    args = parser.parse_args()
    print(table(["checkpoint (bands)", "as is: all / plain", "browned: all / plain", "mean score shift",
                 "mean abs shift", "as is vs browned"], measure(args.region, args.chips, args.checkpoints)))
