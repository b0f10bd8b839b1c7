"""The quality figure: published chip scores against the synthetic truth, with a shuffled control."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from publisher.errors import DevscoreError
from publisher.imagery.cut import cut_chips
from publisher.imagery.synth import synthesize
from publisher.mpi import world
from publisher.imagery.truth import chip_truth_table
from publisher.quality import assess, write_quality_report


@pytest.fixture(scope="module")
def region_chips(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    synthesize(tmp / "region", tiles=("48RUU",), years=(2023,), scenes_per_year=1, size=320, seed=3, progress=False)
    cut_chips([("48RUU", 2023)], {"source_catalog": tmp / "region" / "source", "max_cloud": 100}, tmp / "chips", world())
    return tmp / "region", tmp / "chips"


def _scores(truth: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"tile": truth["tile"], "datetime": truth["year"].astype(str) + "-05-01", "row": truth["row"],
                         "col": truth["col"], "score": values})


def test_chip_truth_table_covers_every_chip_and_both_terrains(region_chips):
    truth = chip_truth_table(region_chips[0], region_chips[1])
    assert len(truth) == 1024 and truth["truth"].between(0, 1).all()
    assert 0 < truth["plain"].mean() < 1  # 48RUU straddles the mountain front


def test_agreement_follows_the_scores(region_chips, tmp_path):
    truth = chip_truth_table(region_chips[0], region_chips[1])
    rng = np.random.default_rng(0)
    noisy = assess(_scores(truth, truth["truth"].to_numpy() + rng.normal(0, 0.002, len(truth))), truth)
    assert noisy.all.spearman > 0.9 and noisy.plain.spearman > 0.8
    assert abs(noisy.shuffled_control.spearman) < 0.1
    inverted = assess(_scores(truth, -truth["truth"].to_numpy()), truth)
    assert inverted.all.spearman == pytest.approx(-1.0)
    unrelated = assess(_scores(truth, rng.random(len(truth))), truth)
    assert abs(unrelated.all.spearman) < 0.1
    paths = write_quality_report(noisy, _scores(truth, truth["truth"].to_numpy()), truth, tmp_path / "report")
    assert json.loads(paths[0].read_text())["all"]["n"] == 1024
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scores_of_another_region_are_refused(region_chips):
    truth = chip_truth_table(region_chips[0], region_chips[1])
    elsewhere = _scores(truth, truth["truth"].to_numpy()).assign(tile="48RVT")
    with pytest.raises(DevscoreError, match="do not overlap"):
        assess(elsewhere, truth)


def test_baselines_intervals_and_shuffled_spread(region_chips, tmp_path):
    """The report sets the published figure beside baselines: a better baseline comes out ahead (the paired
    interval of published minus it lies below 0), a worse one behind; the block-bootstrap interval holds the
    figure; the shuffled control centres on 0 with a spread."""
    from publisher.quality import RANKER_INDEX, cluster_targets, ranker_index

    truth = chip_truth_table(region_chips[0], region_chips[1])
    rng = np.random.default_rng(1)
    spread = truth["truth"].std()
    scores = _scores(truth, truth["truth"].to_numpy() + rng.normal(0, spread / 2, len(truth)))
    keys = truth[["tile", "year", "row", "col"]]
    better = keys.assign(value=truth["truth"].to_numpy() + rng.normal(0, spread / 20, len(truth)))
    worse = keys.assign(value=truth["truth"].to_numpy() + rng.normal(0, spread * 2, len(truth))).iloc[::2]
    report = assess(scores, truth, baselines={"better": better, "worse": worse})
    assert report.interval_all.low < report.all.spearman < report.interval_all.high
    assert report.interval_plain.low < report.plain.spearman < report.interval_plain.high
    by_name = {b.name: b for b in report.baselines}
    assert by_name["better"].all.spearman > report.all.spearman and by_name["better"].gain_all.high < 0
    assert by_name["worse"].all.n == len(worse) and by_name["worse"].gain_all.low > 0
    assert report.shuffled.permutations == 200 and 0 < report.shuffled.sd < 0.1
    assert abs(report.shuffled.mean) < 3 * report.shuffled.sd
    text = "\n".join(report.lines())
    assert "better" in text and "published minus this" in text and "200 permutations" in text

    # the baselines `devscore run` uses: cluster targets of a ranking folder, the heuristic ranker's index
    ranking = tmp_path / "ranking"
    ranking.mkdir()
    clusters = keys.assign(cluster=(truth["truth"].rank(pct=True) * 2.999).astype(int))
    clusters.to_parquet(ranking / "clusters.parquet")
    (ranking / "targets.json").write_text(json.dumps({"targets": {"0": 0.0, "1": 0.5, "2": 1.0}}))
    targets = cluster_targets(ranking)
    assert set(targets["value"]) == {0.0, 0.5, 1.0} and len(targets) == len(truth)
    index = ranker_index(region_chips[1])
    assert 500 < len(index) <= 1024 and index["value"].between(0, 1).all()
    full = assess(scores, truth, baselines={"cluster targets": targets, RANKER_INDEX: index})
    paths = write_quality_report(full, scores, truth, tmp_path / "report")
    saved = json.loads(paths[0].read_text())
    assert [b["name"] for b in saved["baselines"]] == ["cluster targets", RANKER_INDEX]
    assert saved["interval_all"]["low"] is not None and saved["shuffled"]["sd"] > 0
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
