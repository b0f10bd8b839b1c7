"""What `devscore run` will do before it does it: granule-years, scenes, stages, device, settings with
their sources, and estimates of time and peak memory for training and scoring from a few timed warm-up
steps on this machine (seconds). Writes nothing."""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.constants import CONVERT_PIXELS, DEFAULT_BANDS, GRAY_CACHE_MB
from publisher.profiles import Setting

#: Timed warm-up steps (after one untimed). A warm-up batch holds at most WARMUP_PIXELS input pixels (the
#: whole batch at small input sides; at 343 px about 17 chips, the full batch's time scaled from it).
WARMUP_STEPS = 3
WARMUP_PIXELS = 2_000_000
SCORE_BATCH = 256  # `devscore score`'s batch: the timed inference batch where WARMUP_PIXELS allow
#: POG levels the heuristic ranker makes (`devscore rank --levels`), for the rank loss's batch.
PLAN_LEVELS = 7
VALIDATION_FRACTION = 0.2


@dataclass
class Estimate:
    """Seconds and peak resident memory (MB) a stage is expected to take."""

    seconds: float
    peak_mb: float
    fixed_s: float = 0.0  # the part of ``seconds`` that does not grow with the epochs (model set-up, final save)


@dataclass
class Plan:
    """The plan's facts and its estimates (``train``/``score`` in ``estimates``)."""

    jobs: list[tuple[str, int]]
    scenes: dict[tuple[str, int], int | None]
    stages: list[tuple[str, str]]
    device: str
    profile: str
    settings: dict[str, Setting]
    estimates: dict[str, Estimate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The plan as printed."""
        out = [f"Plan: {len(self.jobs)} granule-year(s), profile {self.profile}, device {self.device}"]
        for (tile, year) in self.jobs:
            found = self.scenes.get((tile, year))
            out.append(f"  {tile}-{year}: {'scenes not searched' if found is None else f'{found} scene(s) found'}")
        out.append("Stages:")
        out += [f"  {name:<10} {what}" for name, what in self.stages]
        out.append("Training settings (value, from):")
        out += [f"  {name:<16} {s.value!s:<10} {s.source}" for name, s in sorted(self.settings.items())]
        for name, e in self.estimates.items():
            out.append(f"Estimate {name}: {e.seconds:.0f} s, peak about {e.peak_mb:.0f} MB")
        out += self.notes
        return out


def peak_rss_mb() -> float:
    """The process's peak resident memory so far: Linux's VmHWM (getrusage's ru_maxrss carries a forking
    parent's peak across exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The process's resident memory now."""
    import psutil

    return psutil.Process().memory_info().rss / 2 ** 20


@dataclass
class StepMemory:
    """A training step's memory: the process before training, plus per chip of the step, plus the data."""

    base_mb: float
    per_chip_mb: float
    data_mb: float

    def peak_mb(self, chips_per_step: int) -> float:
        return self.base_mb + self.per_chip_mb * chips_per_step + self.data_mb


def time_training_step(input_size: int, chips_per_step: int, loss: str, device: str, levels: int = PLAN_LEVELS
                       ) -> tuple[float, float, float, float, float]:
    """Seconds of one optimizer step of ``chips_per_step`` chips (scaled from a small timed batch), the resident
    memory before the warm-up and the memory the warm-up added per chip of its batch (MB), the seconds to
    build the model and to serialise the training state (training saves it after every epoch)."""
    import io

    import torch

    from publisher.scoring.losses import rank_loss, seed_loss
    from publisher.scoring.model import Scorer, pick_device

    dev = pick_device(device)
    before = rss_mb()
    start = time.perf_counter()
    model = Scorer(input_size).to(dev)
    build_s = time.perf_counter() - start
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    fits = max(2, min(chips_per_step, WARMUP_PIXELS // input_size ** 2))
    per_level = max(2, fits // levels) if loss == "rank" else None
    n = per_level * levels if per_level else fits
    images = torch.randn(n, 3, input_size, input_size, device=dev)
    targets = torch.rand(n, device=dev)
    seconds = []
    for step in range(WARMUP_STEPS + 1):
        start = time.perf_counter()
        if per_level:
            value = rank_loss(model(images).view(levels, per_level))
        else:
            value, _ = seed_loss(model, images, targets, generator)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if step:
            seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, io.BytesIO())
    save_s = time.perf_counter() - start
    # the weights, their gradients and Adam's two moments do not grow with the batch: the base holds them
    fixed = 4 * sum(p.numel() * p.element_size() for p in model.parameters()) / 2 ** 20 if dev.type == "cpu" else 0.0
    per_chip = max(0.0, peak_rss_mb() - before - fixed) / n if dev.type == "cpu" else 0.0  # GPU memory is the card's
    return sum(seconds) / len(seconds) * chips_per_step / n, before + fixed, per_chip, build_s, save_s


def time_conversion(source_chip_px: int, input_size: int) -> float:
    """Seconds to read-convert one chip of ``source_chip_px`` px to grayscale at ``input_size`` (training does it
    once per chip it keeps in its cache, and per batch for chips beyond it)."""
    import numpy as np
    import torch

    from publisher.scoring.model import to_gray

    from publisher.scoring.chipsource import convert_chunk

    chunk = convert_chunk(source_chip_px)
    n = max(4 * chunk, min(32, WARMUP_PIXELS // source_chip_px ** 2))
    rgb = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, source_chip_px, source_chip_px, 3), np.uint8))
    to_gray(rgb[:chunk], input_size)
    start = time.perf_counter()
    for first in range(0, n, chunk):
        to_gray(rgb[first:first + chunk], input_size)
    return (time.perf_counter() - start) / n


def time_scoring(input_size: int, device: str) -> float:
    """Seconds to score one chip (a timed inference batch of scoring's size where it fits)."""
    import torch

    from publisher.scoring.model import Scorer, pick_device

    dev = pick_device(device)
    model = Scorer(input_size).to(dev).eval()
    n = max(4, min(SCORE_BATCH, WARMUP_PIXELS // input_size ** 2))
    images = torch.randn(n, 3, input_size, input_size, device=dev)
    with torch.inference_mode():
        model(images)
        start = time.perf_counter()
        model(images)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(images)


def chips_per_step(batch_size: int, loss: str) -> int:
    """Chips one optimizer step holds: the batch per POG level with the rank loss."""
    return batch_size * (PLAN_LEVELS if loss == "rank" else 1)


def estimate(settings: dict[str, Setting], n_chips: int, source_chip_px: int, device: str
             ) -> tuple[dict[str, Estimate], StepMemory]:
    """Training and scoring estimates for ``n_chips`` chips of ``source_chip_px`` px, and the training step's
    memory model (to fit the batch to a memory budget)."""
    value = {name: s.value for name, s in settings.items()}
    size, batch, loss = value["input_size"], value["batch_size"], value["loss"]
    per_step = chips_per_step(batch, loss)
    step_s, base_mb, per_chip_mb, build_s, save_s = time_training_step(size, per_step, loss, device)
    chip_s = time_scoring(size, device)
    convert_s = time_conversion(source_chip_px, size)
    from publisher.scoring.model import input_shape

    chip_bytes = math.prod(input_shape(size, value.get("bands", DEFAULT_BANDS)))  # one converted chip, uint8
    cached = min(n_chips, int(GRAY_CACHE_MB * 2 ** 20 // chip_bytes))  # converted once, then kept
    n_train = max(1, int(n_chips * (1 - VALIDATION_FRACTION)))
    steps = value.get("steps_per_epoch") or max(1, math.ceil(n_train / per_step))
    epochs = value["max_epochs"]
    # validation scores its chips once, then runs the loss: whole steps (rank) or each chip twice more (seed)
    n_val = max(1, int(n_chips * VALIDATION_FRACTION))
    validation_s = chip_s * (n_val + (math.ceil(n_val / per_step) * per_step if loss == "rank" else 2 * n_val))
    # chips beyond the cache are read and converted again whenever a batch or the validation holds them
    uncached_share = 1 - cached / n_chips
    per_epoch_reads = steps * per_step + 3 * n_val
    per_epoch_s = steps * step_s + validation_s + uncached_share * per_epoch_reads * convert_s + save_s
    fixed_s = build_s * 2 + save_s + cached * convert_s  # model and best copy; model.pt; each chip converted once
    train_s = fixed_s + epochs * per_epoch_s
    cache_mb = cached * chip_bytes / 2 ** 20  # the converted training chips kept, uint8 at the input side
    chunk_mb = max(CONVERT_PIXELS, source_chip_px ** 2) * 3 * 5 / 2 ** 20  # a chunk's RGB chips, uint8 and float32
    memory = StepMemory(base_mb, per_chip_mb, cache_mb + chunk_mb)
    return ({"train": Estimate(train_s, memory.peak_mb(per_step), fixed_s),
             # inference keeps no activations for a backward pass: about a third of a training step's per chip
             "score": Estimate(build_s + n_chips * (chip_s + convert_s), base_mb + per_chip_mb * SCORE_BATCH / 3 + chunk_mb,
                               build_s)},
            memory)


def stage_lines(out: Path, given: dict[str, Any]) -> list[tuple[str, str]]:
    """Each stage: given by an option, recorded by an earlier run (skipped when its inputs are unchanged), or to run."""
    import json

    state_file = out / "run-state.json"
    try:
        recorded = json.loads(state_file.read_text()) if state_file.is_file() else {}
    except (OSError, ValueError):
        recorded = {}
    lines = []
    for name in ("chips", "rank", "train", "ensemble", "score", "publish", "validate"):
        if given.get(name):
            lines.append((name, f"given: {given[name]}"))
        elif name in recorded:
            lines.append((name, "done before: skipped if its inputs did not change"))
        else:
            lines.append((name, "will run"))
    return lines


def count_scenes(jobs: list[tuple[str, int]], search: dict[str, Any]
                 ) -> tuple[dict[tuple[str, int], int | None], int | None]:
    """Scenes below the cloud threshold per granule-year (a STAC search, no pixels read), and the grid side
    of the scenes (``proj:shape``) when they state it."""
    from publisher.imagery.acquire import search_scenes

    counts, grid = {}, None
    for tile, year in jobs:
        items = search_scenes(tile, year, **search)
        counts[(tile, year)] = len(items)
        for item in items:
            shapes = [item.properties.get("proj:shape")] + [a.extra_fields.get("proj:shape") for a in item.assets.values()]
            grid = grid or next((int(s[-1]) for s in shapes if s), None)
    return counts, grid
