"""`devscore run` end to end on a small synthetic region: every stage, a valid catalog with the model
that made the scores, a re-run that skips everything, a resumed training, and refusals of bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from publisher.imagery.synth import synthesize
from publisher.profiles import ENSEMBLE
from publisher.runstate import file_sha256
from tests.conftest import module_folder

BIN = Path(sys.executable).parent
TRAIN = ["--input-size", "32", "--epochs", "2", "--steps-per-epoch", "3", "--ensemble", "2"]


def devscore(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / "devscore"), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env)


@pytest.fixture(scope="module")
def region(request, tmp_path_factory) -> Iterator[Path]:
    with module_folder(request, tmp_path_factory, "pipeline") as tmp:
        synthesize(tmp / "region", tiles=("48RUU",), years=(2023,), scenes_per_year=2, size=1098, seed=5,
                   progress=False)
        yield tmp


@pytest.fixture(scope="module")
def first_run(region) -> subprocess.CompletedProcess:
    proc = devscore("run", "--tiles", "48RUU", "--years", "2023", "--source-catalog", "region/source", "--out", "run",
                    "--no-progress", "--nightlights", "region/nightlights/viirs_2023.tif", *TRAIN, cwd=region)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_run_publishes_scores_with_their_model(region, first_run, schema_dir):
    catalog = region / "run" / "catalog"
    for stage in ("chips", "rank", "train", "ensemble", "score", "publish", "validate", "quality", "nightlights"):
        assert f"\n{stage} " in first_run.stdout and "skipped" not in first_run.stdout.split(f"\n{stage} ")[1][:20]
    item = json.loads((catalog / "devscore-scores" / "48RUU-2023" / "48RUU-2023.json").read_text())
    model_links = [link for link in item["links"] if link["rel"] == "derived_from" and "devscore-models" in link["href"]]
    assert len(model_links) == 1
    model_file = (catalog / "devscore-scores" / "48RUU-2023" / model_links[0]["href"]).resolve()
    model = json.loads(model_file.read_text())
    assert item["properties"]["devscore:model"] == model["id"]
    assert item["properties"]["devscore:ranker"] == "heuristic"
    assert item["properties"]["devscore:source"] == "synthetic" and "heuristic" in item["properties"]["processing:lineage"]
    assert not [link for link in item["links"] if (link.get("title") or "").startswith("Source scene")]
    weights = model["assets"]["weights"]
    assert (model_file.parent / weights["href"]).stat().st_size == weights["file:size"]
    assert item["properties"]["devscore:checkpoint_sha256"] == file_sha256(region / "run" / "model" / "model.pt")
    quality = json.loads((catalog / "reports" / "quality" / "quality.json").read_text())
    assert quality["all"]["n"] > 500 and abs(quality["shuffled_control"]["spearman"]) < 0.15
    # the ensemble's spread: an uncertainty asset, its calibration in the report and the summary
    assert "uncertainty" in item["assets"] and item["properties"]["devscore:ensemble"]["members"] == 2
    assert quality["calibration"]["all"]["n"] == quality["all"]["n"]
    assert "uncertainty calibration" in first_run.stdout
    assert "Spearman" in first_run.stdout and "shuffled control" in first_run.stdout
    assert "viirs-nightlights" in {p.name for p in catalog.iterdir()}
    check = devscore("validate", "run/catalog", "--schemas", str(schema_dir), cwd=region)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture(scope="module")
def copied_run(region, first_run) -> Path:
    """The first run's folder copied elsewhere (issue 20 item 7: a copy checks its own files)."""
    copy = region / "moved" / "run"
    shutil.copytree(region / "run", copy)
    return copy


def _rerun(region: Path, out: str) -> subprocess.CompletedProcess:
    proc = devscore("run", "--tiles", "48RUU", "--years", "2023", "--source-catalog", "region/source", "--out", out,
                    "--no-progress", *TRAIN, cwd=region)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def test_rerun_of_a_copied_folder_skips_unchanged_stages(region, copied_run):
    before = file_sha256(region / "run" / "scores.parquet")
    proc = _rerun(region, "moved/run")
    for stage in ("chips", "rank", "train", "ensemble", "score", "publish"):
        assert f"{stage}: inputs unchanged since the last run, skipped" in proc.stdout
    assert file_sha256(copied_run / "scores.parquet") == before == file_sha256(region / "run" / "scores.parquet")


def test_a_copied_run_folder_reruns_only_what_changed_in_it(region, copied_run):
    """Through the CLI: in a copy of a run folder a replaced scores.parquet is re-scored before anything is
    published, and a deleted model/ is re-trained, with no traceback; the original folder is never read."""
    import pandas as pd

    original = file_sha256(region / "run" / "scores.parquet")
    item_file = Path("devscore-scores") / "48RUU-2023" / "48RUU-2023.json"
    tampered = pd.read_parquet(copied_run / "scores.parquet").assign(score=lambda f: 1.0 - f["score"])
    tampered.to_parquet(copied_run / "scores.parquet")
    proc = _rerun(region, "moved/run")
    assert "score: running" in proc.stdout and "train: inputs unchanged" in proc.stdout
    assert file_sha256(copied_run / "scores.parquet") == original  # re-scored from the model, not the replaced table
    published = json.loads((copied_run / "catalog" / item_file).read_text())["properties"]
    assert published == json.loads((region / "run" / "catalog" / item_file).read_text())["properties"]

    shutil.rmtree(copied_run / "model")
    proc = _rerun(region, "moved/run")
    assert "train: running" in proc.stdout and (copied_run / "model" / "model.pt").is_file()
    assert file_sha256(region / "run" / "scores.parquet") == original


def test_interrupted_training_resumes(region, first_run, tmp_path):
    """A run whose training died after its last epoch (model.pt not written) resumes from last.pt and
    ends with the weights an uninterrupted run wrote, so the scores come out the same."""
    import torch

    from publisher.scoring.model import load_scorer

    model = region / "run" / "model" / "model.pt"
    before, _ = load_scorer(model)
    scores = region / "run" / "scores.parquet"
    digest = file_sha256(scores)
    state_file = region / "run" / "run-state.json"
    state = json.loads(state_file.read_text())
    state.pop("train")
    state_file.write_text(json.dumps(state))
    model.unlink()
    proc = devscore("run", "--tiles", "48RUU", "--years", "2023", "--source-catalog", "region/source", "--out", "run",
                    "--no-progress", *TRAIN, cwd=region)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming after epoch 2" in proc.stderr
    after, _ = load_scorer(model)
    for key, value in before.state_dict().items():
        assert torch.equal(value, after.state_dict()[key]), key
    assert file_sha256(scores) == digest


def test_ranking_of_other_chips_is_refused(region, first_run, tmp_path):
    other = tmp_path / "other"
    synthesize(other / "region", tiles=("48RVU",), years=(2023,), scenes_per_year=1, size=320, seed=1, progress=False)
    proc = devscore("run", "--tiles", "48RVU", "--years", "2023", "--source-catalog", str(other / "region" / "source"),
                    "--out", str(other / "run"), "--max-cloud", "100", "--reuse-ranking", str(region / "run" / "ranking"),
                    "--no-progress", *TRAIN, cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "fingerprint" in proc.stderr.lower()
    assert not (other / "run" / "catalog").exists()


@pytest.mark.parametrize("args", [["--tiles", "", "--years", "2023"], ["--tiles", "48RUU", "--years", "20x3"],
                                  ["--tiles", "48RUU", "--years", "2023", "--ranker", "file"]])
def test_bad_arguments_are_usage_errors(region, args):
    proc = devscore("run", *args, "--source-catalog", "region/source", "--out", "bad", cwd=region)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (region / "bad").exists()


def _summary_rows(stdout: str) -> dict[str, list[str]]:
    table = stdout.split("\nstage ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    return {row.split()[0]: row.split() for row in table if row.split()}


def test_the_summary_puts_the_plans_estimates_beside_the_measured_times(first_run):
    """The plan came before the work; the summary shows its warm-up estimates beside the stage times, and each
    estimate is within a factor of 2 of the time the stage took (a check of the product's own estimator: its
    warm-up runs on this machine, under the same load as the stages)."""
    assert first_run.stdout.index("Plan: 1 granule-year(s)") < first_run.stdout.index("chips: running")
    rows = _summary_rows(first_run.stdout)
    for stage in ("train", "score"):
        took, guessed = float(rows[stage][2]), float(rows[stage][3])
        assert took > 0 and guessed > 0, rows[stage]
        assert 0.5 <= guessed / took <= 2.0, (stage, took, guessed)
    assert "peak memory" in first_run.stdout


def test_plan_prints_settings_with_their_sources_and_writes_nothing(region):
    proc = devscore("run", "--tiles", "48RUU", "--years", "2023", "--source-catalog", "region/source", "--out",
                    "planned", "--profile", "cpu", "--input-size", "48", "--plan", cwd=region)
    assert proc.returncode == 0, proc.stderr[-2000:]
    settings = {line.split()[0]: line.split(None, 2)[1:] for line in proc.stdout.split("Training settings")[1].splitlines()[1:]
                if line.startswith("  ")}
    assert settings["input_size"] == ["48", "option"] and settings["batch_size"][1] == "profile cpu"
    assert "48RUU-2023: 2 scene(s) found" in proc.stdout and "chips      will run" in proc.stdout
    assert "Estimate train:" in proc.stdout and "Estimate score:" in proc.stdout
    assert "ensemble   will run" in proc.stdout and "Estimate ensemble:" in proc.stdout
    assert f"Ensemble: {ENSEMBLE['members']} scorers" in proc.stdout
    assert not (region / "planned").exists()


def test_max_memory_below_one_step_names_the_minimum(region):
    proc = devscore("run", "--tiles", "48RUU", "--years", "2023", "--source-catalog", "region/source", "--out",
                    "small", "--max-memory", "50", cwd=region)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert "--max-memory 50 MB is below what one training step needs: at least" in errors[0]
    assert not (region / "small").exists()


def test_profile_gpu_without_cuda_is_one_line_and_writes_nothing(region):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = devscore("run", "--tiles", "48RUU", "--years", "2023", "--source-catalog", "region/source", "--out",
                    "gpu-run", "--profile", "gpu", cwd=region)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert proc.returncode == 1 and len(errors) == 1 and "--profile gpu needs CUDA" in errors[0], proc.stderr
    assert not (region / "gpu-run").exists()
