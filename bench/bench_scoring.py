"""The scorer on the CPU: seconds per training epoch at the demo's input size (seed and rank loss), and
inference chips/s at that size and at the native 343 px on 2 cores, against one chip at a time (the
reference approach) measured in the same run."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.common import table
from devscore.demo import DEMO_TRAIN
from publisher.imagery.chipfiles import chips_fingerprint, list_chip_files
from publisher.imagery.extract import ChipSet
from publisher.scoring.infer import score_granule
from publisher.scoring.model import NATIVE_INPUT_SIZE, Scorer
from publisher.scoring.train import TrainConfig, train

#: The demo's training input side (`make demo`).
DEMO_SIZE = DEMO_TRAIN["input_size"]
LEVELS = [[0], [1, 2], [3], [4, 5], [6], [7]]


def _chip_folder(folder: Path, granules: int, side: int, seed: int = 0, n: int = 1024) -> Path:
    """``granules`` chip files of ``n`` random-texture chips of ``side`` px, all usable."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.divmod(np.arange(n), 32)
    for i in range(granules):
        chips = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
        ChipSet(chips, np.zeros(n, np.uint8), rows, cols).save(folder / f"48R{'VUTS'[i]}U-2023.npz",
                                                                 scene_id="bench", datetime="2023-05-12T03:35:41")
    return folder


def _ranking(chips: Path, out: Path, n_chips: int) -> Path:
    """A ranking folder over the first ``n_chips`` chips, dealt to 8 clusters on 6 levels."""
    keys = [(f.tile, f.year) for f in list_chip_files(chips)]
    per = int(np.ceil(n_chips / len(keys)))
    frames = [pd.DataFrame({"tile": t, "year": y, "row": np.arange(per) // 32, "col": np.arange(per) % 32}) for t, y in keys]
    clusters = pd.concat(frames, ignore_index=True).iloc[:n_chips]
    clusters = clusters.assign(category="rural", cluster=np.arange(len(clusters)) % 8, distance=0.0)
    out.mkdir(parents=True, exist_ok=True)
    clusters.to_parquet(out / "clusters.parquet", index=False)
    targets = {str(c): 1 - i / (len(LEVELS) - 1) for i, level in enumerate(LEVELS) for c in level}
    pog = ">".join("=".join(map(str, level)) for level in LEVELS)
    (out / "targets.json").write_text(json.dumps({"pog": pog, "levels": LEVELS, "targets": targets,
                                                  "chips_fingerprint": chips_fingerprint(chips)}))
    return out


def _chips_per_second(model: Scorer, chip_file, batch_size: int, workers: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        frame = score_granule(model, chip_file, torch.device("cpu"), batch_size=batch_size, workers=workers)
        times.append(time.perf_counter() - start)
    return len(frame) / statistics.median(times)


def run(quick: bool = False) -> str:
    """Markdown section: training s/epoch and inference chips/s."""
    torch.set_num_threads(2)
    n_chips, epochs = (256, 1) if quick else (2000, 2)
    rows_train, rows_infer = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        chips = _chip_folder(tmp / "chips", 2, 34)  # the demo's chips: 34 px at 100 m
        ranking = _ranking(chips, tmp / "ranking", n_chips)
        for loss in ("seed", "rank"):
            result = train(ranking, chips, tmp / f"train-{loss}", TrainConfig(loss=loss, input_size=DEMO_SIZE,
                           max_epochs=epochs, patience=epochs), progress=False, plot=False)
            per_epoch = statistics.median(h["seconds"] for h in result.history)
            rows_train.append([f"{loss} loss", DEMO_SIZE, int(n_chips * 0.8), f"{per_epoch:.1f}",
                               f"{n_chips * 0.8 / per_epoch:.0f}"])
        for side, size in ((34, DEMO_SIZE), (NATIVE_INPUT_SIZE, NATIVE_INPUT_SIZE)):
            folder = _chip_folder(tmp / f"infer-{side}", 1, side, seed=1, n=128 if quick else 1024)
            chip_file = list_chip_files(folder)[0]
            model = Scorer(size).eval()
            baseline = _chips_per_second_one_by_one(model, chip_file, 32 if quick else 128)
            for batch_size, workers in ((256, 0), (256, 1)):
                rate = _chips_per_second(model, chip_file, batch_size, workers, 1 if quick else 3)
                rows_infer.append([f"{size} px", f"DataLoader, batch {batch_size}, {workers} worker(s)",
                                   f"{rate:.0f}", f"{rate / baseline:.1f}x"])
            rows_infer.append([f"{size} px", "baseline: one chip at a time", f"{baseline:.0f}", "1.0x"])
    return "\n".join([
        f"### Scorer on the CPU (2 torch threads){', quick' if quick else ''}",
        "",
        table(["training", "input px", "training chips", "s per epoch", "chips/s"], rows_train),
        "",
        table(["inference", "method", "chips/s", "vs baseline"], rows_infer),
        "",
        f"An epoch is one pass over the training chips (80 % of {n_chips}); the seed loss runs every batch "
        "twice (the mixed images of L_linear), the rank loss once. Inference scores a chip file (1024 chips; "
        "128 in quick mode), grayscale, resampling and normalisation included; the reference "
        "implementation scored one chip at a time. GPU figures need a lent GPU (not on this machine).",
    ])


def _chips_per_second_one_by_one(model: Scorer, chip_file, n: int) -> float:
    """The reference approach: each chip converted and scored alone."""
    from publisher.scoring.model import normalise, to_gray

    chips = chip_file.load().chips[:n]
    start = time.perf_counter()
    with torch.inference_mode():
        for chip in chips:
            model(normalise(to_gray(torch.from_numpy(chip[None]), model.input_size)))
    return n / (time.perf_counter() - start)
