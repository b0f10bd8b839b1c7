"""POGs: both file forms, refusals naming the relation at fault, ranks and targets, aggregation and levels,
and `devscore pog`."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import kendalltau, rankdata

import publisher.ranking.aggregate as agg
from bench.bench_pog import consensus_loops, consensus_plain, noisy_ranks
from publisher.ranking.aggregate import aggregate, consensus_ranks, kmeans_1d, rank_matrix
from publisher.ranking.pog import POG, POGError

METHOD_EXAMPLE = "0>1>2>4=3=6>9=12>17=11>13=10>7=20=19=21=5=14=15=16=18=8=22"


def random_pog(rng: np.random.Generator, n: int) -> POG:
    """A random weak order over 0..n-1."""
    order = rng.permutation(n)
    cuts = np.flatnonzero(rng.random(n - 1) < 0.5) + 1
    return POG(tuple(tuple(int(c) for c in part) for part in np.split(order, cuts)))


# --------------------------------------------------------------------------- forms
def test_string_and_edge_forms_round_trip():
    pog = POG.parse(METHOD_EXAMPLE, 23)
    assert pog.to_string() == METHOD_EXAMPLE and len(pog.levels) == 8
    again = POG.parse(pog.to_edges(), 23)
    assert [set(level) for level in again.levels] == [set(level) for level in pog.levels]


def test_edge_list_as_the_reference_writes_it():
    text = "# graph_config\n1<0\n2<1\n4=3=6\n4<2\n5<4\n"
    assert POG.parse(text).levels == ((0,), (1,), (2,), (3, 4, 6), (5,))


def test_edge_list_incomparable_clusters_take_their_longest_chain_level():
    assert POG.parse("1<0\n2<0\n3<1\n3<2\n4<3\n5<1\n").levels == ((0,), (1, 2), (3, 5), (4,))


@pytest.mark.parametrize("text, n, message", [
    ("0>1>0", 2, "cluster 0 appears twice"),
    ("0>1>7", 3, "unknown cluster id 7"),
    ("0>1", 3, r"cluster\(s\) 2 missing"),
    ("0>a>1", None, "'a' .* is not a cluster id"),
    ("0>>1", None, "'' .* is not a cluster id"),
    ("1<0\n2<1\n0<2", 3, r"relation '0<2' \(line 3: '0<2'\) closes a cycle"),
    ("1<0\n0=1", 2, r"relation '0=1' \(line 2.*contradicts an order"),
    ("4=3\n3<4", 5, r"relation '3<4' \(line 2.*contradicts a tie"),
    ("2=1\n1<0\n0=2", 3, r"relation '0=2' \(line 3.*contradicts an order"),
    ("", None, "empty POG"),
])
def test_inconsistent_pogs_are_refused_naming_the_fault(text, n, message):
    with pytest.raises(POGError, match=message) as err:
        POG.parse(text, n)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- numbers
def test_fractional_ranks_are_scipy_s_average_ranks_and_never_collide():
    rng = np.random.default_rng(3)
    for _ in range(200):
        pog = random_pog(rng, int(rng.integers(1, 30)))
        level = np.array([pog.level_of()[c] for c in range(pog.n_clusters)])
        np.testing.assert_array_equal(pog.fractional_ranks(), rankdata(level, method="average"))
    # the reference's "group index + (ties - 1) / 2" gives 0>1=2=3>4 the ranks 0, 2, 2, 2, 2: a collision
    np.testing.assert_array_equal(POG.parse("0>1=2=3>4").fractional_ranks(), [1, 3, 3, 3, 5])


def test_targets_and_the_single_level_case():
    pog = POG.parse("3>0=2>1")
    assert pog.targets() == {3: 1.0, 0: 0.5, 2: 0.5, 1: 0.0}
    assert POG.parse("0=1=2").targets() == {0: 0.5, 1: 0.5, 2: 0.5}


def test_from_scores_groups_within_ten_points_of_the_group_s_first():
    scores = {0: 95.0, 1: 90.0, 2: 84.0, 3: 50.0, 4: 45.0, 5: 10.0, 6: 86.0}
    assert POG.from_scores(scores).to_string() == "0=1=6>2>3=4>5"
    assert POG.from_scores(scores, tie_window=0).to_string() == "0>1>6>2>3>4>5"


# --------------------------------------------------------------------------- aggregation
@pytest.mark.parametrize("weighting", ["robust", "published"])
def test_consensus_matches_the_loop_and_plain_forms(weighting):
    ranks = noisy_ranks(300, 12, seed=5)
    fast, iterations, converged = consensus_ranks(ranks, weighting)
    loops, loop_iterations = consensus_loops(ranks, weighting)
    plain, _ = consensus_plain(ranks, weighting)
    assert converged and iterations == loop_iterations
    np.testing.assert_allclose(fast, loops, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-9)
    np.testing.assert_allclose(consensus_ranks(np.asfortranarray(ranks), weighting)[0], fast, atol=1e-12)


@pytest.mark.parametrize("weighting", ["robust", "published"])
def test_identical_pogs_give_their_own_order(weighting):
    pog = POG.parse(METHOD_EXAMPLE)
    result = aggregate([pog] * 5, 23, weighting=weighting, levels=8)
    assert not np.isnan(result.consensus).any() and result.converged
    np.testing.assert_allclose(result.consensus, pog.fractional_ranks(), rtol=0, atol=1e-12)
    assert result.pog.to_string() == POG(tuple(tuple(sorted(lv)) for lv in pog.levels)).to_string()


def test_the_robust_weighting_outvotes_a_reversed_pog_where_the_published_one_swings_to_it():
    truth = POG(tuple((c,) for c in range(10)))
    reverse = POG(tuple((c,) for c in reversed(range(10))))
    pogs = [truth] * 3 + [reverse]
    robust = aggregate(pogs, 10, weighting="robust", levels=10)
    published = aggregate(pogs, 10, weighting="published", levels=10)
    assert robust.pog == truth
    assert kendalltau(robust.consensus, range(10))[0] == pytest.approx(1.0)
    # the published weights grow with the distance from the consensus, so the consensus jumps to whichever
    # side is farther, back and forth between the true and the reversed order, until the iteration cap
    assert not published.converged and published.iterations == 1000
    swings = [consensus_ranks(rank_matrix(pogs, 10), "published", max_iter=k)[0] for k in (6, 7)]
    assert kendalltau(swings[0], range(10))[0] == pytest.approx(1.0)
    assert kendalltau(swings[1], range(10))[0] == pytest.approx(-1.0)


def test_iteration_cap_is_reported(caplog):
    ranks = noisy_ranks(200, 15, seed=2)
    with caplog.at_level(logging.WARNING):
        result = aggregate(ranks, weighting="robust", max_iter=1, epsilon=0.0)
    assert not result.converged and result.iterations == 1
    assert "without converging" in caplog.text


def test_levels_most_developed_first_with_targets():
    result = aggregate([POG.parse("0>1>2>3>4>5"), POG.parse("1>0>2>3>5>4")], 6, levels=3)
    assert len(result.pog.levels) == 3
    by_level = [result.consensus[list(level)] for level in result.pog.levels]
    assert all(a.max() < b.min() for a, b in zip(by_level, by_level[1:]))  # level 0: smallest ranks
    assert result.targets.tolist() == [1 - result.level_of[c] / 2 for c in range(6)]
    assert result.pog.levels[0] == (0, 1)


# --------------------------------------------------------------------------- exact 1-D K-means
def _sse(x: np.ndarray, labels: np.ndarray) -> float:
    return sum(((x[labels == g] - x[labels == g].mean()) ** 2).sum() for g in np.unique(labels))


def _best_sse(x: np.ndarray, k: int) -> float:
    """Exhaustive search over every split of the sorted distinct values."""
    xs = np.unique(x)
    return min(_sse(x, np.searchsorted(xs[list(cuts)], x, side="right"))
               for cuts in itertools.combinations(range(1, len(xs)), k - 1))


@pytest.mark.parametrize("dense_max", [agg._DENSE_MAX, 0])  # the dense and the divide-and-conquer DP
def test_kmeans_1d_is_exact(monkeypatch, dense_max):
    monkeypatch.setattr(agg, "_DENSE_MAX", dense_max)
    rng = np.random.default_rng(11)
    for trial in range(150):
        x = rng.integers(0, 9, int(rng.integers(1, 11))).astype(float) + (trial % 2) * rng.random()
        k = int(rng.integers(1, 6))
        labels = kmeans_1d(x, k)
        k_eff = min(k, len(np.unique(x)))
        assert len(np.unique(labels)) == k_eff  # capped by the distinct values
        assert _sse(x, labels) == pytest.approx(_best_sse(x, k_eff), abs=1e-9)
        assert all(len(set(labels[x == v])) == 1 for v in np.unique(x))  # equal values share a level
        assert np.all(np.diff(labels[np.argsort(x, kind="stable")]) >= 0)  # labels follow the values


def test_kmeans_1d_paths_agree_on_large_inputs(monkeypatch):
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(m, 1, 400) for m in (0, 5, 9, 20)])
    dense = kmeans_1d(x, 6)
    monkeypatch.setattr(agg, "_DENSE_MAX", 0)
    assert _sse(x, kmeans_1d(x, 6)) == pytest.approx(_sse(x, dense), rel=1e-12)


# --------------------------------------------------------------------------- CLI
def test_cli_aggregate_prints_the_pog_and_writes_json(tmp_path):
    rng = np.random.default_rng(8)
    truth = np.arange(12)
    lines = [POG.from_scores({int(c): float(100 - 8 * c + rng.normal(0, 4)) for c in truth}).to_string()
             for _ in range(8)]
    (tmp_path / "pogs.txt").write_text("\n".join(lines) + "\n")
    proc = _cli("pog", "aggregate", str(tmp_path / "pogs.txt"), "--levels", "5", "--json", str(tmp_path / "a.json"))
    assert proc.returncode == 0, proc.stderr
    final = POG.parse(proc.stdout.strip(), 12)
    assert len(final.levels) == 5
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["pog"] == proc.stdout.strip() and len(data["consensus"]) == 12 and len(data["targets"]) == 12
    assert data["levels"] == [list(level) for level in final.levels]
    assert kendalltau(data["consensus"], truth)[0] > 0.8


def test_cli_refuses_a_malformed_file_in_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "pogs.txt").write_text("0>1>2\n2>1>1\n")
    proc = _cli("pog", "aggregate", str(tmp_path / "pogs.txt"), "--json", str(tmp_path / "a.json"))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: {tmp_path / 'pogs.txt'} line 2: cluster 1 appears twice in '2>1>1'"
    assert not (tmp_path / "a.json").exists()


def test_cli_show_prints_levels_and_targets(tmp_path):
    (tmp_path / "graph.txt").write_text("1<0\n2=3\n2<1\n")
    proc = _cli("pog", "show", str(tmp_path / "graph.txt"), "--edges")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "0>1>2=3"
    assert "level 2: target 0.000  clusters 2, 3" in proc.stdout
    assert "2=3" in out and "1<0" in out


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from devscore.cli import main; main()", *args],
                          capture_output=True, text=True)
