"""Score every usable chip of a chip folder with a trained scorer: batched through a DataLoader straight
from the chip arrays, granule-years spread over MPI ranks, one chip-score table written once at the end."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from publisher.progress import tqdm

from publisher.atomic import atomic_path
from publisher.errors import DevscoreError
from publisher.imagery.chipfiles import ChipFile, ChipFileError, list_chip_files
from publisher.imagery.chipreader import ChipReader
from publisher.mpi import Communicator, map_gather, world
from publisher.scores import GEOMETRY_COLUMNS, geometry_columns
from publisher.scoring.model import Scorer, load_scorer, normalise, pick_device, to_input
from publisher.scoring.tta import VIEW_COUNTS, predict

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("tile", "datetime", "row", "col", "score", "scene_id", "chip_scene", *GEOMETRY_COLUMNS)


class ScoringError(DevscoreError):
    """Chips that cannot be scored, or a table that cannot be written."""


class _InputChips(Dataset):
    """The chips ``picks`` of one granule-year as the model's uint8 input ((S, S) grayscale or (3, S, S) RGB,
    its ``bands``), read and converted one at a time from the chips file (a ChipReader) or an array."""

    def __init__(self, chips: np.ndarray | ChipReader, picks: np.ndarray, input_size: int, bands: str) -> None:
        self.chips, self.picks, self.input_size, self.bands = chips, picks, input_size, bands

    def __len__(self) -> int:
        return len(self.picks)

    def __getitem__(self, i: int) -> torch.Tensor:
        j = int(self.picks[i])
        return to_input(torch.from_numpy(np.ascontiguousarray(self.chips[j : j + 1])), self.input_size, self.bands)[0]


def default_workers() -> int:
    """DataLoader worker processes: up to 4 where cores are plenty; none on 2 cores or fewer, where a worker
    takes a core from the model (bench_scoring: 349 chips/s with none, 183 with one, at 64 px)."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 1)


def score_granule(model: Scorer, chip_file: ChipFile, device: torch.device, batch_size: int = 256,
                  workers: int | None = None, progress: bool = False, views: int = 1) -> pd.DataFrame:
    """The chip-score rows of one granule-year (usable chips only), with the grid the chips were cut from
    (the chips file's ``chip_transform``), which the publisher paints and describes them on. ``views`` > 1:
    each chip's score is the mean over that many of its rotations and flips (publisher.scoring.tta)."""
    chips = chip_file.load(lazy=True)  # chips read a batch at a time by the DataLoader, not the whole file
    usable = chips.flags == 0
    scene_id, when = chip_file.scene()
    try:
        crs, chip_transform = chip_file.chip_grid()
        geometry = geometry_columns(crs.to_epsg(), chip_transform, chips.chips.shape[1])
    except ChipFileError as exc:
        log.warning("%s; its scores will be published on the 10 m grid with 343 px chips", exc)
        geometry = dict.fromkeys(GEOMETRY_COLUMNS)
    frame = pd.DataFrame({"tile": chip_file.tile, "datetime": pd.Timestamp(when),
                          "row": chips.rows[usable].astype(np.int32), "col": chips.cols[usable].astype(np.int32),
                          "score": np.zeros(int(usable.sum()), np.float32), "scene_id": scene_id,
                          "chip_scene": chip_file.chip_scenes(len(chips.flags))[usable], **geometry})
    if not usable.any():
        log.warning("%s: every chip is flagged blank or cloud; nothing to score", chip_file.id)
        return frame
    cuda = device.type == "cuda"
    loader = DataLoader(_InputChips(chips.chips, np.flatnonzero(usable), model.input_size, model.bands),
                        batch_size=batch_size,
                        num_workers=default_workers() if workers is None else workers, pin_memory=cuda)
    scores = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
        for batch in tqdm(loader, desc=chip_file.id, unit="batch", disable=not progress, leave=False):
            images = normalise(batch.to(device, non_blocking=cuda))
            if cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            scores.append(predict(model, images, views).cpu())
    frame["score"] = torch.cat(scores).numpy().astype(np.float32)
    return frame


def ready(model: Scorer, device: torch.device) -> Scorer:
    """``model`` on ``device`` for inference (channels-last on CUDA)."""
    model.to(device).eval()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def gather_scores(one: Callable[[ChipFile], pd.DataFrame], files: list[ChipFile], comm: Communicator,
                  chips_dir: str | Path) -> pd.DataFrame | None:
    """The chip-score rows of every chip file (``one`` on each rank's share), on rank 0 (None on the others);
    a failure on any rank, or no usable chip at all, is a ScoringError rather than a short table."""
    gathered = map_gather(one, files, comm)
    if gathered is None:
        return None
    frames, errors = gathered
    if errors:
        raise ScoringError(errors[0])
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        raise ScoringError(f"every chip of {chips_dir} is flagged blank or cloud; there is nothing to score")
    return table


def write_scores(table: pd.DataFrame, out_path: Path) -> None:
    """Write a chip-score table atomically, as .csv (ISO datetimes) or .parquet by its suffix."""
    with atomic_path(out_path) as tmp:
        if out_path.suffix.lower() == ".csv":
            table.assign(datetime=table["datetime"].map(lambda t: t.isoformat())).to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)


def score_chips(checkpoint: str | Path, chips_dir: str | Path, out_path: str | Path, comm: Communicator | None = None,
                device: str = "auto", batch_size: int = 256, workers: int | None = None,
                input_size: int | None = None, progress: bool = True, views: int = 1) -> Path:
    """Score every usable chip of ``chips_dir`` with ``checkpoint``; rank 0 writes ``out_path`` (.parquet or
    .csv) atomically: tile, datetime, row, col, score, scene_id. Flagged chips are absent. ``views``: 1, or 4
    or 8 to average each chip's score over its rotations (and flips)."""
    comm = comm or world()
    out_path = Path(out_path)
    if views not in VIEW_COUNTS:
        raise ScoringError(f"views must be one of {', '.join(map(str, VIEW_COUNTS))}, not {views}")
    if out_path.suffix.lower() not in (".parquet", ".csv"):
        raise ScoringError(f"{out_path.name}: the chip-score table must be .parquet or .csv")
    dev = pick_device(device)
    model = ready(load_scorer(checkpoint, input_size)[0], dev)
    files = list_chip_files(chips_dir)
    start = time.perf_counter()
    mine = len(files[comm.rank :: comm.size])
    bar = tqdm(total=mine, desc=f"scoring (rank {comm.rank})" if comm.size > 1 else "scoring", unit="granule-year",
               disable=not progress or mine == 0)

    def one(chip_file: ChipFile) -> pd.DataFrame:
        frame = score_granule(model, chip_file, dev, batch_size, workers, views=views)
        bar.update()
        return frame

    try:
        table = gather_scores(one, files, comm, chips_dir)
    finally:
        bar.close()
    if table is None:
        return out_path
    write_scores(table, out_path)
    seconds = time.perf_counter() - start
    log.info("scored %d chips of %d granule-year(s) on %d rank(s) in %.1f s (%.0f chips/s); wrote %s", len(table),
             len(files), comm.size, seconds, len(table) / seconds, out_path)
    return out_path
