"""The CLI refuses bad values up front (issue 20, defect 9): each traceback and each silent exit 0 the
probe found, as a named test: one `Error` line, a non-zero exit, nothing written."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pytest

from publisher.scores import GranuleYear, scores_to_table
from tests.test_cli_inputs import _error_lines, _files, devscore

POGS = "0>1>2=3\n1>0>2>3\n0=1>2>3\n"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused(code: int, err: str, *words: str) -> bool:
    lines = _error_lines(err)
    return code != 0 and len(lines) == 1 and "Traceback" not in err and all(w in lines[0] for w in words)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"links": [{"rel": "child"}]}'])
@pytest.mark.parametrize("command", [["serve", "--catalog", "cat", "--port", "1"], ["compare", "--catalog", "cat"],
                                     ["viirs", "ingest", "--raster", "x.tif", "--year", "2023", "--catalog", "cat"]])
def test_an_unreadable_catalog_json_is_one_line(in_tmp, monkeypatch, capsys, content, command):
    (in_tmp / "cat").mkdir()
    (in_tmp / "cat" / "catalog.json").write_text(content)
    (in_tmp / "x.tif").write_bytes(b"II*\x00")
    code, _, err = devscore(monkeypatch, capsys, *command)
    assert _refused(code, err, "catalog.json"), err[-500:]


def test_serve_on_an_empty_catalog_is_one_line(in_tmp, monkeypatch, capsys):
    (in_tmp / "cat").mkdir()
    (in_tmp / "cat" / "catalog.json").write_text("{}")
    code, _, err = devscore(monkeypatch, capsys, "serve", "--catalog", "cat", "--port", "1")
    assert _refused(code, err, "publish"), err[-500:]


def test_rank_out_an_existing_file_is_refused(in_tmp, monkeypatch, capsys):
    (in_tmp / "chips").mkdir()
    (in_tmp / "taken").write_text("mine")
    code, _, err = devscore(monkeypatch, capsys, "rank", "--chips", "chips", "--out", "taken", "--ranker", "heuristic")
    assert _refused(code, err, "--out") and (in_tmp / "taken").read_text() == "mine"


@pytest.mark.parametrize("sigma", ["1e-300", "nan", "inf", "-inf", "0", "1e300"])
def test_pog_aggregate_refuses_unusable_sigmas(in_tmp, monkeypatch, capsys, sigma):
    (in_tmp / "pogs.txt").write_text(POGS)
    code, out, err = devscore(monkeypatch, capsys, "pog", "aggregate", "pogs.txt", "--sigma", sigma)
    assert _refused(code, err, "--sigma") and out == "", err[-500:]


def test_pog_aggregate_json_empty_path_is_refused(in_tmp, monkeypatch, capsys):
    (in_tmp / "pogs.txt").write_text(POGS)
    code, _, err = devscore(monkeypatch, capsys, "pog", "aggregate", "pogs.txt", "--json", "")
    assert _refused(code, err, "--json") and _files(in_tmp) == ["pogs.txt"]


@pytest.mark.parametrize("args", [["train", "--out", "", "--ranking", "r", "--chips", "c"],
                                  ["run", "--out", "", "--tiles", "48RVU", "--years", "2023"],
                                  ["rank", "--chips", "c", "--out", ""],
                                  ["score", "--checkpoint", "", "--chips", "c", "--out", "s.csv"]])
def test_empty_out_paths_do_not_write_into_the_current_folder(in_tmp, monkeypatch, capsys, args):
    (in_tmp / "r").mkdir()
    (in_tmp / "c").mkdir()
    code, _, err = devscore(monkeypatch, capsys, *args)
    assert _refused(code, err, "empty path") and _files(in_tmp) == ["c", "r"], err[-500:]


def _scores(year: int):
    scores = np.full((32, 32), 0.5, dtype=np.float32)
    return scores_to_table([GranuleYear("48RVU", year, dt.datetime(year, 4, 1, tzinfo=dt.timezone.utc), None,
                                        scores)])


def test_publish_of_a_year_before_sentinel2_is_refused(in_tmp, monkeypatch, capsys):
    """An 1850 datetime was published, advertised by the server and then answered 422."""
    table = _scores(2023)
    table["datetime"] = "1850-04-01T00:00:00Z"
    table.to_csv(in_tmp / "scores.csv", index=False)
    code, _, err = devscore(monkeypatch, capsys, "publish", "--scores", "scores.csv", "--catalog", "cat")
    assert _refused(code, err, "1850" if "1850" in err else "year", "--any-year") and not (in_tmp / "cat").exists()
    table["datetime"] = "1899-04-01T00:00:00Z"  # past what the server serves even on purpose
    table.to_csv(in_tmp / "scores.csv", index=False)
    code, _, err = devscore(monkeypatch, capsys, "publish", "--scores", "scores.csv", "--catalog", "cat", "--any-year")
    assert _refused(code, err, "year") and not (in_tmp / "cat").exists()


@pytest.mark.parametrize("bad", ["garbage", "truncated-gzip"])
def test_run_refuses_a_bad_nightlights_file_before_the_first_stage(in_tmp, monkeypatch, capsys, bad):
    """`devscore run` found a bad --nightlights file only after training."""
    if bad == "garbage":
        path = in_tmp / "VNL_npp_2023_global.average.dat.tif"
        path.write_text("not a raster")
    else:
        path = in_tmp / "VNL_npp_2023_global.average.dat.tif.gz"
        path.write_bytes(gzip.compress(b"II*\x00" + b"\x00" * 5000)[:40])
    code, _, err = devscore(monkeypatch, capsys, "run", "--out", "out", "--tiles", "48RVU", "--years", "2023",
                            "--nightlights", path.name, "--ranker", "heuristic")
    assert _refused(code, err, path.name), err[-800:]
    assert not (in_tmp / "out").exists() or _files(in_tmp / "out") == []


def test_run_refuses_an_unreadable_catalog_before_the_first_stage(in_tmp, monkeypatch, capsys):
    (in_tmp / "cat").mkdir()
    (in_tmp / "cat" / "catalog.json").write_text("{not json")
    code, _, err = devscore(monkeypatch, capsys, "run", "--out", "out", "--tiles", "48RVU", "--years", "2023",
                            "--catalog", "cat", "--ranker", "heuristic")
    assert _refused(code, err, "catalog.json"), err[-800:]
    assert not (in_tmp / "out").exists() or _files(in_tmp / "out") == []


def test_a_second_writer_is_told_at_once(in_tmp, monkeypatch, capsys):
    """The losing writer of two learned it only after staging (for `devscore run`: after training)."""
    from catalog.nightlights.ingest import ingest
    from catalog.store import CatalogError, catalog_lock

    (in_tmp / "cat").mkdir()
    (in_tmp / "cat" / "catalog.json").write_text('{"type": "Catalog", "id": "c", "description": "c", "links": []}')
    with catalog_lock(in_tmp / "cat"):
        code, _, err = devscore(monkeypatch, capsys, "run", "--out", "out", "--tiles", "48RVU", "--years", "2023",
                                "--catalog", "cat", "--ranker", "heuristic")
        assert _refused(code, err, "being written"), err[-800:]
        assert not (in_tmp / "out").exists() or _files(in_tmp / "out") == []
        with pytest.raises(CatalogError, match="being written"):
            ingest([in_tmp / "missing.tif"], 2023, in_tmp / "cat")  # before it opens the rasters
