"""Test-time augmentation: a chip's score as the scorer's mean over its dihedral views (the 90-degree
rotations and the flip the training already shows it, `publisher.scoring.data.augment`), so the published
score does not depend on which way up the chip happens to lie."""

from __future__ import annotations

import torch
from torch import nn

#: Views a chip can be scored from: 1 (as it is), 4 (the four rotations) or 8 (rotations, each also flipped).
VIEW_COUNTS = (1, 4, 8)


def view(images: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th dihedral view (0-7) of (..., S, S) images: k mod 4 quarter turns, flipped when k >= 4."""
    turned = torch.rot90(images, k % 4, dims=(-2, -1))
    return turned.flip(-1) if k >= 4 else turned


def predict(model: nn.Module, images: torch.Tensor, views: int = 1) -> torch.Tensor:
    """``model``'s mean score over the first ``views`` dihedral views of ``images`` (N, C, S, S)."""
    if views not in VIEW_COUNTS:
        raise ValueError(f"views must be one of {VIEW_COUNTS}, not {views}")
    total = model(images).float()
    for k in range(1, views):
        total += model(view(images, k)).float()
    return total / views
