"""The CLI as a careless user drives it: relative paths work everywhere, and empty or garbage
arguments give one line, a non-zero exit and nothing on disk (no traceback, no silent no-op)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pystac
import pytest

from devscore.cli import main
from publisher.errors import DevscoreError
from publisher.imagery.synth import synthesize
from publisher.scores import GranuleYear, scores_to_table

ROOT = Path(__file__).resolve().parents[1]


def devscore(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``devscore ARGS`` through the console script's entry point, in the current folder;
    returns (exit code, stdout, stderr). An exception escaping ``main`` (a traceback) fails the test."""
    monkeypatch.setattr(sys, "argv", ["devscore", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("Error")]


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_takes_relative_paths(in_tmp, monkeypatch, capsys, schema_dir):
    """synth -> acquire -> chips and publish -> validate, all with folders relative to the working
    directory, as the README's examples write them."""
    code, _, err = devscore(monkeypatch, capsys, "synth", "--out", "region", "--tiles", "48RVU", "--years", "2023",
                            "--size", "128", "--scenes-per-year", "2")
    assert code == 0, err
    root = pystac.Catalog.from_file("region/source/catalog.json")
    for item in root.get_items(recursive=True):
        visual = Path(item.assets["visual"].get_absolute_href())
        assert visual.is_file() and visual.parent == (in_tmp / "region/source/sentinel-2-l2a" / item.id)
        assert item.assets["visual"].href == "./visual.tif"
    code, out, err = devscore(monkeypatch, capsys, "acquire", "--tile", "48RVU", "--year", "2023",
                              "--source-catalog", "region/source", "--max-cloud", "100")
    assert code == 0 and "Chosen: S2A_MSIL2A_2023" in out, err
    code, out, err = devscore(monkeypatch, capsys, "chips", "--tile", "48RVU", "--year", "2023",
                              "--source-catalog", "region/source", "--out", "chips", "--max-cloud", "100")
    assert code == 0 and (in_tmp / "chips" / "48RVU-2023.npz").is_file(), err

    scores = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    granule = GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 1, tzinfo=dt.timezone.utc), None, scores)
    scores_to_table([granule]).to_csv("scores.csv", index=False)
    code, out, err = devscore(monkeypatch, capsys, "publish", "--scores", "scores.csv", "--catalog", "out/catalog",
                              "--no-progress")
    assert code == 0 and "1 added" in out, err
    code, out, err = devscore(monkeypatch, capsys, "validate", "out/catalog", "--schemas", str(schema_dir))
    assert code == 0 and out.strip().endswith("out/catalog: valid"), out + err
    (in_tmp / "out" / "catalog" / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json").unlink()
    code, out, err = devscore(monkeypatch, capsys, "validate", "out/catalog", "--schemas", str(schema_dir))
    assert code == 1 and "cannot read the catalog" in out and len(_error_lines(err)) == 1


def test_relative_synth_library_call_writes_hrefs_inside_the_catalog(in_tmp):
    result = synthesize("region", tiles=("48RVU",), years=(2023,), scenes_per_year=1, size=64, progress=False)
    visual = Path(result.scenes[0].assets["visual"].get_absolute_href())
    assert visual.is_file() and visual.is_relative_to(in_tmp / "region" / "source")


BAD_SOURCE = {"garbage": "{not json", "list": "[]", "wrong type": '{"type": "Catalog", "id": "x"}'}


@pytest.mark.parametrize("content", BAD_SOURCE.values(), ids=BAD_SOURCE.keys())
@pytest.mark.parametrize("command", ["acquire", "chips"])
def test_an_invalid_source_catalog_is_one_line(in_tmp, monkeypatch, capsys, content, command):
    (in_tmp / "src").mkdir()
    (in_tmp / "src" / "catalog.json").write_text(content)
    args = ["--tile", "48RVU", "--year", "2023", "--source-catalog", "src"]
    code, _, err = devscore(monkeypatch, capsys, command, *args, *(["--out", "chips"] if command == "chips" else []))
    assert code == 1 and _error_lines(err) == [line for line in err.splitlines() if line.strip()]
    assert "cannot read the source catalog src/catalog.json" in err
    assert not (in_tmp / "chips").exists()


SOURCE = ["--source-catalog", "src", "--max-cloud", "100"]
#: (arguments, what the one error line says): each is refused as a usage error, exit code 2.
USAGE_ERRORS = {
    "synth empty tiles": (["synth", "--out", "r", "--tiles", ""], "'--tiles': '' gives no value"),
    "synth comma tiles": (["synth", "--out", "r", "--tiles", " , "], "gives no value"),
    "synth empty years": (["synth", "--out", "r", "--tiles", "48RVU", "--years", ""], "'--years': '' gives no value"),
    "synth year 99999": (["synth", "--out", "r", "--tiles", "48RVU", "--years", "2023,99999", "--size", "64"],
                         "99999 is not in the range 2015<=x<=2100"),
    "synth year 0": (["synth", "--out", "r", "--tiles", "48RVU", "--years", "0", "--size", "64"], "2015<=x<=2100"),
    "synth 13 scenes": (["synth", "--out", "r", "--tiles", "48RVU", "--scenes-per-year", "13"], "1<=x<=12"),
    "synth negative seed": (["synth", "--out", "r", "--tiles", "48RVU", "--seed", "-1"], "x>=0"),
    "synth empty out": (["synth", "--out", "", "--tiles", "48RVU", "--size", "64"], "an empty path is not allowed"),
    "chips empty tile": (["chips", "--tile", "", "--year", "2023", *SOURCE, "--out", "c"], "'--tile': '' gives no value"),
    "chips comma tile": (["chips", "--tile", ",,,", "--year", "2023", *SOURCE, "--out", "c"], "gives no value"),
    "chips empty year": (["chips", "--tile", "48RVU", "--year", "", *SOURCE, "--out", "c"], "'--year': '' gives no value"),
    "chips year 99999": (["chips", "--tile", "48RVU", "--year", "99999", *SOURCE, "--out", "c"], "2015<=x<=2100"),
    "chips empty out": (["chips", "--tile", "48RVU", "--year", "2023", *SOURCE, "--out", ""], "empty path"),
    "chips empty source": (["chips", "--tile", "48RVU", "--year", "2023", "--source-catalog", "", "--out", "c"],
                           "empty path"),
    "acquire nan cloud": (["acquire", "--tile", "48RVU", "--year", "2023", "--source-catalog", "src", "--max-cloud",
                           "nan"], "not nan"),
    "acquire empty api": (["acquire", "--tile", "48RVU", "--year", "2023", "--stac-api", ""], "an empty URL"),
    "publish empty catalog": (["publish", "--scores", "scores.csv", "--catalog", ""], "empty path"),
    "publish empty scores": (["publish", "--scores", "", "--catalog", "c"], "empty path"),
    "train nan lr": (["train", "--ranking", "src", "--chips", "src", "--out", "m", "--lr", "nan"], "not nan"),
    "run infinite lr": (["run", "--tiles", "48RVU", "--years", "2023", *SOURCE, "--out", "o", "--lr", "inf"], "not inf"),
    "validate empty folder": (["validate", ""], "empty path"),
    "validate empty schemas": (["validate", "c", "--schemas", ""], "empty path"),
}


@pytest.mark.parametrize("args, message", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_empty_and_garbage_arguments_are_usage_errors_that_leave_nothing(in_tmp, monkeypatch, capsys, args,
                                                                         message):
    (in_tmp / "src").mkdir()
    (in_tmp / "scores.csv").write_text("tile,datetime,row,col,score\n48RVU,2023-04-01,0,0,0.5\n")
    before = _files(in_tmp)
    code, out, err = devscore(monkeypatch, capsys, *args)
    errors = _error_lines(err)
    assert code == 2 and len(errors) == 1 and message in errors[0], err
    assert _files(in_tmp) == before


def test_publish_into_an_unreadable_catalog_fails_before_painting(in_tmp, monkeypatch, capsys):
    (in_tmp / "scores.csv").write_text("tile,datetime,row,col,score\n48RVU,2023-04-01,0,0,0.5\n")
    (in_tmp / "c").mkdir()
    (in_tmp / "c" / "catalog.json").write_text("[]")
    code, out, err = devscore(monkeypatch, capsys, "publish", "--scores", "scores.csv", "--catalog", "c")
    assert code == 1 and err.strip().splitlines() == [_error_lines(err)[0]]  # no progress bar: nothing was painted
    assert "cannot read catalog" in err
    assert sorted(p.name for p in (in_tmp / "c").iterdir() if p.name != ".lock") == ["catalog.json"]


@pytest.mark.parametrize("content, message", [
    ("[]", "cannot read the catalog"),
    ("null", "cannot read the catalog"),
    ('{"type": "Catalog", "id": "x"}', "cannot read the catalog"),
    ('{"type": "Catalog", "id": "x", "description": "d", "stac_version": "1.0.0", "links": '
     '[{"rel": "child", "href": "../outside/collection.json"}]}', "outside its folder"),
])
def test_validate_reports_a_malformed_catalog_in_one_line(in_tmp, monkeypatch, capsys, schema_dir, content,
                                                         message):
    (in_tmp / "c").mkdir()
    (in_tmp / "c" / "catalog.json").write_text(content)
    (in_tmp / "outside").mkdir()
    collection = pystac.Collection("outside", "d", pystac.Extent(pystac.SpatialExtent([[0, 0, 1, 1]]),
                                                                 pystac.TemporalExtent([[None, None]])))
    collection.set_self_href(str(in_tmp / "outside" / "collection.json"))
    collection.save_object(include_self_link=False)
    code, out, err = devscore(monkeypatch, capsys, "validate", "c", "--schemas", str(schema_dir))
    assert code == 1 and message in out and len(out.strip().splitlines()) == 1 and len(_error_lines(err)) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"years": (99999,)}, "years must be between 2015 and 2100"),
    ({"years": ()}, "at least one tile and one year"),
    ({"tiles": ()}, "at least one tile and one year"),
    ({"seed": -1}, "--seed"),
    ({"scenes_per_year": 13}, "--scenes-per-year"),
])
def test_synthesize_refuses_bad_arguments_before_writing(tmp_path, kwargs, message):
    """The library call checks what the CLI checks: a year GDAL or datetime cannot take used to fail
    after the truth raster was written."""
    args = {"tiles": ("48RVU",), "years": (2023,), "size": 64, "progress": False, **kwargs}
    with pytest.raises(DevscoreError, match=message):
        synthesize(tmp_path / "region", **args)
    assert not (tmp_path / "region").exists()


@pytest.mark.slow
def test_the_demo_runs_with_a_relative_output_folder(tmp_path, schema_dir):
    """`make demo`'s job (without serving) from a fresh folder, as `python -m devscore.demo --out demo-output`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               DEVSCORE_STAC_SCHEMAS=str(schema_dir))
    proc = subprocess.run([sys.executable, "-m", "devscore.demo", "--out", "demo-output", "--no-serve", "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "(valid)" in proc.stdout and "shuffled control" in proc.stdout
    summary = proc.stdout.split("granule-year")[1]
    assert all(f"{tile}-{year}" in summary for tile in ("48RUU", "48RVU", "48RUT", "48RVT") for year in (2022, 2023))
    exe = Path(sys.executable).parent / "devscore"
    check = subprocess.run([str(exe), "validate", "demo-output/catalog", "--schemas", str(schema_dir)], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=300)
    assert check.returncode == 0 and "demo-output/catalog: valid" in check.stdout, check.stdout + check.stderr
