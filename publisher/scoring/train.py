"""Train the scorer on a ranking folder: balanced batches over the POG's levels, the seed or rank loss,
Adam with one cosine decay over the whole run, early stopping on the validation loss, and a resumable
state written atomically after every epoch."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from publisher.progress import tqdm

from publisher import __version__
from publisher.atomic import atomic_path, atomic_write_text
from publisher.errors import DevscoreError, Interrupted
from publisher.constants import BANDS, DEFAULT_BANDS, GRAY_CACHE_MB
from publisher.scoring.data import BalancedSampler, ChipData, augment, load_ranking, load_training_chips, split_by_chip
from publisher.scoring.losses import rank_loss, seed_loss
from publisher.scoring.model import NATIVE_INPUT_SIZE, Scorer, load_weights, normalise, pick_device, save_checkpoint

log = logging.getLogger(__name__)

LOSSES = ("seed", "rank")
#: |s - t| below this counts as a hit in the reported accuracy.
ACCURACY_TOLERANCE = 0.07
#: Chips per validation batch (no gradients: larger batches than training's are cheap).
VALIDATION_BATCH = 128
#: The final model and the resumable training state in the output folder.
MODEL_FILE, STATE_FILE, HISTORY_FILE, PLOT_FILE = "model.pt", "last.pt", "history.json", "history.png"


class TrainingError(DevscoreError):
    """Training cannot start or go on."""


class TrainingInterrupted(TrainingError, Interrupted):
    """Ctrl-C during training: the last finished epoch is saved in last.pt."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; a resumed run must have the same."""

    loss: str = "rank"
    input_size: int = NATIVE_INPUT_SIZE
    batch_size: int = 32
    lr: float = 1e-4
    max_epochs: int = 30
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    weights: str | None = None
    #: Optimizer steps per epoch; None covers the training chips once per epoch.
    steps_per_epoch: int | None = None
    #: Gradient accumulation: each step's batch runs as this many micro-batches (to fit a memory budget),
    #: their gradients summed before the optimizer steps.
    accumulate: int = 1
    #: What the scorer sees of a chip (publisher.constants.BANDS): the method's grayscale, or RGB.
    bands: str = DEFAULT_BANDS

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise TrainingError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.bands not in BANDS:
            raise TrainingError(f"unknown bands {self.bands!r}; choose one of {', '.join(BANDS)}")
        steps_ok = self.steps_per_epoch is None or self.steps_per_epoch >= 1
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainingError(f"learning rate {self.lr} must be a finite number above 0")
        if not steps_ok or self.batch_size < 2 or self.max_epochs < 1 or self.patience < 1 or not 0 < self.val_fraction < 1:
            raise TrainingError("batch size >= 2, epochs, steps per epoch and patience >= 1, and 0 < validation fraction < 1 "
                                "required")
        if self.accumulate < 1 or self.batch_size // self.accumulate < 2:
            raise TrainingError(f"gradient accumulation over {self.accumulate} micro-batches needs a batch of at least "
                                f"{2 * max(1, self.accumulate)} (2 chips a micro-batch); the batch is {self.batch_size}")


@dataclass
class TrainResult:
    """Where the trained model is and how training went."""

    checkpoint: Path
    history: list[dict[str, float]]
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool


@dataclass
class _State:
    """What carries from one epoch to the next (saved in last.pt)."""

    epoch: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_model: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def train(ranking_dir: str | Path, chips_dir: str | Path, out_dir: str | Path, config: TrainConfig = TrainConfig(),
          progress: bool = True, device: str = "auto", resume: bool = False,
          on_epoch_end: Callable[[int], None] | None = None, plot: bool = True,
          cache_mb: float = GRAY_CACHE_MB) -> TrainResult:
    """Train a scorer on ``ranking_dir``'s targets for the chips of ``chips_dir``; write ``out_dir/model.pt``.

    ``on_epoch_end(epoch)`` runs after each epoch's state is saved (a hook to interrupt a run in tests);
    ``plot`` writes ``history.png`` (the losses and accuracies per epoch); ``cache_mb`` bounds the chips kept
    converted between batches (the rest are read from the chip files per batch).
    """
    out_dir = Path(out_dir)
    ranking = load_ranking(ranking_dir)
    chips = load_training_chips(ranking, chips_dir, config.input_size, cache_mb, config.bands)
    train_idx, val_idx = split_by_chip(chips.level, config.val_fraction, config.seed)
    n_levels = len(ranking.levels)
    train_sampler = BalancedSampler(chips, train_idx, n_levels)
    val_sampler = BalancedSampler(chips, val_idx, n_levels)
    per_step = config.batch_size * (n_levels if config.loss == "rank" else 1)
    steps = config.steps_per_epoch or max(1, math.ceil(len(train_idx) / per_step))
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    model = Scorer(config.input_size, config.bands)
    if config.weights:
        load_weights(model, config.weights)
    model.to(dev)
    if dev.type == "cuda":  # the GPU profile: channels-last tensors and mixed precision (see _train_epoch)
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs * steps)
    generator = torch.Generator().manual_seed(config.seed)
    state = _State()
    meta = {"config": _config_record(config), "pog": ranking.pog, "levels": ranking.levels,
            "targets": {str(k): v for k, v in ranking.targets.items()}, "chips_fingerprint": ranking.chips_fingerprint}
    state_path = out_dir / STATE_FILE
    if resume:
        state = _restore(state_path, meta, model, optimizer, scheduler, generator)
        log.info("resuming after epoch %d of %d", state.epoch, config.max_epochs)
    elif state_path.exists() or (out_dir / MODEL_FILE).exists():
        raise TrainingError(f"{out_dir} already holds a training; pass --resume to go on, or choose another --out")
    log.info("training on %d chips (%d validation), %d clusters on %d levels, %d steps of %d chips per epoch, %s loss, "
             "%d px %s, %s", len(train_idx), len(val_idx), len(ranking.targets), n_levels, steps, per_step, config.loss,
             config.input_size, config.bands, dev)
    bar = tqdm(total=config.max_epochs * steps, initial=state.epoch * steps, disable=not progress, unit="step",
               desc="training")
    stopped_early = state.bad_epochs >= config.patience
    try:
        while state.epoch < config.max_epochs and not stopped_early:
            epoch = state.epoch + 1
            bar.set_description(f"epoch {epoch}/{config.max_epochs}")
            started = time.perf_counter()
            metrics = _train_epoch(model, chips, train_sampler, optimizer, scheduler, generator, config, steps, dev, bar)
            metrics.update(_validate(model, chips, val_idx, val_sampler, config, dev))
            metrics.update(epoch=epoch, lr=scheduler.get_last_lr()[0], seconds=time.perf_counter() - started)
            state.history.append(metrics)
            state.epoch = epoch
            if metrics["val_loss"] < state.best_val_loss:
                state.best_val_loss, state.best_epoch, state.bad_epochs = metrics["val_loss"], epoch, 0
                state.best_model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                state.bad_epochs += 1
            stopped_early = state.bad_epochs >= config.patience
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", acc=f"{metrics['accuracy']:.2f}",
                            val_loss=f"{metrics['val_loss']:.4f}", val_acc=f"{metrics['val_accuracy']:.2f}")
            log.info("epoch %d: loss %.4f acc %.3f | validation loss %.4f acc %.3f%s", epoch, metrics["loss"],
                     metrics["accuracy"], metrics["val_loss"], metrics["val_accuracy"],
                     " (best)" if state.best_epoch == epoch else "")
            _save_state(state_path, meta, state, model, optimizer, scheduler, generator)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"training interrupted in epoch {state.epoch + 1}; {state_path} holds epoch "
                                  f"{state.epoch}") from None
    finally:
        bar.close()
    if stopped_early:
        log.info("stopped early after epoch %d: no better validation loss for %d epochs", state.epoch, config.patience)
    best = Scorer(config.input_size, config.bands)
    best.load_state_dict(state.best_model, strict=True)
    checkpoint = save_checkpoint(out_dir / MODEL_FILE, best, {
        **meta, "history": state.history, "best_val_loss": state.best_val_loss, "best_epoch": state.best_epoch,
        "epochs_run": state.epoch, "ranker": _ranker(ranking_dir),
        "granules": sorted({f"{t}-{y}" for t, y in zip(chips.keys["tile"], chips.keys["year"])}),
        "chips": {"train": len(train_idx), "validation": len(val_idx)}, "software_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    })
    atomic_write_text(out_dir / HISTORY_FILE, json.dumps(state.history, indent=1))
    if plot:
        _plot(state.history, out_dir / PLOT_FILE)
    log.info("wrote %s (best validation loss %.4f in epoch %d)", checkpoint, state.best_val_loss, state.best_epoch)
    return TrainResult(checkpoint, state.history, state.best_val_loss, state.best_epoch, state.epoch, stopped_early)


def _config_record(config: TrainConfig) -> dict[str, Any]:
    """The config as last.pt records it; without accumulation and in grayscale it is recorded as before those
    options existed, so a training state saved then still resumes."""
    record = asdict(config)
    if record["accumulate"] == 1:
        del record["accumulate"]
    if record["bands"] == DEFAULT_BANDS:
        del record["bands"]
    return record


def _batch(chips: ChipData, idx: np.ndarray, dev: torch.device, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    chip_input = chips.images(idx.reshape(-1))
    if generator is not None:
        chip_input = augment(chip_input, generator)
    images = normalise(chip_input.to(dev, non_blocking=dev.type == "cuda"))
    if dev.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    return images, torch.from_numpy(chips.target[idx.reshape(-1)]).to(dev)


def _train_epoch(model: Scorer, chips: ChipData, sampler: BalancedSampler, optimizer: torch.optim.Optimizer,
                 scheduler: Any, generator: torch.Generator, config: TrainConfig, steps: int, dev: torch.device,
                 bar: tqdm) -> dict[str, float]:
    model.train()
    losses, hits, seen = [], 0, 0
    cuda = dev.type == "cuda"  # CUDA mixed precision: float16 forward, loss scaled against underflow
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    for _ in range(steps):
        if config.loss == "seed":
            batch = sampler.mixed_batch(config.batch_size, generator)
        else:
            batch = sampler.path_batch(config.batch_size, generator)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for idx in micro_batches(batch, config.accumulate):
            share = idx.shape[-1] / batch.shape[-1]  # each micro-batch's loss weighs as its share of the batch
            with torch.autocast(dev.type, dtype=torch.float16, enabled=cuda):
                images, targets = _batch(chips, idx, dev, generator)
                if config.loss == "seed":
                    loss, scores = seed_loss(model, images, targets, generator)
                else:
                    scores = model(images)
                    loss = rank_loss(scores.float().view(idx.shape))
            scaler.scale(loss.float() * share).backward()
            step_loss += loss.item() * share
            hits += int(((scores.detach() - targets).abs() < ACCURACY_TOLERANCE).sum())
            seen += len(targets)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(step_loss)
        bar.update()
        bar.set_postfix(loss=f"{losses[-1]:.4f}", acc=f"{hits / seen:.2f}")
    return {"loss": float(np.mean(losses)), "accuracy": hits / seen}


def micro_batches(batch: np.ndarray, parts: int) -> list[np.ndarray]:
    """``batch`` (chips, or levels x chips for the rank loss) split along its last axis into ``parts``
    near-equal micro-batches. The rank loss's soft ranks are per column, so they come out exact; its
    within-level variance and BatchNorm's statistics are then taken per micro-batch."""
    return [part for part in np.array_split(batch, parts, axis=-1) if part.shape[-1]]


@torch.no_grad()
def _validate(model: Scorer, chips: ChipData, val_idx: np.ndarray, sampler: BalancedSampler, config: TrainConfig,
              dev: torch.device) -> dict[str, float]:
    """Validation sees the chips as they are (no augmentation); its batches and mixing come from a fixed seed,
    so every epoch is measured on the same thing."""
    model.eval()
    generator = torch.Generator().manual_seed(config.seed + 1)
    batch = max(config.batch_size, VALIDATION_BATCH)
    scores, targets = [], []
    for start in range(0, len(val_idx), batch):
        images, t = _batch(chips, val_idx[start:start + batch], dev, None)
        scores.append(model(images))
        targets.append(t)
    s, t = torch.cat(scores), torch.cat(targets)
    losses = []
    if config.loss == "seed":
        for start in range(0, len(val_idx), batch):
            images, tb = _batch(chips, val_idx[start:start + batch], dev, None)
            if len(tb) > 1:
                losses.append(float(seed_loss(model, images, tb, generator)[0]) * len(tb))
        val_loss = sum(losses) / len(val_idx)
    else:
        n_levels = sampler.n_levels
        for _ in range(max(1, math.ceil(len(val_idx) / (config.batch_size * n_levels)))):
            idx = sampler.path_batch(config.batch_size, generator)
            images, _ = _batch(chips, idx, dev, None)
            losses.append(float(rank_loss(model(images).view(idx.shape))))
        val_loss = float(np.mean(losses))
    return {"val_loss": val_loss, "val_mse": float(((s - t) ** 2).mean()),
            "val_accuracy": float(((s - t).abs() < ACCURACY_TOLERANCE).float().mean())}


def _save_state(path: Path, meta: dict, state: _State, model: Scorer, optimizer: torch.optim.Optimizer,
                scheduler: Any, generator: torch.Generator) -> None:
    payload = {**meta, "state": {k: v for k, v in state.__dict__.items()},
               "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "generator": generator.get_state()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _restore(path: Path, meta: dict, model: Scorer, optimizer: torch.optim.Optimizer, scheduler: Any,
             generator: torch.Generator) -> _State:
    if not path.exists():
        raise TrainingError(f"nothing to resume: {path} does not exist")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        differs = [k for k in ("config", "pog", "levels", "targets", "chips_fingerprint") if saved[k] != meta[k]]
    except Exception as exc:  # a corrupt state file, whatever torch's unpickler raised
        raise TrainingError(f"{path} cannot be resumed from ({type(exc).__name__}: {str(exc)[:100]})") from None
    if differs:
        detail = [f"{k}: {saved['config'].get(k)} then, {meta['config'].get(k)} now"
                  for k in {**saved["config"], **meta["config"]}
                  if saved["config"].get(k) != meta["config"].get(k)] if "config" in differs else differs
        raise TrainingError(f"{path} was trained with other settings or data ({'; '.join(map(str, detail))})")
    model.load_state_dict(saved["model"], strict=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    generator.set_state(saved["generator"])
    return _State(**saved["state"])


def _ranker(ranking_dir: str | Path) -> str | None:
    """The ranker named in the ranking folder's provenance.json, when there is one."""
    try:
        return json.loads((Path(ranking_dir) / "provenance.json").read_text()).get("ranker")
    except (OSError, ValueError):
        return None


def _plot(history: list[dict[str, float]], path: Path) -> None:
    """Training and validation loss and accuracy per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [h["loss"] for h in history], label="training")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.plot(epochs, [h["accuracy"] for h in history], label="training")
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], label="validation")
    ax_acc.set(xlabel="epoch", ylabel=f"share |s - t| < {ACCURACY_TOLERANCE}", title="Accuracy", ylim=(0, 1))
    ax_loss.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
