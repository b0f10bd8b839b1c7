"""The ResNet-18 that categorises and embeds chips: construction, strict weight loading, batched
inputs and 512-d features, on CUDA when there is one and on the CPU otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from publisher.errors import DevscoreError

log = logging.getLogger(__name__)

#: ImageNet statistics, as torchvision's and torchgeo's RGB ResNets expect.
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
#: Keys of the final layer, the only ones a weights file may lack or carry in excess.
HEAD_KEYS = ("fc.weight", "fc.bias")
#: Prefixes that trainers wrap a ResNet's keys in (Lightning's ``model.``, DataParallel's ``module.``).
WRAPPER_PREFIXES = ("model.", "module.", "backbone.", "encoder.")


class WeightsError(DevscoreError):
    """A ``--weights`` file that is not a ResNet-18 state dict."""


def device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_backbone(weights: str | Path | None = None, seed: int = 0) -> nn.Module:
    """A ResNet-18 without its final layer (``fc`` is the identity, so it outputs 512-d features):
    seeded random initialisation, or the state dict in ``weights`` loaded strictly."""
    torch.manual_seed(seed)
    model = resnet18(weights=None)
    if weights is not None:
        load_weights(model, weights)
    model.fc = nn.Identity()
    return model


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a torchvision- or torchgeo-style ResNet-18 state dict into ``model``; any key missing or
    left over, other than the final layer's, or any shape mismatch, is an error naming the keys."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"weights file {path} does not exist") from None
    except Exception as exc:  # pickle, zip and torch errors all mean "not a state dict file"
        raise WeightsError(f"{path.name}: not a torch state dict ({str(exc).splitlines()[0][:200]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name}: not a state dict of tensors")
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - set(HEAD_KEYS))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(state) & set(expected) - set(HEAD_KEYS) if state[k].shape != expected[k].shape)
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    if shapes:
        problems.append("wrong shape " + _names([f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}" for k in shapes]))
    if problems:
        raise WeightsError(f"{path.name} is not a ResNet-18 state dict: " + "; ".join(problems))
    body = {k: v for k, v in state.items() if k not in HEAD_KEYS}
    result = model.load_state_dict(body, strict=False)
    assert set(result.missing_keys) <= set(HEAD_KEYS) and not result.unexpected_keys
    log.info("loaded %d tensors from %s (final layer left to training)", len(body), path)


def _names(keys: list[str], shown: int = 6) -> str:
    """``a, b, c (+4 more)``."""
    more = f" (+{len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def to_input(chips: np.ndarray, size: int) -> torch.Tensor:
    """(n, s, s, 3) uint8 chips as a normalised (n, 3, size, size) float tensor (antialiased resize)."""
    x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - MEAN) / STD


@torch.no_grad()
def embed(backbone: nn.Module, inputs: torch.Tensor, batch: int = 128) -> np.ndarray:
    """512-d features of every input (eval mode), as float32 numpy."""
    dev = device()
    backbone.to(dev).eval()
    out = [backbone(inputs[i:i + batch].to(dev)).float().cpu() for i in range(0, len(inputs), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, 512), np.float32)


def fit_head(backbone: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, epochs: int, seed: int,
             lr: float = 1e-3, batch: int = 32, desc: str = "training") -> nn.Linear:
    """Train ``backbone`` and a freshly initialised linear head (both given to the optimizer) on soft
    targets (n, k) with soft cross-entropy; returns the head. Random 90-degree rotations and flips."""
    from publisher.progress import tqdm

    dev = device()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Linear(512, targets.shape[1])
    backbone.to(dev).train()
    head.to(dev).train()
    optimiser = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=lr)
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", leave=False):
        order = torch.randperm(len(inputs), generator=gen)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x = torch.rot90(inputs[idx], int(torch.randint(4, (1,), generator=gen)), dims=(2, 3))
            if torch.rand(1, generator=gen) < 0.5:
                x = x.flip(3)
            logits = head(backbone(x.to(dev)))
            loss = -(targets[idx].to(dev) * F.log_softmax(logits, dim=1)).sum(1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    recalibrate_batch_norm(backbone, inputs, batch=batch)
    head.eval()
    return head


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, inputs: torch.Tensor, batch: int = 32) -> None:
    """Recompute batch-norm running statistics as exact averages over ``inputs`` ("precise BN"):
    after the few optimiser steps a CPU run takes, the running averages still hold their initial
    values and would make evaluation-mode outputs meaningless."""
    dev = device()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.to(dev).train()
    for i in range(0, len(inputs), batch):
        if len(inputs[i:i + batch]) > 1:
            model(inputs[i:i + batch].to(dev))
    for m in norms:
        m.momentum = 0.1
    model.eval()


@torch.no_grad()
def predict(backbone: nn.Module, head: nn.Module, inputs: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Class probabilities (n, k) of every input."""
    features = torch.from_numpy(embed(backbone, inputs, batch)).to(device())
    return torch.softmax(head(features), dim=1).cpu().numpy()
