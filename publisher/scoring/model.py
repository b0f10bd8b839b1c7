"""The scorer: torchvision's ResNet-18 with one output squashed by a steep sigmoid, and its checkpoints.

A checkpoint is a dict saved by :func:`torch.save` and loaded with ``weights_only=True`` (no pickled
code), always strictly: a file whose keys do not match the architecture is an error, never a silent
partial load.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet18

from publisher.atomic import atomic_path
from publisher.constants import BANDS, DEFAULT_BANDS, NATIVE_INPUT_SIZE
from publisher.errors import DevscoreError

ARCHITECTURE = "resnet18"
#: Steepness of the output sigmoid, s = 1 / (1 + exp(-BETA x)).
BETA = 5.0
#: ImageNet channel statistics each input channel is normalised with (a grayscale chip replicated to 3 channels,
#: or an RGB chip's red, green and blue).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Layers a user's ``--weights`` file may lack or carry in another shape: the classification head.
HEAD_PREFIX = "fc."
CHECKPOINT_FORMAT = "devscore-scorer/1"


class CheckpointError(DevscoreError):
    """A weights or checkpoint file that cannot be used as this scorer."""


class Scorer(nn.Module):
    """ResNet-18 (random initialisation, its one-output head at zero) giving one value x per image;
    ``forward`` returns s = sigmoid(5 x) in [0, 1]. Input: (N, 3, S, S) float, normalised by :func:`normalise`,
    made from the chip's ``bands`` (:data:`~publisher.constants.BANDS`; its first conv takes 3 channels either way)."""

    def __init__(self, input_size: int = NATIVE_INPUT_SIZE, bands: str = DEFAULT_BANDS) -> None:
        super().__init__()
        if input_size < 32:
            raise DevscoreError(f"input size {input_size} px is too small for ResNet-18 (at least 32)")
        if bands not in BANDS:
            raise DevscoreError(f"unknown bands {bands!r}; choose one of {', '.join(BANDS)}")
        self.input_size, self.bands = input_size, bands
        self.backbone = resnet18(weights=None, num_classes=1)
        # The head starts at zero, so every score starts at 0.5 where the sigmoid is steepest. A random head
        # sends part of the chips into its flat tails at once, where the rank loss has no gradient left to
        # order them (the demo's plain collapsed onto 1.0: Spearman 0.39 there, 0.53 with this).
        nn.init.zeros_(self.backbone.fc.weight)
        nn.init.zeros_(self.backbone.fc.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(BETA * self.backbone(images).squeeze(1))


def normalise(chips: torch.Tensor) -> torch.Tensor:
    """(N, S, S) uint8 grayscale chips (replicated to 3 channels) or (N, 3, S, S) uint8 RGB chips -> (N, 3, S, S)
    float32, each channel ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=chips.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=chips.device).view(1, 3, 1, 1)
    x = chips.to(torch.float32).div_(255.0)
    if x.ndim == 3:
        x = x.unsqueeze(1).expand(-1, 3, -1, -1)
    return (x - mean) / std


def input_shape(size: int, bands: str) -> tuple[int, ...]:
    """Shape of one chip as :func:`to_input` gives it: (S, S) grayscale or (3, S, S) RGB."""
    return (size, size) if bands == "gray" else (3, size, size)


def to_input(chips: torch.Tensor, size: int, bands: str) -> torch.Tensor:
    """(N, s, s, 3) uint8 RGB chips -> the scorer's uint8 input at ``size`` px: :func:`to_gray` or :func:`to_rgb`."""
    return to_gray(chips, size) if bands == "gray" else to_rgb(chips, size)


def to_rgb(chips: torch.Tensor, size: int) -> torch.Tensor:
    """(N, s, s, 3) uint8 RGB chips -> (N, 3, size, size) uint8, channels first, resampled with antialiasing."""
    rgb = chips.permute(0, 3, 1, 2)
    if rgb.shape[-1] != size:
        rgb = nn.functional.interpolate(rgb.to(torch.float32), size=(size, size), mode="bilinear", antialias=True,
                                        align_corners=False).round_().clamp_(0, 255)
    return rgb.to(torch.uint8).contiguous()


def to_gray(chips: torch.Tensor, size: int) -> torch.Tensor:
    """(N, s, s, 3) uint8 RGB chips -> (N, size, size) uint8 luma (ITU-R 601), resampled with antialiasing."""
    weights = torch.tensor((0.299, 0.587, 0.114), dtype=torch.float32)
    gray = (chips.to(torch.float32) @ weights).unsqueeze(1)
    if gray.shape[-1] != size:
        gray = nn.functional.interpolate(gray, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return gray.squeeze(1).round_().clamp_(0, 255).to(torch.uint8)


def load_weights(model: Scorer, path: str | Path) -> None:
    """Load a user's weights file into ``model`` strictly: a torchvision ResNet-18 state dict (its 1000-class
    head is left out) or a devscore checkpoint. Any other missing or unexpected key is an error."""
    state = _read(path)
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        _check_bands(state, path, model.bands)
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{Path(path).name}: not a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if not any(k.startswith("backbone.") for k in state):
        state = {f"backbone.{k}": v for k, v in state.items()}
    own = model.state_dict()
    head = f"backbone.{HEAD_PREFIX}"
    for key, value in list(state.items()):
        if key.startswith(head) and (key not in own or own[key].shape != value.shape):
            del state[key]
    missing = [k for k in own if k not in state and not k.startswith(head)]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for what, keys in (("missing", missing), ("unexpected", unexpected),
                                              ("other shape", wrong)) if keys)
        raise CheckpointError(f"{Path(path).name} is not a {ARCHITECTURE} state dict ({detail})")
    head_keys = [k for k in own if k.startswith(head) and k not in state]
    for key in head_keys:
        state[key] = own[key]
    model.load_state_dict(state, strict=True)


def _read(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name}: corrupt or not a torch checkpoint ({reason[:120]})") from None
    except Exception as exc:  # torch's unpickler raises pickle.UnpicklingError and friends
        raise CheckpointError(f"{path.name}: cannot be read as a checkpoint ({type(exc).__name__})") from None


def save_checkpoint(path: str | Path, model: Scorer, meta: dict[str, Any]) -> Path:
    """Write the scorer's weights with ``meta`` (config, POG, data fingerprint, ...) atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "architecture": ARCHITECTURE, "input_size": model.input_size,
               "bands": model.bands,
               "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **meta}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A devscore checkpoint's dict, checked for format and architecture (weights not yet loaded)."""
    payload = _read(path)
    name = Path(path).name
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{name} is not a devscore scorer checkpoint (train one with `devscore train`)")
    if payload.get("architecture") != ARCHITECTURE:
        raise CheckpointError(f"{name} holds a {payload.get('architecture')!r} model; devscore scores with {ARCHITECTURE}")
    return payload


def checkpoint_bands(payload: dict[str, Any], path: str | Path) -> str:
    """The bands a checkpoint's scorer was trained on (checkpoints from before the option: grayscale)."""
    bands = payload.get("bands", "gray")
    if bands not in BANDS:
        raise CheckpointError(f"{Path(path).name} was trained on unknown bands {bands!r} (known: {', '.join(BANDS)})")
    return bands


def _check_bands(payload: dict[str, Any], path: str | Path, bands: str) -> None:
    trained = checkpoint_bands(payload, path)
    if trained != bands:
        raise CheckpointError(f"{Path(path).name} was trained on {trained} chips, not {bands}")


def load_scorer(path: str | Path, input_size: int | None = None, bands: str | None = None
                ) -> tuple[Scorer, dict[str, Any]]:
    """The scorer of a checkpoint, weights loaded strictly, and the checkpoint's metadata; the model carries
    the bands it was trained on, which scoring feeds it.

    ``input_size`` and ``bands``, when given, must be what the model was trained on."""
    payload = read_checkpoint(path)
    size = int(payload["input_size"])
    if input_size is not None and input_size != size:
        raise CheckpointError(f"{Path(path).name} was trained on {size} px inputs, not {input_size} px")
    if bands is not None:
        _check_bands(payload, path, bands)
    model = Scorer(size, checkpoint_bands(payload, path))
    try:
        model.load_state_dict(payload["model"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).name}: weights do not fit {ARCHITECTURE} "
                              f"({str(exc).splitlines()[0][:150]})") from None
    return model, {k: v for k, v in payload.items() if k != "model"}


def pick_device(device: str = "auto") -> torch.device:
    """CUDA when present and ``device`` is "auto", else CPU; an explicit "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DevscoreError("--device cuda asked for, but no CUDA GPU is available")
    return torch.device(device)
