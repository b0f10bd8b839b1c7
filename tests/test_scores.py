"""The chip-score table: granule-year splitting, nodata chips and one-line errors naming rows."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from publisher.scores import GranuleYear, ScoreTableError, read_chip_scores, scores_to_table


def _table(**overrides) -> pd.DataFrame:
    base = {
        "tile": ["48RVU", "48RVU", "48RVU", "48RUU"],
        "datetime": ["2023-04-12T03:35:41Z", "2023-04-12T03:35:41Z", "2023-04-12T03:35:41Z", "2022-05-01"],
        "row": [0, 0, 31, 5],
        "col": [0, 1, 31, 6],
        "score": [0.1, 0.9, 0.5, 1.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def _write(tmp_path, df, name="scores.csv"):
    path = tmp_path / name
    if name.endswith(".csv"):
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path)
    return path


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_granule_years_and_nodata(tmp_path, name):
    granules = read_chip_scores(_write(tmp_path, _table(), name))
    assert [g.id for g in granules] == ["48RUU-2022", "48RVU-2023"]
    g = granules[1]
    assert g.datetime == dt.datetime(2023, 4, 12, 3, 35, 41, tzinfo=dt.timezone.utc)
    assert g.scores.shape == (32, 32) and g.scores.dtype == np.float32
    assert g.scores[0, 1] == pytest.approx(0.9) and g.scores[31, 31] == pytest.approx(0.5)
    assert np.isnan(g.scores).sum() == 1024 - 3  # absent chips are nodata, not zero
    assert g.scene_id is None


def test_round_trip_through_table(tmp_path, chip_scores):
    g = GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 12, tzinfo=dt.timezone.utc), "S2A_X", chip_scores)
    back = read_chip_scores(_write(tmp_path, scores_to_table([g])))[0]
    np.testing.assert_array_equal(back.scores, chip_scores)
    assert back.scene_id == "S2A_X"


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"score": [0.1, 1.5, 0.5, 1.0]}, r"score must be a number in \[0, 1\].* at line 3$"),
        ({"score": [0.1, np.nan, 0.5, -0.1]}, r"score .* at lines 3, 5$"),
        ({"row": [0, 0, 32, 5]}, r"row must be an integer in 0..31 at line 4$"),
        ({"col": [0, 1.5, 31, 6]}, r"col must be an integer .* at line 3$"),
        ({"col": [0, 0, 31, 6]}, r"duplicate chips .* at lines 2, 3$"),
        ({"datetime": ["2023-04-12", "2023-05-12", "2023-04-12", "2022-05-01"]}, r"48RVU-2023 mixes scenes .* lines 2, 3, 4"),
        ({"datetime": ["yesterday", "2023-04-12", "2023-04-12", "2022-05-01"]}, r"datetime is not an ISO .* line 2$"),
        ({"tile": ["48RVU", "48RVU", "48RVU", "99XYZ"]}, r"zone 99 .* at line 5$"),
    ],
)
def test_bad_tables_name_the_rows(tmp_path, overrides, message):
    with pytest.raises(ScoreTableError, match=message):
        read_chip_scores(_write(tmp_path, _table(**overrides)))


def test_missing_columns_and_files(tmp_path):
    with pytest.raises(ScoreTableError, match="missing required columns row, score"):
        read_chip_scores(_write(tmp_path, _table().drop(columns=["row", "score"])))
    with pytest.raises(ScoreTableError, match="does not exist"):
        read_chip_scores(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ScoreTableError, match="must be .csv or .parquet"):
        read_chip_scores(tmp_path / "x.json")


def test_two_scenes_by_scene_id(tmp_path):
    df = _table(scene_id=["A", "B", "A", "C"])
    with pytest.raises(ScoreTableError, match="mixes scenes"):
        read_chip_scores(_write(tmp_path, df))
