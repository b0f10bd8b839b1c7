"""The scorer's bands: grayscale (the method's) by default, RGB as an option that is trained, saved in the
checkpoint, fed to the model as three colour channels when scoring, named in the plan and the model Item, and
never silently used as grayscale (nor a grayscale checkpoint as RGB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from publisher.imagery.chipfiles import list_chip_files
from publisher.imagery.cut import cut_chips
from publisher.imagery.synth import synthesize
from publisher.mpi import world
from publisher.scoring.infer import score_granule
from publisher.scoring.model import IMAGENET_MEAN, IMAGENET_STD, CheckpointError, load_scorer, read_checkpoint
from publisher.scoring.stac import create_model_item, score_provenance
from publisher.scoring.train import TrainConfig, train
from tests.conftest import module_folder
from tests.ranking_fixture import build_ranking

BIN = Path(sys.executable).parent
#: One epoch of 2 steps at 32 px; a learning rate high enough that the scores depend on the input.
TINY = dict(input_size=32, batch_size=8, steps_per_epoch=2, max_epochs=1, patience=1, lr=1e-2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def devscore(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "devscore"), *args], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory) -> Iterator[dict[str, Path]]:
    """A small region, its chips, a ranking, and one tiny scorer per bands (gray by default, rgb by option)."""
    with module_folder(request, tmp_path_factory, "bands") as tmp:
        yield _trained(tmp)


def _trained(tmp: Path) -> dict[str, Path]:
    synthesize(tmp / "R", ["48RVU"], [2023], size=352, progress=False)
    cut_chips([("48RVU", 2023)], {"source_catalog": tmp / "R" / "source", "max_cloud": 100}, tmp / "C", world())
    build_ranking(tmp / "R", tmp / "C", tmp / "ranking")
    gray = train(tmp / "ranking", tmp / "C", tmp / "gray", TrainConfig(**TINY), progress=False, plot=False)
    rgb = train(tmp / "ranking", tmp / "C", tmp / "rgb", TrainConfig(**TINY, bands="rgb"), progress=False, plot=False)
    return {"root": tmp, "chips": tmp / "C", "gray": gray.checkpoint, "rgb": rgb.checkpoint}


def _first_conv_inputs(checkpoint: Path, chips: Path) -> tuple[torch.Tensor, pd.DataFrame]:
    """What the checkpoint's first convolution receives when its chips are scored (de-normalised to [0, 1]),
    and the score rows."""
    model, _ = load_scorer(checkpoint)
    seen = []
    model.backbone.conv1.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    frame = score_granule(model.eval(), list_chip_files(chips)[0], torch.device("cpu"), workers=0)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return torch.cat(seen) * std + mean, frame


def test_gray_is_the_default_and_rgb_scores_from_three_colour_channels(trained):
    assert TrainConfig().bands == "gray"
    assert read_checkpoint(trained["gray"])["bands"] == "gray"
    assert read_checkpoint(trained["rgb"])["bands"] == "rgb"
    gray_in, _ = _first_conv_inputs(trained["gray"], trained["chips"])
    rgb_in, rgb_scores = _first_conv_inputs(trained["rgb"], trained["chips"])
    assert gray_in.shape == rgb_in.shape and gray_in.shape[1] == 3
    # grayscale: one luma replicated; rgb: the chips' own colours, which differ between channels
    assert torch.allclose(gray_in[:, 0], gray_in[:, 1], atol=1e-5) and torch.allclose(gray_in[:, 1], gray_in[:, 2], atol=1e-5)
    assert (rgb_in[:, 0] - rgb_in[:, 1]).abs().max() > 0.05 and (rgb_in[:, 1] - rgb_in[:, 2]).abs().max() > 0.05
    # the luma of the rgb input is the gray input (same chips, same resampling, up to uint8 rounding)
    luma = 0.299 * rgb_in[:, 0] + 0.587 * rgb_in[:, 1] + 0.114 * rgb_in[:, 2]
    assert (luma - gray_in[:, 0]).abs().max() < 3 / 255

    # `devscore score` reads the bands from the checkpoint: its table is the rgb scoring, not a gray one
    out = trained["root"] / "rgb-scores.parquet"
    proc = devscore("score", "--checkpoint", str(trained["rgb"]), "--chips", str(trained["chips"]), "--out", str(out),
                    "--workers", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_parquet(out)
    assert np.allclose(table["score"].to_numpy(), rgb_scores["score"].to_numpy(), atol=1e-6)
    model, _ = load_scorer(trained["rgb"])
    with torch.no_grad():
        as_gray = model.eval()(_renormalise(gray_in)).numpy()
    assert np.abs(as_gray - rgb_scores["score"].to_numpy()).max() > 1e-4, "the rgb model was fed grayscale"


def _renormalise(x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def test_checkpoints_of_other_bands_are_refused(trained, tmp_path):
    with pytest.raises(CheckpointError, match="trained on rgb chips, not gray"):
        load_scorer(trained["rgb"], bands="gray")
    with pytest.raises(CheckpointError, match="trained on gray chips, not rgb"):  # a warm start keeps its bands
        train(trained["root"] / "ranking", trained["chips"], tmp_path / "warm",
              TrainConfig(**TINY, bands="rgb", weights=str(trained["gray"])), progress=False, plot=False)


def test_model_item_plan_and_score_provenance_name_the_bands(trained):
    gray_input = create_model_item(trained["gray"]).properties["mlm:input"][0]
    rgb_input = create_model_item(trained["rgb"]).properties["mlm:input"][0]
    assert gray_input["name"] == "grayscale chip" and gray_input["pre_processing_function"]["expression"].endswith("to_gray")
    assert rgb_input["name"] == "RGB chip" and rgb_input["pre_processing_function"]["expression"].endswith("to_rgb")
    assert score_provenance(trained["rgb"])["devscore:bands"] == "rgb"
    assert score_provenance(trained["gray"])["devscore:bands"] == "gray"
    proc = devscore("run", "--tiles", "48RVU", "--years", "2023", "--source-catalog", "R/source", "--out", "planned",
                    "--profile", "cpu", "--input-size", "32", "--bands", "rgb", "--plan", cwd=trained["root"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    settings = {line.split()[0]: line.split(None, 2)[1:] for line in
                proc.stdout.split("Training settings")[1].splitlines()[1:] if line.startswith("  ")}
    assert settings["bands"] == ["rgb", "option"] and not (trained["root"] / "planned").exists()
