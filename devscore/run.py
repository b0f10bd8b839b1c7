"""``devscore run``: from Sentinel-2 granule-years to a published, validated catalog in one command.

The publisher's stages (``publisher.pipeline``: chips, rank, train, score) write into OUT; this module
joins them to the catalog: publish the chip scores with the model that made them, validate, and, where
the truth or night lights are known, measure the result. A re-run skips what did not change.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import click

from publisher.constants import BANDS, CHIPS_PER_SIDE
from publisher.errors import DevscoreError
from publisher.cli_types import NonEmptyPath, finite
from publisher.imagery.options import YEARS, bbox_option, comma_list, search_options, tiles_of

if TYPE_CHECKING:  # the heavy modules are imported where they are used, so `devscore run --help` stays fast
    import pandas as pd

    from publisher.mpi import Communicator
    from publisher.pipeline import RunConfig, StageRun
    from publisher.plan import Plan
    from publisher.runstate import RunState
    from publisher.stac import SceneSource


@dataclass
class RunReport:
    """What `devscore run` did, for its summary and for the demo."""

    stages: list[StageRun]
    catalog: Path
    scores: pd.DataFrame
    quality: object | None = None  # publisher.quality.QualityReport
    change: object | None = None  # publisher.change_quality.ChangeAgreement
    nightlights: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    estimates: dict = field(default_factory=dict)  # stage -> publisher.plan.Estimate, from the plan
    peak_mb: float | None = None  # the run's peak resident memory

    def summary_lines(self) -> list[str]:
        """Time per stage, then per granule-year statistics of the published scores."""
        import numpy as np
        import pandas as pd

        lines = [f"{'stage':<12} {'status':<9} {'seconds':>8} {'estimate':>8}  detail"]
        for s in self.stages:
            guess = self.estimates.get(s.name)
            lines.append(f"{s.name:<12} {s.status:<9} {s.seconds:>8.1f} "
                         f"{f'{guess.seconds:.1f}' if guess else '':>8}  {s.detail}")
        if self.peak_mb is not None and self.estimates:
            guessed = max(e.peak_mb for e in self.estimates.values())
            lines.append(f"peak memory {self.peak_mb:.0f} MB (estimate for training and scoring {guessed:.0f} MB)")
        lines.append("")
        lines.append(f"{'granule-year':<14} {'chips':>6} {'cover':>6} {'mean':>6} {'p10':>6} {'p90':>6}")
        scored = self.scores.assign(year=pd.to_datetime(self.scores["datetime"], utc=True, format="mixed").dt.year)
        for (tile, year), g in scored.groupby(["tile", "year"], sort=True):
            p10, p90 = np.percentile(g["score"], [10, 90])
            lines.append(f"{tile}-{year:<8} {len(g):>6} {len(g) / CHIPS_PER_SIDE**2:>6.1%} {g['score'].mean():>6.2f} "
                         f"{p10:>6.2f} {p90:>6.2f}")
        if self.quality is not None:
            lines += ["", "Agreement with the synthetic ground truth (chip scores vs chip mean truth):",
                      *self.quality.lines()]
        if self.change is not None:
            lines += ["", "Change between years against the truth's change (per chip):", *self.change.lines()]
        for row in self.nightlights:
            lines.append(str(row))
        return lines


def default_truth(search: dict) -> Path | None:
    """The ground truth beside a `devscore synth` source catalog (REGION/source -> REGION/truth), if any."""
    source = search.get("source_catalog")
    if source is None:
        return None
    truth = Path(source).resolve().parent / "truth"
    return truth.parent if truth.is_dir() else None


def scene_source(search: dict) -> SceneSource:
    """Where a run's scenes came from (``devscore:source`` and the URL template of a scene item or None), from
    its scene search: a `devscore synth` catalog is synthetic (its scenes have no address to link), Planetary
    Computer and other STAC APIs serve their scene items."""
    from publisher.imagery.acquire import PLANETARY_COMPUTER
    from publisher.stac import scene_source_of

    source = search.get("source_catalog")
    if source is not None:
        scene = next(Path(source).glob("*/*/*.json"), None)  # one scene item says what the catalog holds
        synthetic = scene is not None and json.loads(scene.read_text(encoding="utf-8")).get(
            "properties", {}).get("devscore:synthetic") is True
        return scene_source_of("synthetic" if synthetic else "local-catalog")
    api = (search.get("stac_api") or PLANETARY_COMPUTER).rstrip("/")
    if api == PLANETARY_COMPUTER:
        return scene_source_of("planetary-computer")
    return scene_source_of("stac-api", f"{api}/collections/sentinel-2-l2a/items/{{}}")


def nightlights_for_year(files: list[Path], year: int) -> list[Path]:
    """The night-light files of ``year``: those whose name carries it (VNL ``_2023_``, VNP46A4 ``A2023``,
    synthetic ``viirs_2023``), or every file when none names a year."""
    named = [f for f in files if re.search(rf"(?<!\d)(A{year}\d{{3}}|{year}(?!\d))", f.name)]
    if named:
        return named
    if any(re.search(r"(?<!\d)(A20\d\d\d{3}|20\d\d(?!\d))", f.name) for f in files):
        raise DevscoreError(f"none of the night-light files is of {year}: {', '.join(f.name for f in files)}")
    return files


def _stage(stages: list[StageRun], state: RunState, name: str, key: str, comm: Communicator,
           work: Callable[[], list[Path]], announce: Callable[[str], None]) -> None:
    """Run a catalog-side stage unless fresh (same bookkeeping as the publisher's stages)."""
    from publisher.pipeline import StageRun

    fresh = comm.bcast(state.fresh(name, key) if comm.is_root else None)
    if fresh:
        announce(f"{name}: inputs unchanged since the last run, skipped")
        stages.append(StageRun(name, "skipped", 0.0))
        return
    announce(f"{name}: running")
    start = time.perf_counter()
    outputs = work()
    seconds = time.perf_counter() - start
    if comm.is_root:
        state.record(name, key, seconds, outputs, hash_files=False)
    stages.append(StageRun(name, "ran", seconds))


def check_targets(catalog_dir: Path, nightlights: list[Path], years: list[int]) -> None:
    """What the last stages need, checked before the first one (so a bad file is not found after an
    hour of training): the catalog folder, if it holds a catalog, is one devscore can read and update,
    and every night-light file opens as a product of the years asked for."""
    from catalog.reader import StaticCatalog
    from catalog.store import check_unlocked
    from publisher.nightlights.products import open_sources

    if catalog_dir.exists() and not catalog_dir.is_dir():
        raise DevscoreError(f"--catalog {catalog_dir} is a file, not a folder")
    if (catalog_dir / "catalog.json").exists():
        StaticCatalog(catalog_dir)  # InvalidCatalogError (one line) for a catalog.json it cannot read
        check_unlocked(catalog_dir)  # another process is writing it: said now, not after training
    parent = next((p for p in [catalog_dir, *catalog_dir.parents] if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        raise DevscoreError(f"--catalog {catalog_dir} cannot be written (no write access to {parent})")
    if nightlights:
        for year in years:
            open_sources(nightlights_for_year(nightlights, year))


def run_all(config: RunConfig, catalog_dir: Path, comm: Communicator, truth: Path | None = None,
            nightlights: list[Path] | None = None, schemas: Path | None = None,
            announce: Callable[[str], None] = click.echo) -> RunReport | None:
    """Every stage of ``config`` into ``catalog_dir``; the report on rank 0, None on the other ranks."""
    import pandas as pd
    import pystac

    from catalog.change import publish_changes
    from catalog.ingest import publish_table
    from catalog.models import model_item_href, publish_model
    from catalog.validate import SchemaFolderError, find_schema_dir, validate_catalog
    from publisher.scoring.stac import create_model_item, score_provenance
    from publisher.pipeline import StageRun, StagesResult, run_stages
    from publisher.runstate import RunState, file_sha256, stage_key
    from publisher.constants import UNCERTAINTY_ASSET
    from publisher.scoring.ensemble import ensemble_properties
    from publisher.stac import refresh_lineage

    catalog_dir = catalog_dir.resolve()
    check_targets_on_root(comm, catalog_dir, nightlights or [], list(config.years))
    result: StagesResult = run_stages(config, comm, announce=announce)
    stages = list(result.stages)
    state = RunState(config.out.resolve() / "run-state.json")
    publish_key = comm.bcast(stage_key("publish", file_sha256(result.scores), file_sha256(result.checkpoint),
                                       state.relative(catalog_dir), config.ensemble) if comm.is_root else None)

    def do_publish() -> list[Path]:
        model_item = create_model_item(result.checkpoint) if comm.is_root else None
        model_item = comm.bcast(model_item)
        provenance = comm.bcast(score_provenance(result.checkpoint) if comm.is_root else None)
        def decorate(item: pystac.Item) -> None:
            item.add_link(pystac.Link("derived_from", model_item_href(model_item), media_type=pystac.MediaType.GEOJSON,
                                      title="Scoring model (devscore-models)"))
            item.properties.update(provenance)
            refresh_lineage(item)  # the ranker is known now
            if UNCERTAINTY_ASSET in item.assets:
                item.properties["devscore:ensemble"] = ensemble_properties(config.ensemble)

        publish_table(result.scores, catalog_dir, device=config.device, comm=comm, progress=config.progress,
                      decorate=decorate, source=scene_source(config.search))
        if comm.is_root:
            publish_model(catalog_dir, model_item, result.checkpoint)
            publish_changes(catalog_dir)  # devscore-change: every granule's change between its years
        return [catalog_dir / "catalog.json"]

    _stage(stages, state, "publish", publish_key, comm, do_publish, announce)
    if not comm.is_root:
        return None
    start = time.perf_counter()
    unchecked = ""
    try:
        schemas = find_schema_dir(schemas)
    except SchemaFolderError as exc:
        if schemas is not None:  # a folder the user named must hold the schemas
            raise
        schemas, unchecked = None, f"; schemas NOT checked ({exc})"
        announce(f"validate: files and COGs only, schemas not checked: {exc}")
    problems = validate_catalog(catalog_dir, schemas, check_schemas=schemas is not None)
    stages.append(StageRun("validate", "ran", time.perf_counter() - start,
                           ("valid" if not problems else f"{len(problems)} problem(s)") + unchecked))
    scores = pd.read_parquet(result.scores)
    report = RunReport(stages, catalog_dir, scores, problems=problems)
    if truth is not None:
        from catalog.reports import write_report
        from publisher.imagery.truth import chip_truth_table
        from publisher.quality import CLUSTER_TARGETS, RANKER_INDEX, assess, cluster_targets, ranker_index
        from publisher.quality import write_quality_report

        start = time.perf_counter()
        table = chip_truth_table(truth, result.chips_dir)
        baselines = {CLUSTER_TARGETS: cluster_targets(result.ranking_dir)}
        if config.ranker == "heuristic":  # the only ranker with an index of its own
            baselines[RANKER_INDEX] = ranker_index(result.chips_dir)
        report.quality = assess(scores, table, baselines=baselines)
        write_report(catalog_dir, "quality", lambda folder: write_quality_report(report.quality, scores, table, folder),
                     title="Agreement of the scores with the synthetic ground truth")
        stages.append(StageRun("quality", "ran", time.perf_counter() - start, str(catalog_dir / "reports" / "quality")))
        from publisher.change_quality import change_agreement, write_change_report

        report.change = change_agreement(scores, table)
        if report.change is not None:
            write_report(catalog_dir, "change", lambda folder: write_change_report(report.change, folder),
                         title="Agreement of the score change with the synthetic truth's change")
    if nightlights:
        from catalog.nightlights.compare import compare_catalog
        from catalog.nightlights.ingest import ingest

        start = time.perf_counter()
        for year in sorted(set(config.years)):
            ingest(nightlights_for_year(nightlights, year), year, catalog_dir, tiles=config.tiles)
        report.nightlights = [compare_catalog(catalog_dir, truth=truth, chips_dir=result.chips_dir).table()]
        stages.append(StageRun("nightlights", "ran", time.perf_counter() - start, "ingested and compared"))
    return report


def default_max_memory_mb() -> float:
    """Half of the machine's memory."""
    import psutil

    return psutil.virtual_memory().total / 2 / 2 ** 20


def check_targets_on_root(comm: Communicator, catalog_dir: Path, nightlights: list[Path], years: list[int]) -> None:
    """:func:`check_targets` on rank 0; every rank stops with its error, none waits on a root that left."""
    problem = None
    if comm.is_root:
        try:
            check_targets(catalog_dir, nightlights, years)
        except DevscoreError as exc:
            problem = str(exc)
    problem = comm.bcast(problem)
    if problem:
        raise DevscoreError(problem)


def make_plan(tiles: list[str], years: list[int], search: dict, out: Path, given: dict, device: str | None,
              profile_name: str, train_minutes: float | None, provided: dict, max_memory_mb: float,
              ensemble: dict | None = None) -> "Plan":
    """The run's plan: the profile (refused before anything is written when the machine lacks it), the
    training settings and their sources, the stages, and estimates from timed warm-up steps."""
    from dataclasses import asdict

    from publisher.constants import CHIP_SIZE, GRANULE_SIZE
    from publisher.plan import Plan, count_scenes, estimate, stage_lines
    from publisher.profiles import Setting, pick, resolve
    from publisher.scoring.train import TrainConfig

    profile = pick(profile_name)
    device = device or profile.device
    defaults = {k: v for k, v in asdict(TrainConfig()).items() if k in given}
    settings = resolve(profile, given, defaults)
    jobs = [(tile, year) for tile in tiles for year in years]
    scenes, grid = count_scenes(jobs, search)
    plan = Plan(jobs, scenes, stage_lines(out, {k: v for k, v in provided.items() if v}), device, profile.name,
                settings)
    plan.notes.append(f"Precision: {profile.precision() if device != 'cpu' else 'float32'}")
    plan.notes.append(f"Scoring: each chip's mean over {profile.views} of its rotations and flips" if profile.views > 1
                      else "Scoring: one view per chip")
    if provided.get("train"):
        plan.notes.append("Training: given by --checkpoint; its own settings apply.")
    n_chips = len(jobs) * 32 * 32
    source_px = max(1, round(CHIP_SIZE * (grid or GRANULE_SIZE) / GRANULE_SIZE))
    plan.estimates, memory = estimate(settings, n_chips, source_px, device)
    plan.estimates["score"].seconds *= profile.views  # one forward pass per view (publisher.scoring.tta)
    fit_batch_to_memory(plan, memory, max_memory_mb)
    if train_minutes is not None and given.get("max_epochs") is None:
        value = {name: s.value for name, s in settings.items()}
        train = plan.estimates["train"]
        per_epoch = (train.seconds - train.fixed_s) / value["max_epochs"]
        epochs = max(1, int((train_minutes * 60 - train.fixed_s) / per_epoch))
        settings["max_epochs"] = Setting(epochs, f"--train-minutes {train_minutes:g}")
        train.seconds = train.fixed_s + per_epoch * epochs
    if ensemble and ensemble.get("members", 1) > 1:
        from publisher.scoring.ensemble import plan_ensemble

        plan_ensemble(plan, {**ensemble, "views": profile.views})
    if provided.get("train"):
        plan.estimates.pop("train")
    return plan


def fit_batch_to_memory(plan: "Plan", memory, max_memory_mb: float) -> None:
    """Keep the training batch and, when a step of it does not fit ``max_memory_mb``, split each step into the
    fewest micro-batches that fit, their gradients accumulated (the plan's ``accumulate``). A budget below a
    micro-batch of 2 chips (per POG level with the rank loss) is an error naming the minimum."""
    import math

    from publisher.plan import chips_per_step
    from publisher.profiles import Setting

    batch, loss = plan.settings["batch_size"].value, plan.settings["loss"].value

    def need(parts: int) -> float:
        return memory.peak_mb(chips_per_step(math.ceil(batch / parts), loss))

    fits = [parts for parts in range(1, batch // 2 + 1) if need(parts) <= max_memory_mb]
    if not fits:
        raise DevscoreError(f"--max-memory {max_memory_mb:.0f} MB is below what one training step needs: at least "
                            f"{need(batch // 2):.0f} MB (micro-batches of 2 chips{' per POG level' if loss == 'rank' else ''}"
                            f" at {plan.settings['input_size'].value} px)")
    if fits[0] > 1:
        plan.settings["accumulate"] = Setting(fits[0], f"--max-memory {max_memory_mb:.0f}")
        plan.estimates["train"].peak_mb = need(fits[0])


def check_vlm_endpoint(comm: Communicator) -> None:
    """The VLM endpoint of the DEVSCORE_VLM_* settings answers (rank 0 asks; every rank stops alike)."""
    from publisher.ranking.vlm import VLMClient, VLMConfig, VLMError

    error = None
    if comm.is_root:
        try:
            VLMClient(VLMConfig.from_env(), progress=False).check()
        except VLMError as exc:
            error = str(exc)
    error = comm.bcast(error)
    if error:
        raise DevscoreError(error)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tiles", "tiles", default=None, callback=comma_list(str, "MGRS tile"), help="MGRS tiles, comma-separated.")
@bbox_option
@click.option("--years", "years", required=True, type=YEARS,
              help="Calendar years, comma-separated, ranges allowed (2020-2024).")
@search_options
@click.option("--out", type=NonEmptyPath(path_type=Path, file_okay=False), required=True,
              help="Run folder: chips/, ranking/, model/, scores.parquet, run-state.json (and catalog/ by default).")
@click.option("--catalog", "catalog_dir", type=NonEmptyPath(path_type=Path, file_okay=False), default=None,
              help="Static catalog to publish into [default: OUT/catalog].")
@click.option("--ranker", type=click.Choice(["heuristic", "vlm", "file"]), default="heuristic", show_default=True,
              help="Who orders the clusters: pixel indices (offline), a VLM (DEVSCORE_VLM_* settings) or --pog.")
@click.option("--pog", "pog_file", type=NonEmptyPath(path_type=Path, dir_okay=False, exists=True), default=None,
              help="With --ranker file: a POG written by a person.")
@click.option("--reuse-ranking", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), default=None,
              help="Take this ranking folder (`devscore rank`) instead of ranking again.")
@click.option("--checkpoint", type=NonEmptyPath(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Score with this checkpoint (`devscore train`) instead of training.")
@click.option("--loss", type=click.Choice(["seed", "rank"]), default=None, help="Training loss [default: the profile's].")
@click.option("--input-size", type=click.IntRange(32, 1024), default=None, help="Scorer input side in px [default: the profile's].")
@click.option("--bands", type=click.Choice(BANDS), default=None,
              help="Scorer input: gray (the method's) or rgb [default: gray, whatever the profile].")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Most training epochs [default: the profile's].")
@click.option("--steps-per-epoch", type=click.IntRange(1), default=None, help="Optimizer steps per epoch [default: the profile's].")
@click.option("--batch-size", type=click.IntRange(2), default=None,
              help="Training chips per batch (per POG level with the rank loss) [default: the profile's].")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None, callback=finite,
              help="Adam learning rate [default: the profile's].")
@click.option("--patience", type=click.IntRange(1), default=None,
              help="Epochs without a better validation loss before stopping [default: the profile's].")
@click.option("--init-checkpoint", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Warm start: train from these weights (a devscore checkpoint or a torchvision ResNet-18 state "
                   "dict, loaded strictly) instead of a random initialisation.")
@click.option("--ensemble", "ensemble_members", type=click.IntRange(1), default=None,
              help="Scorers in the ensemble that gives each chip its uncertainty, the trained model included; "
                   "1 scores without uncertainty [default: publisher.profiles.ENSEMBLE].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Torch and painter device [default: the profile's].")
@click.option("--profile", "profile_name", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Training and inference defaults: cpu (64 px, a small step budget), gpu (343 px, mixed "
                   "precision); auto: gpu when torch sees CUDA. Options given override it.")
@click.option("--train-minutes", type=click.FloatRange(0, min_open=True), default=None, callback=finite,
              help="Size the training (epochs) to about this many minutes, from timed warm-up steps.")
@click.option("--max-memory", type=click.FloatRange(1, min_open=False), default=None, callback=finite,
              help="Memory budget in MB for a training step; a step that does not fit runs as micro-batches whose "
                   "gradients accumulate [default: half the machine's].")
@click.option("--plan", "plan_only", is_flag=True, help="Print the plan (stages, settings, estimates) and exit; "
                                                       "writes nothing.")
@click.option("--truth", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), default=None,
              help="A `devscore synth` region whose truth/ the scores are measured against "
                   "[default: the region of --source-catalog, when it has one].")
@click.option("--nightlights", type=NonEmptyPath(path_type=Path, dir_okay=False, exists=True), multiple=True,
              help="VIIRS night-light file(s) to ingest and compare with the scores at the end (repeatable).")
@click.option("--schemas", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), default=None,
              help="STAC extension schemas for offline validation [default: $DEVSCORE_STAC_SCHEMAS, else "
                   "../shared/stac-schemas when present; without either only files and COGs are checked].")
@click.option("--progress/--no-progress", default=True, help="Progress bars.")
@click.option("--pgstac", default=None, metavar="DSN",
              help="Also load the published catalog (scores, model, night lights) into this pgstac database, "
                   "in one transaction at the end.")
def run(tiles: list[str] | None, bbox: object, years: list[int], stac_api: str | None, source_catalog: Path | None, max_cloud: float,
        out: Path, catalog_dir: Path | None, ranker: str, pog_file: Path | None, reuse_ranking: Path | None,
        checkpoint: Path | None, loss: str | None, input_size: int | None, bands: str | None, epochs: int | None,
        steps_per_epoch: int | None, batch_size: int | None, lr: float | None, patience: int | None,
        init_checkpoint: Path | None, ensemble_members: int | None, device: str | None, profile_name: str,
        train_minutes: float | None, max_memory: float | None, plan_only: bool, truth: Path | None, nightlights: tuple[Path, ...],
        schemas: Path | None, progress: bool, pgstac: str | None) -> None:
    """Acquire, chip, rank, train, score, publish and validate the granule-years of --tiles (or --bbox) x --years.

    First it prints the plan: scenes found, stages to run or skip, the device, the training settings and
    where each comes from (--profile, an option, --max-memory, --train-minutes), and estimates of time
    and memory from a few timed warm-up steps; --plan stops there.

    Every stage writes into OUT and is skipped on a re-run when its inputs did not change; an
    interrupted run resumes (training from its last epoch). Under `mpiexec -n N` the chips, the
    scoring and the publishing are spread over the ranks. Ends with a summary: time per stage,
    per-granule statistics and, when the truth is known (a `devscore synth` region), the Spearman
    agreement of the scores with it, written to the catalog's reports/.
    """
    tiles = tiles_of(tiles, bbox)
    if ranker == "file" and pog_file is None:
        raise click.UsageError("--ranker file needs --pog FILE")
    from publisher.mpi import world
    from publisher.pipeline import RunConfig
    from publisher.profiles import PROFILE_VIEWS

    comm = world()
    if pgstac is not None and comm.is_root:  # a database that cannot be used fails before any stage runs
        from catalog.pgstac.db import connect

        connect(pgstac).close()
    # the catalog and the night-light files are checked before the scene search and the plan's warm-up
    check_targets_on_root(comm, (catalog_dir or out / "catalog").resolve(), list(nightlights), years)
    if ranker == "vlm" and reuse_ranking is None:  # a wrong endpoint stops the run now, not after the chips
        check_vlm_endpoint(comm)
    search = {"stac_api": stac_api, "source_catalog": source_catalog, "max_cloud": max_cloud}
    given = {"loss": loss, "input_size": input_size, "bands": bands, "max_epochs": epochs, "steps_per_epoch": steps_per_epoch,
             "batch_size": batch_size, "lr": lr, "patience": patience}
    from publisher.profiles import ENSEMBLE

    ensemble = {**ENSEMBLE, **({"members": ensemble_members} if ensemble_members else {})}
    plan = comm.bcast(make_plan(tiles, years, search, out, given, device, profile_name, train_minutes,
                                {"rank": reuse_ranking, "train": checkpoint}, max_memory or default_max_memory_mb(),
                                ensemble) if comm.is_root else None)
    if comm.is_root:
        for line in plan.lines():
            click.echo(line)
    if plan_only:
        return
    device = plan.device
    train_options = {name: s.value for name, s in plan.settings.items()}
    if init_checkpoint is not None:  # a warm start: the scorer starts from these weights
        train_options["weights"] = str(init_checkpoint.resolve())
    rank_options = {"pog_file": str(pog_file)} if pog_file else {}
    config = RunConfig(tiles=tiles, years=years, out=out, search=search, ranker=ranker,
                       rank_options=rank_options, reuse_ranking=reuse_ranking, checkpoint=checkpoint,
                       train_options=train_options, ensemble=ensemble, device=device, progress=progress,
                       views=PROFILE_VIEWS[plan.profile])
    announce = click.echo if comm.is_root else (lambda line: None)
    report = run_all(config, catalog_dir or out / "catalog", comm, truth=truth or default_truth(search),
                     nightlights=list(nightlights), schemas=schemas, announce=announce)
    if report is None:
        return
    from publisher.plan import peak_rss_mb

    report.estimates, report.peak_mb = plan.estimates, peak_rss_mb()
    click.echo("")
    for line in report.summary_lines():
        click.echo(line)
    for problem in report.problems:
        click.echo(f"invalid: {problem}", err=True)
    if report.problems:
        raise DevscoreError(f"the published catalog {report.catalog} has {len(report.problems)} problem(s)")
    if pgstac is not None:
        from catalog.pgstac.publish import mirror_catalog

        mirror_catalog(pgstac, report.catalog)
        click.echo("Loaded the catalog into pgstac (serve it: devscore serve --pgstac DSN)")
    click.echo(f"\nCatalog: {report.catalog / 'catalog.json'}  (serve it: devscore serve --catalog {report.catalog})")
