"""The scorer: losses with gradients, balanced sampling over every POG cluster, strict weights, resumable and
reproducible training, inference over MPI ranks, the model's STAC Item, and the CLI's refusals."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pystac
import pystac.validation
import pytest
import torch
from torchvision.models import resnet18, resnet34

from catalog.validate import OfflineSchemaValidator
from publisher.imagery.chipfiles import list_chip_files
from publisher.scoring.data import BalancedSampler, load_ranking, load_training_chips
from publisher.scoring.losses import histogram_kl, rank_loss, seed_loss, soft_histogram
from publisher.scoring.model import CheckpointError, Scorer, load_scorer, load_weights, normalise
from publisher.scoring.train import TrainConfig, TrainingError, TrainingInterrupted, train
from tests.conftest import module_folder
from tests.ranking_fixture import build_ranking

BIN = Path(sys.executable).parent
#: Tiny training: 32 px inputs, 2 steps of 8 chips per epoch.
TINY = dict(input_size=32, batch_size=8, steps_per_epoch=2, max_epochs=3, patience=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def devscore(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "devscore"), *args], capture_output=True, text=True, check=check, **kwargs)


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> tuple[Path, Path]:
    """(synthetic region, its chip folder): one small granule-year, 11 px chips, about half of them cloud-flagged."""
    tmp = tmp_path_factory.mktemp("scoring")
    devscore("synth", "--out", str(tmp / "R"), "--tiles", "48RVU", "--years", "2023", "--size", "352")
    devscore("chips", "--tile", "48RVU", "--year", "2023", "--source-catalog", str(tmp / "R" / "source"),
             "--max-cloud", "100", "--out", str(tmp / "C"))
    return tmp / "R", tmp / "C"


@pytest.fixture(scope="module")
def ranking(region, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ranking")
    build_ranking(*region, out)
    return out


@pytest.fixture(scope="module")
def trained(region, ranking, request, tmp_path_factory) -> Iterator[Path]:
    """A tiny trained checkpoint."""
    with module_folder(request, tmp_path_factory, "trained") as out:
        yield train(ranking, region[1], out, TrainConfig(**{**TINY, "max_epochs": 1}), progress=False,
                    plot=False).checkpoint


def test_soft_histogram_matches_hard_and_has_gradient():
    values = torch.rand(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    hard, _ = np.histogram(values.numpy(), bins=10, range=(0, 1))
    assert np.allclose(soft_histogram(values).numpy(), hard / 500, atol=0.02)
    scores = torch.full((64,), 0.5, requires_grad=True)
    scores_plus = scores + torch.linspace(-0.3, 0.3, 64)
    targets = torch.linspace(0, 1, 64)
    histogram_kl(scores_plus, targets).backward()
    assert scores.grad.abs().sum() > 1e-3  # a hard histogram (torch.histc) gives none


def test_seed_loss_gradient_reaches_every_term():
    torch.manual_seed(0)
    model = Scorer(32)
    images = normalise(torch.randint(0, 255, (8, 32, 32), dtype=torch.uint8))
    loss, scores = seed_loss(model, images, torch.linspace(0, 1, 8), torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss) and scores.shape == (8,)
    assert model.backbone.fc.weight.grad.abs().sum() > 0


def test_rank_loss_prefers_the_pog_order():
    ordered = torch.tensor([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])  # level 0 least developed
    assert rank_loss(ordered) < 0.01
    assert rank_loss(ordered.flip(0)) > 1.0
    spread = torch.tensor([[0.0, 0.2], [0.4, 0.6], [0.8, 1.0]])
    assert rank_loss(spread) > rank_loss(ordered)  # within-level variance costs
    s = ordered.clone().requires_grad_(True)
    rank_loss(s.flip(0)).backward()
    assert s.grad.abs().sum() > 0


def test_batches_cover_every_cluster_and_level(region, ranking):
    loaded = load_ranking(ranking)
    chips = load_training_chips(loaded, region[1], 32)
    assert chips.images(np.arange(3)).shape == (3, 32, 32) and len(chips.target) == len(loaded.clusters)
    sampler = BalancedSampler(chips, np.arange(len(chips.target)), len(loaded.levels))
    gen = torch.Generator().manual_seed(0)
    seen = np.concatenate([sampler.mixed_batch(64, gen) for _ in range(30)])
    levels = np.bincount(chips.level[seen], minlength=len(loaded.levels))
    assert set(chips.cluster[seen]) == set(loaded.targets)  # tie-group members included
    assert levels.min() > 0.7 * levels.mean()
    path = sampler.path_batch(4, gen)
    assert path.shape == (len(loaded.levels), 4)
    assert (chips.level[path[0]] == len(loaded.levels) - 1).all() and (chips.level[path[-1]] == 0).all()


def test_weights_load_strictly(tmp_path):
    path = tmp_path / "r18.pt"
    torch.save(resnet18(weights=None).state_dict(), path)  # 1000-class head: left out, everything else loads
    model = Scorer(32)
    load_weights(model, path)
    assert torch.equal(model.backbone.conv1.weight, torch.load(path)["conv1.weight"])
    state = resnet18(weights=None).state_dict()
    del state["layer1.0.bn1.running_mean"]
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(model, tmp_path / "missing.pt")
    torch.save(resnet34(weights=None).state_dict(), tmp_path / "r34.pt")
    with pytest.raises(CheckpointError, match="not a resnet18"):
        load_weights(model, tmp_path / "r34.pt")
    (tmp_path / "corrupt.pt").write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_weights(model, tmp_path / "corrupt.pt")


def test_resume_ends_where_an_uninterrupted_run_ends(region, ranking, tmp_path):
    config = TrainConfig(**TINY, loss="seed")
    whole = train(ranking, region[1], tmp_path / "whole", config, progress=False)
    assert (tmp_path / "whole" / "history.png").read_bytes()[:4] == b"\x89PNG"

    def interrupt(epoch: int) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="interrupted in epoch 2"):
        train(ranking, region[1], tmp_path / "cut", config, progress=False, on_epoch_end=interrupt,
              plot=False)
    assert not (tmp_path / "cut" / "model.pt").exists() and (tmp_path / "cut" / "last.pt").exists()
    resumed = train(ranking, region[1], tmp_path / "cut", config, progress=False, resume=True, plot=False)
    untimed = [[{k: v for k, v in h.items() if k != "seconds"} for h in r.history] for r in (whole, resumed)]
    assert untimed[0] == untimed[1] and resumed.best_epoch == whole.best_epoch
    a, b = load_scorer(whole.checkpoint)[0].state_dict(), load_scorer(resumed.checkpoint)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    lrs = [h["lr"] for h in whole.history]
    assert all(x > y for x, y in zip(lrs, lrs[1:]))  # one cosine decay, never cycling back up
    with pytest.raises(TrainingError, match="already holds"):
        train(ranking, region[1], tmp_path / "whole", config, progress=False)
    with pytest.raises(TrainingError, match="batch_size"):
        train(ranking, region[1], tmp_path / "cut", TrainConfig(**{**TINY, "batch_size": 4}, loss="seed"), progress=False,
              resume=True)


@pytest.mark.slow
def test_score_table_same_on_two_ranks(region, trained, tmp_path):
    chips = tmp_path / "chips"
    chips.mkdir()
    source = list_chip_files(region[1])[0].path
    shutil.copy(source, chips / source.name)
    shutil.copy(source, chips / "48RUU-2023.npz")
    devscore("score", "--checkpoint", str(trained), "--chips", str(chips), "--out", str(tmp_path / "one.parquet"),
             "--workers", "1")
    subprocess.run([str(BIN / "mpiexec"), "-n", "2", str(BIN / "devscore"), "score", "--checkpoint", str(trained),
                    "--chips", str(chips), "--out", str(tmp_path / "two.parquet"), "--workers", "0"],
                   check=True, capture_output=True, text=True)
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    pd.testing.assert_frame_equal(one, two)
    usable = list_chip_files(chips)[0].usable()
    assert len(one) == 2 * usable.sum() and set(one["tile"]) == {"48RVU", "48RUU"}
    assert one["score"].between(0, 1).all() and one["score"].std() > 0
    assert one["scene_id"].str.startswith("S2").all()
    flagged = {(r, c) for r, c in zip(*np.nonzero(~usable.reshape(32, 32)))}
    assert not flagged & set(zip(one["row"], one["col"]))


def test_model_item_validates_with_mlm(trained, schema_dir):
    from publisher.scoring.stac import create_model_item, create_models_collection

    pystac.validation.set_validator(OfflineSchemaValidator(schema_dir))
    try:
        item = create_model_item(trained)
        collection = create_models_collection([item])
        collection.add_item(item)
        collection.normalize_hrefs(str(trained.parent / "stac"))
        collection.validate()
        assert any("mlm/v1.5.2" in s for s in item.validate())
        asset = item.assets["weights"]
        assert asset.extra_fields["file:size"] == trained.stat().st_size
        assert item.properties["mlm:input"][0]["input"]["shape"] == [-1, 3, 32, 32]
        assert item.properties["devscore:pog"] == load_scorer(trained)[1]["pog"]
        del item.properties["mlm:input"]
        with pytest.raises(pystac.errors.STACValidationError):
            item.validate()
    finally:
        pystac.validation.set_validator(pystac.validation.JsonSchemaSTACValidator())


def _one_line_error(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error:") and pattern in lines[-1], result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_bad_input(region, ranking, trained, tmp_path):
    other = tmp_path / "other-ranking"
    shutil.copytree(ranking, other)
    meta = json.loads((other / "targets.json").read_text())
    (other / "targets.json").write_text(json.dumps({**meta, "chips_fingerprint": "0" * 64}))
    result = devscore("train", "--ranking", str(other), "--chips", str(region[1]), "--out", str(tmp_path / "t"),
                      "--input-size", "32", check=False)
    _one_line_error(result, "other chips")
    assert not (tmp_path / "t" / "model.pt").exists()

    out = tmp_path / "scores.parquet"
    flagged = tmp_path / "flagged"
    flagged.mkdir()
    source = list_chip_files(region[1])[0].path
    with np.load(source) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["flags"][:] = 2
    np.savez(flagged / source.name, **arrays)
    _one_line_error(devscore("score", "--checkpoint", str(trained), "--chips", str(flagged), "--out", str(out),
                             check=False), "every chip")
    assert not out.exists() and not list(tmp_path.glob(".scores.parquet*"))


def test_checkpoints_are_refused_unless_they_fit(trained, tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(trained.read_bytes()[: trained.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_scorer(tmp_path / "corrupt.pt")
    payload = torch.load(trained, weights_only=True)
    payload["model"] = {f"backbone.{k}": v for k, v in resnet34(weights=None, num_classes=1).state_dict().items()}
    torch.save(payload, tmp_path / "r34.pt")
    with pytest.raises(CheckpointError, match="do not fit resnet18"):
        load_scorer(tmp_path / "r34.pt")
    with pytest.raises(CheckpointError, match="trained on 32 px"):
        load_scorer(trained, input_size=64)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a devscore scorer checkpoint"):
        load_scorer(tmp_path / "other.pt")


@pytest.mark.slow
def test_interrupted_training_leaves_a_resumable_state(region, ranking, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--ranking", str(ranking), "--chips", str(region[1]), "--out", str(out), "--input-size", "32",
            "--batch-size", "8", "--steps-per-epoch", "2", "--epochs", "200"]
    # a test run started in the background (CI without a terminal) inherits SIGINT ignored; Ctrl-C at a
    # terminal reaches the command with its default action, so the child gets that back
    proc = subprocess.Popen([str(BIN / "devscore"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "last.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    last = stderr.strip().splitlines()[-1]
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert last.startswith("Interrupted: training interrupted") and "--resume" in last, stderr
    assert not (out / "model.pt").exists() and not list(out.glob(".*.tmp"))
    saved = torch.load(out / "last.pt", weights_only=True)
    assert saved["state"]["epoch"] >= 1


@pytest.mark.slow
def test_shuffled_target_control_scores_near_zero(region, tmp_path):
    """Trained on targets dealt to the chips at random, the scores must not follow the truth."""
    from publisher.scoring.infer import score_chips
    from tests.ranking_fixture import spearman_against_truth

    truth = build_ranking(*region, tmp_path / "shuffled", shuffle_seed=5)
    config = TrainConfig(**{**TINY, "steps_per_epoch": 4, "max_epochs": 2})  # the default loss, rank
    result = train(tmp_path / "shuffled", region[1], tmp_path / "model", config, progress=False, plot=False)
    scores = score_chips(result.checkpoint, region[1], tmp_path / "scores.parquet", workers=0, progress=False)
    figures = spearman_against_truth(scores, truth)
    assert figures["chips"] == len(truth)
    assert abs(figures["overall"]) < 0.2, figures
