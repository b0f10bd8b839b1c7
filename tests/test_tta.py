"""Test-time augmentation: the eight dihedral views are the rotations and flips of a chip, and a scorer
averaged over them gives a chip the same score whichever way up it lies (one view does not)."""

from __future__ import annotations

import pytest
import torch

from publisher.scoring.infer import ScoringError, score_chips
from publisher.scoring.model import Scorer
from publisher.scoring.tta import VIEW_COUNTS, predict, view


def test_the_eight_views_are_the_rotations_and_flips():
    image = torch.arange(16.0).reshape(1, 4, 4)
    views = [view(image, k) for k in range(8)]
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8  # all different
    assert torch.equal(views[1], torch.rot90(image, 1, dims=(-2, -1)))
    assert torch.equal(views[4], image.flip(-1))
    for k in range(8):  # closed: a view of a view is a view
        assert any(torch.equal(view(views[k], 1), v) for v in views)


class _Weighted(torch.nn.Module):
    """A scorer that weighs every pixel differently, so orientation matters to it."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((images * self.weights).sum(dim=(1, 2, 3)) / 8)


def test_scores_averaged_over_the_views_do_not_depend_on_orientation():
    model = _Weighted()
    images = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        one = [predict(model, view(images, k), 1) for k in range(8)]
        eight = [predict(model, view(images, k), 8) for k in range(8)]
        four = [predict(model, view(images, k), 4) for k in range(4)]
    spread = lambda scores: max(float((s - scores[0]).abs().max()) for s in scores)  # noqa: E731
    assert spread(one) > 0.05  # one view: orientation matters
    assert spread(eight) < 1e-5 and spread(four) < 1e-5  # the mean over the views: it does not
    assert torch.allclose(eight[0], torch.stack(one).mean(0), atol=1e-6)


def test_an_unknown_view_count_is_refused(tmp_path):
    assert VIEW_COUNTS == (1, 4, 8)
    with pytest.raises(ScoringError, match="views must be one of 1, 4, 8"):
        score_chips(tmp_path / "model.pt", tmp_path, tmp_path / "scores.parquet", views=3, progress=False)
    with pytest.raises(ValueError):
        predict(Scorer(32).eval(), torch.zeros(1, 3, 32, 32), 2)
