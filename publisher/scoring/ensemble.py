"""The scorer ensemble: how sure each chip's score is.

The main model (`devscore train`) is the first member. Every further member starts from its weights and
trains a few steps on its own bootstrap resample of the ranking's POGs (``pogs.txt`` drawn with
replacement, aggregated again with the ranking's weighting and levels) with its own seed (its own
validation split, batches and augmentation). Each chip gets the members' mean and their spread: the
standard deviation over members of the chip's percentile rank within its granule-year (a share of the
granule-year's chips, 0 to 1), the ``uncertainty`` column of the chip-score table. The spread is taken on
ranks, not scores, because the scores are a ranking squeezed by a sigmoid: on the demo region the score
spread is largest where chips are far apart (towns) and so runs against the rank error (Spearman -0.25),
while the rank spread follows it (+0.26 with 3 members). Extra members cost a fraction of one training
(docs/economist.md has the measurement behind the size).

Layout: ``OUT/ensemble/member-<k>/ranking/`` (the resampled targets; the clusters file linked) and
``OUT/ensemble/member-<k>/model/`` (a `devscore train` folder: resumable, ``run-key.txt``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from publisher.atomic import atomic_write_text
from publisher.errors import DevscoreError
from publisher.mpi import Communicator, world
from publisher.runstate import file_sha256, stage_key
from publisher.scores import UNCERTAINTY_COLUMN

log = logging.getLogger(__name__)

ENSEMBLE_DIR = "ensemble"
#: Share of the chips a member holds out for its one validation pass: small, because a member's weights are
#: not chosen by validation (it trains one short epoch) and the pass would cost more than its training steps.
MEMBER_VALIDATION = 0.02
#: Dihedral views the further members score each chip from (the main model takes the run's ``views``): their
#: part is the spread, and test-time augmentation on every member would multiply the scoring time by the
#: members.
MEMBER_VIEWS = 1
#: What the published score is: the main model's score or the members' mean (see :class:`EnsembleConfig`).
SCORE_FROM = ("main", "mean")


class EnsembleError(DevscoreError):
    """An ensemble that cannot be built or scored."""


@dataclass(frozen=True)
class EnsembleConfig:
    """Members (the main model included; 1 turns the ensemble off), training steps of each extra member,
    and which score is published. Defaults: publisher.profiles.ENSEMBLE (measured)."""

    members: int = 1
    steps: int = 10
    score_from: str = "main"

    def __post_init__(self) -> None:
        if self.members < 1 or self.steps < 1:
            raise EnsembleError("an ensemble needs at least 1 member and 1 training step per member")
        if self.score_from not in SCORE_FROM:
            raise EnsembleError(f"score from {self.score_from!r}: choose one of {', '.join(SCORE_FROM)}")


def bootstrap_ranking(ranking_dir: str | Path, out_dir: str | Path, seed: int) -> Path:
    """A ranking folder whose targets come from a bootstrap resample of ``ranking_dir``'s POGs (same
    clusters, same aggregation settings). A ranking with one POG (a person's) keeps its targets."""
    from publisher.ranking.aggregate import aggregate
    from publisher.ranking.pog import POG

    ranking_dir, out_dir = Path(ranking_dir), Path(out_dir)
    meta = json.loads((ranking_dir / "targets.json").read_text())
    n_clusters = len(meta["targets"])
    pogs_file = ranking_dir / "pogs.txt"
    pogs = [POG.parse(line, n_clusters) for line in pogs_file.read_text().splitlines() if line.strip()] \
        if pogs_file.exists() else []
    out_dir.mkdir(parents=True, exist_ok=True)
    document = dict(meta)
    if len(pogs) > 1:
        try:
            aggregation = json.loads((ranking_dir / "provenance.json").read_text()).get("aggregation", {})
        except (OSError, ValueError):
            aggregation = {}
        levels = int(aggregation.get("levels", len(meta["levels"])))
        kwargs = {"weighting": aggregation["weighting"]} if aggregation.get("weighting") else {}
        rng = np.random.default_rng(seed)
        drawn = [pogs[i] for i in rng.integers(0, len(pogs), len(pogs))]
        result = aggregate(drawn, n_clusters, levels=levels, **kwargs)
        level_of = np.asarray(result.level_of)
        n_levels = int(level_of.max()) + 1
        if n_levels >= 2:  # a resample that ties every cluster cannot supervise; keep the ranking's targets
            document.update(pog=result.pog.to_string(),
                            levels=[[int(c) for c in np.flatnonzero(level_of == i)] for i in range(n_levels)],
                            targets={str(c): float(t) for c, t in enumerate(np.asarray(result.targets))},
                            bootstrap_seed=seed)
    atomic_write_text(out_dir / "targets.json", json.dumps(document, indent=1) + "\n")
    clusters = out_dir / "clusters.parquet"
    clusters.unlink(missing_ok=True)
    try:
        os.link(ranking_dir / "clusters.parquet", clusters)
    except OSError:  # another file system
        shutil.copyfile(ranking_dir / "clusters.parquet", clusters)
    if (ranking_dir / "provenance.json").exists():
        shutil.copyfile(ranking_dir / "provenance.json", out_dir / "provenance.json")
    return out_dir


def member_key(ranking_dir: Path, main_checkpoint: Path, train_options: dict, steps: int, k: int) -> str:
    """What member ``k`` depends on: the ranking's POGs and targets, the main model, training, its seed."""
    pogs = ranking_dir / "pogs.txt"
    return stage_key("member", k, steps, file_sha256(ranking_dir / "targets.json"),
                     file_sha256(pogs) if pogs.exists() else None, file_sha256(main_checkpoint), train_options)


def train_members(ranking_dir: str | Path, chips_dir: str | Path, main_checkpoint: str | Path, out: str | Path,
                  config: EnsembleConfig, train_options: dict, device: str = "auto",
                  progress: bool = True) -> list[Path]:
    """Train the extra members into ``out/member-<k>/`` (k = 1 .. members - 1) and return every member's
    checkpoint, the main model's first. Members train with the main model's own settings (its checkpoint's
    ``config``; ``train_options`` where it has none). A member already trained with the same inputs is
    kept; one interrupted resumes from its last epoch."""
    from publisher.scoring.model import read_checkpoint
    from publisher.scoring.train import MODEL_FILE, STATE_FILE, TrainConfig, train

    ranking_dir, out, main_checkpoint = Path(ranking_dir), Path(out), Path(main_checkpoint)
    fields = set(TrainConfig.__dataclass_fields__)
    saved = read_checkpoint(main_checkpoint).get("config") or {}
    base = TrainConfig(**{k: v for k, v in (saved or train_options).items() if k in fields})
    main_steps = base.max_epochs * base.steps_per_epoch if base.steps_per_epoch else config.steps
    steps = min(config.steps, main_steps)  # a member never trains longer than the model it starts from
    checkpoints = [main_checkpoint]
    for k in range(1, config.members):
        folder = out / f"member-{k}"
        model_dir = folder / "model"
        member = replace(base, weights=str(main_checkpoint.resolve()), seed=base.seed + k, max_epochs=1,
                         steps_per_epoch=steps, val_fraction=MEMBER_VALIDATION)
        key = member_key(ranking_dir, main_checkpoint, {**asdict(member), "weights": None}, steps, k)
        started = model_dir / "run-key.txt"
        same = started.exists() and started.read_text() == key
        if same and (model_dir / MODEL_FILE).exists():
            checkpoints.append(model_dir / MODEL_FILE)
            continue
        resume = same and (model_dir / STATE_FILE).exists()
        if not resume:
            shutil.rmtree(folder, ignore_errors=True)
            model_dir.mkdir(parents=True)
            atomic_write_text(started, key)
        member_ranking = bootstrap_ranking(ranking_dir, folder / "ranking", seed=base.seed + k)
        log.info("ensemble member %d of %d: %d steps from the main model on a bootstrap resample of the POGs",
                 k + 1, config.members, steps)
        result = train(member_ranking, chips_dir, model_dir, member, progress=progress, device=device, resume=resume,
                       plot=False)
        checkpoints.append(result.checkpoint)
    return checkpoints


def combine(frames: list[pd.DataFrame], score_from: str) -> pd.DataFrame:
    """One granule-year's rows scored by every member (the main model first): ``score`` (the main model's or
    the members' mean) and ``uncertainty`` (the standard deviation over members of each chip's percentile
    rank among the granule-year's chips; NaN with one member)."""
    table = frames[0].copy()
    if not len(table):
        return table.assign(**{UNCERTAINTY_COLUMN: np.float32(np.nan)})
    scores = np.stack([f["score"].to_numpy(np.float64) for f in frames])
    if score_from == "mean":
        table["score"] = scores.mean(axis=0).astype(np.float32)
    ranks = np.stack([pd.Series(s).rank(method="average", pct=True).to_numpy() for s in scores])
    table[UNCERTAINTY_COLUMN] = (ranks.std(axis=0, ddof=1) if len(frames) > 1
                                 else np.full(scores.shape[1], np.nan)).astype(np.float32)
    return table


def score_ensemble(checkpoints: list[Path], chips_dir: str | Path, out_path: str | Path, score_from: str = "main",
                   comm: Communicator | None = None, device: str = "auto", progress: bool = True,
                   views: int = 1) -> Path:
    """Score every usable chip of ``chips_dir`` with every member (the main model from ``views`` dihedral
    views, the others from MEMBER_VIEWS); rank 0 writes ``out_path`` (the chip-score table of
    :func:`publisher.scoring.infer.score_chips` plus ``uncertainty``) atomically."""
    from publisher.imagery.chipfiles import list_chip_files
    from publisher.progress import tqdm
    from publisher.scoring.infer import gather_scores, ready, score_granule, write_scores
    from publisher.scoring.model import load_scorer, pick_device

    comm = comm or world()
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".parquet":
        raise EnsembleError(f"{out_path.name}: the ensemble's chip-score table is a .parquet file")
    dev = pick_device(device)
    models = [ready(load_scorer(checkpoint)[0], dev) for checkpoint in checkpoints]
    files = list_chip_files(chips_dir)
    mine = len(files[comm.rank :: comm.size])
    bar = tqdm(total=mine * len(models), desc="scoring the ensemble", unit="member x granule-year",
               disable=not progress or mine == 0)

    def one(chip_file) -> pd.DataFrame:
        frames = []
        for k, model in enumerate(models):
            frames.append(score_granule(model, chip_file, dev, views=views if k == 0 else MEMBER_VIEWS))
            bar.update()
        return combine(frames, score_from)

    try:
        table = gather_scores(one, files, comm, chips_dir)
    finally:
        bar.close()
    if table is None:
        return out_path
    write_scores(table, out_path)
    log.info("scored %d chips with %d member(s); wrote %s", len(table), len(models), out_path)
    return out_path


def plan_ensemble(plan, ensemble: dict) -> None:
    """Add the ensemble to a `devscore run` plan (publisher.plan.Plan): a note on its size and an estimate
    scaled from the plan's training estimate (per step) and scoring estimate (per member)."""
    from publisher.plan import Estimate

    config = EnsembleConfig(**{k: v for k, v in ensemble.items() if k != "views"})
    plan.notes.append(f"Ensemble: {config.members} scorers (the trained model and {config.members - 1} more, "
                      f"{config.steps} steps each from it on bootstrap resamples of the POGs); published score: "
                      f"{'the members mean' if config.score_from == 'mean' else 'the trained model'}, "
                      "spread: the uncertainty asset")
    train, score = plan.estimates.get("train"), plan.estimates.get("score")
    if train is None or score is None:
        return
    value = {name: s.value for name, s in plan.settings.items()}
    steps = value["max_epochs"] * (value.get("steps_per_epoch") or 1)
    plan.estimates["ensemble"] = Estimate(train.seconds * (config.members - 1) * min(1.0, config.steps / steps),
                                          train.peak_mb)
    views = ensemble.get("views", 1)  # the main model's views (the plan's score estimate counts them already)
    score.seconds *= 1 + (config.members - 1) * MEMBER_VIEWS / views


def ensemble_properties(ensemble: dict) -> dict:
    """``devscore:ensemble`` of a score item with an ``uncertainty`` asset: the members, their training, and
    which score is published (the main model's or the members' mean)."""
    config = EnsembleConfig(**ensemble)
    return {"members": config.members, "member_steps": config.steps, "resampled": "POGs (bootstrap)",
            "score": "members' mean" if config.score_from == "mean" else "main model",
            "uncertainty": "standard deviation over the members of the chip's percentile rank in its granule-year"}
