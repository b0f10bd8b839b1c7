"""The two training losses of METHOD.md's Stage 3: the seed loss (regression + soft histogram + linear
mixing) and siScore's rank loss (soft ranks of one batch per POG level)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

#: Histogram bins on [0, 1] of the distribution term.
BINS = 10
#: Width of the soft bin edges (a tenth of a bin): narrow enough to be a histogram, smooth enough to train.
EDGE_WIDTH = 0.01
#: Targets below / above these count twice more in the regression term.
LOW, HIGH = 0.2, 0.8
#: Sharpness of siScore's pairwise soft rank, and the weight of its within-level variance term.
RANK_SHARPNESS, RANK_VARIANCE_WEIGHT = 30.0, 4.0
EPS = 1e-6


def soft_histogram(values: torch.Tensor, bins: int = BINS, width: float = EDGE_WIDTH) -> torch.Tensor:
    """Share of ``values`` (in [0, 1]) per bin, each bin's edges a sigmoid ramp of ``width``, so the histogram
    has a gradient with respect to the values (a hard histogram has none)."""
    edges = torch.linspace(0.0, 1.0, bins + 1, device=values.device, dtype=values.dtype)
    inner = torch.sigmoid((values.reshape(-1, 1) - edges[1:-1].reshape(1, -1)) / width)
    ones = torch.ones_like(inner[:, :1])
    # the outer edges are open, so the first and last bins take everything beyond [0, 1]
    ramps = torch.cat([ones, inner, torch.zeros_like(ones)], dim=1)
    member = ramps[:, :-1] - ramps[:, 1:]
    counts = member.sum(dim=0)
    return counts / counts.sum().clamp_min(EPS)


def histogram_kl(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """KL(histogram(scores) || histogram(targets)) over 10 soft bins."""
    p = soft_histogram(scores) + EPS
    q = soft_histogram(targets) + EPS
    p, q = p / p.sum(), q / q.sum()
    return (p * (p / q).log()).sum()


def regression_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """L_reg = MSE(s, t) + KL(hist(s) || hist(t)) + 2 MSE over the samples whose target is < 0.2 or > 0.8."""
    loss = nn.functional.mse_loss(scores, targets) + histogram_kl(scores, targets)
    extreme = (targets < LOW) | (targets > HIGH)
    if extreme.any():
        loss = loss + 2.0 * nn.functional.mse_loss(scores[extreme], targets[extreme])
    return loss


def linear_loss(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, scores: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
    """L_linear: image i's top lambda H rows over image j's bottom rows (j a shuffled partner, lambda ~ Beta(1, 1)
    = uniform) must score lambda s_i + (1 - lambda) s_j (L1)."""
    n, height = images.shape[0], images.shape[-2]
    partner = torch.randperm(n, generator=generator).to(images.device)
    lam = torch.rand(n, generator=generator).to(images.device, images.dtype)
    top_rows = (lam * height).round()
    rows = torch.arange(height, device=images.device, dtype=images.dtype)
    from_a = (rows.view(1, -1) < top_rows.view(-1, 1)).view(n, 1, height, 1)
    mixed = torch.where(from_a, images, images[partner])
    lam = top_rows / height  # the share actually taken from image i
    return nn.functional.l1_loss(model(mixed), lam * scores + (1 - lam) * scores[partner])


def seed_loss(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, targets: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(2 L_reg + L_linear, scores) of one batch of normalised images and their cluster targets."""
    scores = model(images)
    loss = 2.0 * regression_loss(scores, targets) + linear_loss(model, images, scores, generator)
    return loss, scores


def rank_loss(scores: torch.Tensor) -> torch.Tensor:
    """siScore's loss for (levels, B) scores, level 0 the least developed on the path: the soft rank
    sum_i sigmoid(30 (s_j - s_i)) over the other levels must equal level j's position, plus 4 x the mean
    within-level variance."""
    s = scores.clamp(0.0, 1.0).transpose(0, 1)  # (B, levels)
    levels = s.shape[1]
    pairwise = torch.sigmoid(RANK_SHARPNESS * (s.unsqueeze(1) - s.unsqueeze(2)))  # [b, i, j]: s_j above s_i
    off_diagonal = 1.0 - torch.eye(levels, device=s.device, dtype=s.dtype)
    predicted = (pairwise * off_diagonal).sum(dim=1)
    position = torch.arange(levels, device=s.device, dtype=s.dtype).expand_as(predicted)
    variance = scores.var(dim=1, unbiased=False).mean() if scores.shape[1] > 1 else scores.new_zeros(())
    return nn.functional.mse_loss(predicted, position) + RANK_VARIANCE_WEIGHT * variance
