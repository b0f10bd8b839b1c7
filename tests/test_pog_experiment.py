"""The weighting experiment: honest POGs recover the truth, a shuffled truth stays near 0, and the default
weighting is the one that holds up best under corrupted POGs."""

from __future__ import annotations

from publisher.ranking.aggregate import DEFAULT_WEIGHTING
from publisher.ranking.experiment import markdown, plot, run


def test_experiment_recovers_the_truth_and_its_control_stays_near_zero(tmp_path):
    cells = run(trials=25, seed=1, shares=(0.0, 0.4), progress=False)
    clean, corrupted = cells
    assert all(tau > 0.8 for tau in clean.consensus.values())
    assert all(abs(c.shuffled) < 0.1 for c in cells)
    best = max(corrupted.levels, key=corrupted.levels.get)
    assert best == DEFAULT_WEIGHTING
    assert corrupted.levels[DEFAULT_WEIGHTING] > corrupted.mean_rank  # reweighting helps over the plain mean
    table = markdown(cells, 25)
    assert table.count("\n") == 3 and "| 40% |" in table
    plot(cells, tmp_path / "tau.png")
    assert (tmp_path / "tau.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
