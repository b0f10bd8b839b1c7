"""The publisher's stages joined: acquire and cut chips, rank clusters, train the scorer, score every chip.

:func:`run_stages` takes granule-years from a STAC API or a static catalog to a chip-score table and a
trained checkpoint in one output folder, skipping every stage whose inputs did not change since the
last run (``publisher/runstate.py``) and resuming an interrupted training. Under ``mpiexec -n N`` the
chips and the scoring are spread over the ranks; ranking and training run on rank 0 while the others
wait. Publishing the table into a catalog is the catalog's job (`devscore run` joins the two).

Layout of OUT: ``chips/`` (`devscore chips`), ``ranking/`` (`devscore rank`), ``model/`` (`devscore
train`), ``ensemble/`` (the further scorers of ``publisher/scoring/ensemble.py``), ``scores.parquet``
(`devscore score`, with each chip's ``uncertainty`` when the ensemble has two or more members),
``run-state.json``.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from publisher.errors import DevscoreError
from publisher.imagery.chipfiles import CHIP_FILE, chips_fingerprint
from publisher.imagery.cut import cut_chips
from publisher.mpi import Communicator
from publisher.atomic import atomic_write_text
from publisher.runstate import RunState, file_sha256, stage_key

log = logging.getLogger(__name__)

STAGES = ("chips", "rank", "train", "ensemble", "score")


@dataclass
class RunConfig:
    """Everything a run's outputs depend on."""

    tiles: list[str]
    years: list[int]
    out: Path
    search: dict[str, Any]
    ranker: str = "heuristic"
    rank_options: dict[str, Any] = field(default_factory=dict)
    reuse_ranking: Path | None = None
    checkpoint: Path | None = None
    train_options: dict[str, Any] = field(default_factory=dict)
    #: publisher.scoring.ensemble.EnsembleConfig's fields; members 1 (the default) scores with the model alone
    ensemble: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    progress: bool = True
    views: int = 1  # dihedral views each chip is scored from (the profile's; publisher.scoring.tta)

    def __post_init__(self) -> None:
        """Refuse bad training options now, not after the chips and the ranking are made."""
        from publisher.scoring.train import TrainConfig

        from publisher.scoring.ensemble import EnsembleConfig

        TrainConfig(**self.train_options)
        EnsembleConfig(**self.ensemble)


@dataclass
class StageRun:
    """How one stage went: ``ran``, ``skipped`` (inputs unchanged) or ``given`` (taken from an option)."""

    name: str
    status: str
    seconds: float
    detail: str = ""


@dataclass
class StagesResult:
    """The outputs of the publisher's stages, for publishing."""

    chips_dir: Path
    ranking_dir: Path
    checkpoint: Path
    scores: Path
    stages: list[StageRun]
    chips_fingerprint: str


def _timed(state: RunState, name: str, key: str, comm: Communicator, work: Callable[[], list[Path]],
           announce: Callable[[str], None]) -> StageRun:
    """Run ``work`` on every rank unless ``state`` says the stage is fresh; rank 0 records it."""
    fresh = comm.bcast(state.fresh(name, key) if comm.is_root else None)
    if fresh:
        announce(f"{name}: inputs unchanged since the last run, skipped")
        return StageRun(name, "skipped", 0.0)
    announce(f"{name}: running")
    start = time.perf_counter()
    outputs = work()
    seconds = time.perf_counter() - start
    if comm.is_root:
        state.record(name, key, seconds, outputs)
    return StageRun(name, "ran", seconds)


def _root_only(comm: Communicator, work: Callable[[], list[Path]]) -> Callable[[], list[Path]]:
    """``work`` on rank 0; the other ranks wait and share its success or its error."""

    def run() -> list[Path]:
        outputs, error, caught = [], None, None
        if comm.is_root:
            try:
                outputs = work()
            except DevscoreError as exc:
                error, caught = str(exc), exc
        comm.idle_barrier()  # the other ranks wait asleep, leaving the cores to rank 0
        error = comm.bcast(error)
        if caught is not None:  # rank 0 keeps the error's kind (an interruption says how to go on)
            raise caught
        if error:
            raise DevscoreError(error)
        return outputs

    return run


def run_stages(config: RunConfig, comm: Communicator, announce: Callable[[str], None] = log.info) -> StagesResult:
    """Chips, ranking, training and scoring of ``config``'s granule-years into ``config.out``."""
    from publisher.ranking.rank import rank_chips
    from publisher.scoring.infer import score_chips
    from publisher.scoring.train import MODEL_FILE, STATE_FILE, TrainConfig, train

    out = config.out.resolve()
    chips_dir, ranking_dir, model_dir, scores = out / "chips", out / "ranking", out / "model", out / "scores.parquet"
    state = RunState(out / "run-state.json")
    if comm.is_root:
        out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    stages = []

    jobs = [(tile, year) for tile in config.tiles for year in config.years]
    chips_key = stage_key("chips", sorted(jobs), {k: str(v) for k, v in config.search.items()})

    def do_chips() -> list[Path]:
        written = cut_chips(jobs, config.search, chips_dir, comm)
        for chips in written:
            announce(chips.line())
        if comm.is_root:  # chips of granule-years this run no longer asks for would leak into the ranking
            keep = {c.path.name for c in written}
            for stale in chips_dir.iterdir():
                if CHIP_FILE.match(stale.name) and stale.name not in keep:
                    stale.unlink()
        return [c.path for c in written]

    stages.append(_timed(state, "chips", chips_key, comm, do_chips, announce))
    fingerprint = comm.bcast(chips_fingerprint(chips_dir) if comm.is_root else None)

    if config.reuse_ranking is not None:
        ranking_dir = config.reuse_ranking.resolve()
        stages.append(StageRun("rank", "given", 0.0, str(ranking_dir)))
    else:
        rank_key = stage_key("rank", fingerprint, config.ranker, config.rank_options)

        def do_rank() -> list[Path]:
            rank_chips(chips_dir, ranking_dir, ranker=config.ranker, progress=config.progress, **config.rank_options)
            return [ranking_dir / name for name in ("clusters.parquet", "pog.txt", "targets.json")]

        stages.append(_timed(state, "rank", rank_key, comm, _root_only(comm, do_rank), announce))

    if config.checkpoint is not None:
        checkpoint = config.checkpoint.resolve()
        stages.append(StageRun("train", "given", 0.0, str(checkpoint)))
    else:
        train_config = TrainConfig(**config.train_options)
        train_key = comm.bcast(stage_key("train", fingerprint, file_sha256(ranking_dir / "targets.json"), train_config)
                               if comm.is_root else None)
        checkpoint = model_dir / MODEL_FILE

        def do_train() -> list[Path]:
            # the same training interrupted before resumes; another one starts afresh
            started = model_dir / "run-key.txt"
            resume = started.exists() and started.read_text() == train_key and (model_dir / STATE_FILE).exists()
            if not resume:
                shutil.rmtree(model_dir, ignore_errors=True)
                model_dir.mkdir(parents=True)
                atomic_write_text(started, train_key)
            train(ranking_dir, chips_dir, model_dir, train_config, progress=config.progress, device=config.device,
                  resume=resume)
            return [checkpoint]

        stages.append(_timed(state, "train", train_key, comm, _root_only(comm, do_train), announce))

    members, ensemble_run = _ensemble_stage(config, state, comm, ranking_dir, chips_dir, checkpoint, out, announce)
    if ensemble_run is not None:
        stages.append(ensemble_run)
    score_key = comm.bcast(stage_key("score", fingerprint, [file_sha256(m) for m in members], config.ensemble,
                                     config.views) if comm.is_root else None)

    def do_score() -> list[Path]:
        if len(members) > 1:
            from publisher.scoring.ensemble import EnsembleConfig, score_ensemble

            score_ensemble(members, chips_dir, scores, EnsembleConfig(**config.ensemble).score_from, comm=comm,
                           device=config.device, progress=config.progress, views=config.views)
        else:
            score_chips(checkpoint, chips_dir, scores, comm=comm, device=config.device, views=config.views)
        return [scores]

    stages.append(_timed(state, "score", score_key, comm, do_score, announce))
    return StagesResult(chips_dir, ranking_dir, checkpoint, scores, stages, fingerprint)


def _ensemble_stage(config: RunConfig, state: RunState, comm: Communicator, ranking_dir: Path, chips_dir: Path,
                    checkpoint: Path, out: Path, announce: Callable[[str], None]) -> tuple[list[Path], StageRun | None]:
    """The ensemble's further members (rank 0 trains them; resumable like training): every member's
    checkpoint, the main model's first, and how the stage went (None when the ensemble is off)."""
    from publisher.scoring.ensemble import ENSEMBLE_DIR, EnsembleConfig, train_members

    ensemble = EnsembleConfig(**config.ensemble)
    if ensemble.members < 2:
        return [checkpoint], None
    if not (ranking_dir / "targets.json").exists():
        announce("ensemble: no ranking folder to resample (scores without uncertainty)")
        return [checkpoint], StageRun("ensemble", "skipped", 0.0, "no ranking")
    key = comm.bcast(stage_key("ensemble", file_sha256(ranking_dir / "targets.json"), file_sha256(checkpoint),
                               config.train_options, config.ensemble) if comm.is_root else None)
    folder = out / ENSEMBLE_DIR
    members: list[Path] = []

    def do_members() -> list[Path]:
        members[:] = train_members(ranking_dir, chips_dir, checkpoint, folder, ensemble, config.train_options,
                                   device=config.device, progress=config.progress)
        return members[1:]

    run = _timed(state, "ensemble", key, comm, _root_only(comm, do_members), announce)
    run.detail = f"{ensemble.members} members, {ensemble.steps} steps each beyond the first"
    if not members:  # skipped (fresh) or computed on rank 0 only
        members = [checkpoint, *(folder / f"member-{k}" / "model" / "model.pt" for k in range(1, ensemble.members))]
    return members, run
