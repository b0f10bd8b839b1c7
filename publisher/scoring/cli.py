"""``devscore train`` and ``devscore score``: fit the scorer to a ranking, then score chip folders with it."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath, finite
from publisher.constants import BANDS, DEFAULT_BANDS, NATIVE_INPUT_SIZE

DEVICES = click.Choice(["auto", "cpu", "cuda"])


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--ranking", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), required=True,
              help="Ranking folder of `devscore rank` (clusters.parquet, targets.json).")
@click.option("--chips", "chips_dir", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), required=True,
              help="Chip folder the ranking was made from (checked by its fingerprint).")
@click.option("--out", type=NonEmptyPath(path_type=Path, file_okay=False), required=True,
              help="Folder for model.pt (the trained scorer), last.pt (resumable state), history.json/.png.")
@click.option("--loss", type=click.Choice(["seed", "rank"]), default="rank", show_default=True,
              help="seed: 2 L_reg + L_linear against the cluster targets; rank: siScore's soft-rank loss along the POG.")
@click.option("--input-size", type=click.IntRange(32, 1024), default=NATIVE_INPUT_SIZE, show_default=True,
              help="Input side in px (343 is the chip's native side; 64-96 trains much faster on a CPU).")
@click.option("--bands", type=click.Choice(BANDS), default=DEFAULT_BANDS, show_default=True,
              help="What the scorer sees: gray, the method's luma (colour changes with the season on real imagery, "
                   "which a colour scorer can take for development); rgb, the chip's colour channels. Saved in "
                   "the checkpoint; `devscore score` feeds the model what it was trained on.")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True, help="Most epochs (cosine decay over all of them).")
@click.option("--patience", type=click.IntRange(1), default=5, show_default=True,
              help="Stop after this many epochs without a better validation loss.")
@click.option("--batch-size", type=click.IntRange(2), default=32, show_default=True, help="Chips per batch (per level with --loss rank).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-4, show_default=True, callback=finite,
              help="Adam learning rate.")
@click.option("--steps-per-epoch", type=click.IntRange(1), default=None, help="Optimizer steps per epoch [default: one pass over the training chips].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, initialisation, sampling and augmentation.")
@click.option("--weights", type=NonEmptyPath(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Start from these ResNet-18 weights (torchvision state dict or devscore checkpoint), loaded strictly.")
@click.option("--device", type=DEVICES, default="auto", show_default=True, help="auto: CUDA when present, else CPU.")
@click.option("--resume", is_flag=True, help="Go on from OUT/last.pt after an interruption (same options required).")
def train(ranking: Path, chips_dir: Path, out: Path, loss: str, input_size: int, bands: str, epochs: int, patience: int,
          batch_size: int, lr: float, steps_per_epoch: int | None, seed: int, weights: Path | None, device: str,
          resume: bool) -> None:
    """Train the ResNet-18 scorer on the POG targets of a ranking folder.

    Batches are balanced over the POG's levels and over every cluster of a level (tie groups included);
    chips get random 90-degree rotations and flips; 20 % of the chips (seeded) validate, unaugmented.
    Adam with one cosine decay over the whole run, early stopping on the validation loss. The state is
    saved after every epoch, so an interrupted run goes on with --resume and ends where it would have.
    """
    from publisher.scoring.train import TrainConfig, train as run_training

    config = TrainConfig(loss=loss, input_size=input_size, bands=bands, batch_size=batch_size, lr=lr, max_epochs=epochs,
                         patience=patience, seed=seed, weights=str(weights) if weights else None,
                         steps_per_epoch=steps_per_epoch)
    result = run_training(ranking, chips_dir, out, config, device=device, resume=resume)
    last = result.history[-1]
    click.echo(f"Trained {result.epochs_run} epoch(s){' (stopped early)' if result.stopped_early else ''}; best "
               f"validation loss {result.best_val_loss:.4f} in epoch {result.best_epoch} (accuracy "
               f"{result.history[result.best_epoch - 1]['val_accuracy']:.2f}, last epoch {last['val_accuracy']:.2f}); "
               f"model {result.checkpoint}")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--checkpoint", type=NonEmptyPath(path_type=Path, dir_okay=False), required=True,
              help="model.pt written by `devscore train`.")
@click.option("--chips", "chips_dir", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), required=True,
              help="Chip folder of `devscore chips`.")
@click.option("--out", type=NonEmptyPath(path_type=Path, dir_okay=False), required=True,
              help="Chip-score table to write (.parquet or .csv), the input of `devscore publish`.")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True, help="Chips per batch.")
@click.option("--workers", type=click.IntRange(0), default=None, help="DataLoader worker processes [default: spare cores, up to 4].")
@click.option("--input-size", type=click.IntRange(32, 1024), default=None,
              help="Refuse the checkpoint unless it was trained at this input side.")
@click.option("--device", type=DEVICES, default="auto", show_default=True, help="auto: CUDA when present, else CPU.")
@click.option("--views", type=click.Choice(["1", "4", "8"]), default="1", show_default=True,
              help="Score each chip as the mean over this many of its rotations (4) and flips (8): test-time "
                   "augmentation, 4x or 8x the time (`devscore run` uses its profile's: cpu 4, gpu 8).")
def score(checkpoint: Path, chips_dir: Path, out: Path, batch_size: int, workers: int | None, input_size: int | None,
          device: str, views: str) -> None:
    """Score every usable chip of a chip folder; granule-years are spread over ranks under `mpiexec -n N`.

    Writes the table once, at the end, atomically: tile, datetime, row, col, score, scene_id. Chips
    flagged blank or cloud are left out (nodata in the published raster).
    """
    from publisher.mpi import world
    from publisher.scoring.infer import score_chips

    comm = world()
    path = score_chips(checkpoint, chips_dir, out, comm=comm, device=device, batch_size=batch_size,
                       workers=workers, input_size=input_size, views=int(views))
    if comm.is_root:
        click.echo(f"Wrote {path}")
