"""Items and the Collection against the STAC schemas (offline), and `devscore validate` on faults."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pystac
import pytest
from PIL import Image

from catalog.ingest import publish_table
from catalog.validate import OfflineSchemaValidator, validate_catalog
from publisher.scores import GranuleYear, scores_to_table
from tests.test_cli_inputs import devscore

SCENE = "S2A_MSIL2A_20230412T033541_R061_T48RVU_20230412T090813"
EXTENSIONS = ["projection", "raster", "file", "processing", "render", "mgrs", "grid"]


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("stac")
    scores = np.linspace(0, 1, 1024, dtype=np.float32).reshape(32, 32)
    scores[0, :4] = np.nan
    granules = [GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 12, 3, 35, 41, tzinfo=dt.timezone.utc), SCENE, scores),
                GranuleYear("48RUU", 2022, dt.datetime(2022, 5, 2, tzinfo=dt.timezone.utc), None, scores)]
    table = tmp / "scores.csv"
    scores_to_table(granules).to_csv(table, index=False)
    publish_table(table, tmp / "catalog", device="cpu", progress=False)
    return tmp / "catalog"


def _item(catalog_dir: Path, item_id: str) -> pystac.Item:
    return pystac.Item.from_file(str(catalog_dir / "devscore-scores" / item_id / f"{item_id}.json"))


def _asset(catalog_dir: Path, item_id: str, key: str) -> Path:
    """The file of an item's asset, found through the item's href (asset files are content-named)."""
    return Path(_item(catalog_dir, item_id).assets[key].get_absolute_href())


def test_item_and_collection_validate_offline_with_extensions(catalog_dir, schema_dir):
    item = _item(catalog_dir, "48RVU-2023")
    for name in EXTENSIONS:
        assert any(f"/{name}/" in uri for uri in item.stac_extensions), name
    validator = OfflineSchemaValidator(schema_dir)
    assert item.validate(validator=validator)
    collection = pystac.Collection.from_file(str(catalog_dir / "devscore-scores" / "collection.json"))
    assert collection.validate(validator=validator)
    assert validate_catalog(catalog_dir, schema_dir) == []


def test_item_fields(catalog_dir):
    item = _item(catalog_dir, "48RVU-2023")
    p = item.properties
    assert item.datetime == dt.datetime(2023, 4, 12, 3, 35, 41, tzinfo=dt.timezone.utc)
    assert p["start_datetime"] == "2023-01-01T00:00:00Z" and p["end_datetime"] == "2023-12-31T23:59:59Z"
    assert p["proj:code"] == "EPSG:32648" and p["proj:shape"] == [10980, 10980]
    assert p["proj:transform"] == [10.0, 0.0, 399960.0, 0.0, -10.0, 3400020.0]
    assert (p["mgrs:utm_zone"], p["mgrs:latitude_band"], p["mgrs:grid_square"]) == (48, "R", "VU")
    assert p["renders"]["default"]["colormap_name"] == "rdylgn_r"
    assert p["renders"]["default"]["rescale"] == [[0.0, 1.0]]
    score = item.assets["score"]
    assert re.fullmatch(r"\./score-[0-9a-f]{12}\.tif", score.href) and "data" in score.roles
    for asset in item.assets.values():  # immutable files named by their content
        digest = re.fullmatch(r"\./\w+-([0-9a-f]{12})\.\w+", asset.href).group(1)
        assert digest == asset.extra_fields["file:checksum"][4:16]
    assert score.media_type == pystac.MediaType.COG
    band = score.extra_fields["raster:bands"][0]
    assert band["nodata"] == -9999.0 and band["data_type"] == "float32"
    values = np.linspace(0, 1, 1024)[4:]
    stats = band["statistics"]
    assert stats["minimum"] == pytest.approx(values.min(), abs=1e-6)
    assert stats["mean"] == pytest.approx(values.mean(), abs=1e-6)
    assert stats["valid_percent"] == pytest.approx(100 * 1020 * 343**2 / 10980**2, abs=1e-3)
    # a bare publish does not know where the scene lives: it records the scene id and links no scene
    assert p["devscore:scene_id"] == SCENE and "devscore:source" not in p
    assert not item.get_links("derived_from") and "Planetary Computer" not in p["processing:lineage"]
    assert not _item(catalog_dir, "48RUU-2022").get_links("derived_from")


def test_thumbnail_and_chips_assets(catalog_dir):
    thumb = Image.open(_asset(catalog_dir, "48RVU-2023", "thumbnail"))
    assert thumb.mode == "RGBA" and thumb.size == (256, 256)
    pixels = np.asarray(thumb)
    assert pixels[0, 0, 3] == 0  # chip (0, 0) is unscored: transparent
    assert pixels[-1, -1, 0] > 150 and pixels[-1, -1, 1] < 100  # score 1 is red in RdYlGn_r
    chips = gpd.read_parquet(_asset(catalog_dir, "48RVU-2023", "chips"))
    assert len(chips) == 1024 and chips.crs.to_epsg() == 4326
    assert chips.loc[(chips.row == 31) & (chips.col == 31), "score"].iloc[0] == pytest.approx(1.0)
    assert chips["score"].isna().sum() == 4


def _copy(catalog_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(catalog_dir, dest)
    return dest


def _devscore(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "devscore"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def test_validate_cli_passes_and_catches_faults(catalog_dir, schema_dir, tmp_path):
    ok = _devscore("validate", str(catalog_dir), "--schemas", str(schema_dir))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _copy(catalog_dir, tmp_path)
    folder = bad / "devscore-scores" / "48RVU-2023"
    _asset(bad, "48RVU-2023", "score").write_bytes(b"not a tiff at all")  # corrupt COG, wrong size and checksum
    chips = _asset(bad, "48RUU-2022", "chips")
    chips.unlink()  # missing asset
    item_file = folder / "48RVU-2023.json"
    data = json.loads(item_file.read_text())
    data["properties"]["proj:code"] = 32648  # schema violation: must be a string
    item_file.write_text(json.dumps(data))
    result = _devscore("validate", str(bad), "--schemas", str(schema_dir))
    assert result.returncode == 1
    out = result.stdout
    assert "not a valid COG" in out and "file:checksum does not match" in out and "file:size" in out
    assert f"{chips.name} is missing" in out
    assert "schema" in out and "48RVU-2023.json" in out
    assert "problem(s)" in result.stderr


def test_missing_schema_is_a_problem_not_a_skip(catalog_dir, schema_dir, tmp_path):
    partial = tmp_path / "schemas"
    shutil.copytree(schema_dir / "projection", partial / "projection")
    problems = validate_catalog(catalog_dir, partial)
    unavailable = [str(p) for p in problems if "schema unavailable" in str(p)]
    assert unavailable and all("projection" not in p for p in unavailable)


def test_publish_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("tile,datetime,row,col\n48RVU,2023-01-01,0,0\n")
    result = _devscore("publish", "--scores", str(bad), "--catalog", str(tmp_path / "c"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: bad.csv: missing required column score (need tile, datetime, row, col, score; optional scene_id)"]
    assert not (tmp_path / "c" / "catalog.json").exists()
    for args in (["publish", "--help"], ["validate", "--help"], ["--help"]):
        assert _devscore(*args).returncode == 0


def test_validate_without_schemas_reads_the_local_folder(catalog_dir, schema_dir, tmp_path, monkeypatch, capsys):
    """No --schemas: the folder DEVSCORE_STAC_SCHEMAS names is used, offline; a schema it lacks is a
    problem, not a download; a faulty catalog still fails."""
    monkeypatch.setenv("DEVSCORE_STAC_SCHEMAS", str(schema_dir))
    code, out, err = devscore(monkeypatch, capsys, "validate", str(catalog_dir))
    assert code == 0 and out.strip() == f"{catalog_dir}: valid", out + err
    partial = tmp_path / "partial"
    shutil.copytree(schema_dir / "projection", partial / "projection")
    monkeypatch.setenv("DEVSCORE_STAC_SCHEMAS", str(partial))
    code, out, err = devscore(monkeypatch, capsys, "validate", str(catalog_dir))
    assert code == 1 and "schema unavailable" in out and "not in the offline schema folder" in out
    monkeypatch.setenv("DEVSCORE_STAC_SCHEMAS", str(schema_dir))
    bad = _copy(catalog_dir, tmp_path)
    _asset(bad, "48RUU-2022", "chips").unlink()
    code, out, err = devscore(monkeypatch, capsys, "validate", str(bad))
    assert code == 1 and "is missing" in out and "problem(s)" in err


@pytest.mark.parametrize("where", ["empty", "missing"])
def test_validate_without_a_schema_folder_is_one_line_and_no_network(catalog_dir, tmp_path, monkeypatch, capsys,
                                                                     where):
    folder = tmp_path / "schemas"
    if where == "empty":
        folder.mkdir()
        (folder / "README.md").write_text("no schemas here")
    monkeypatch.setenv("DEVSCORE_STAC_SCHEMAS", str(folder))
    code, out, err = devscore(monkeypatch, capsys, "validate", str(catalog_dir))
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [err.strip()] and err.startswith("Error: no STAC extension schemas")
    assert "--schemas DIR" in err and str(folder) in err
    monkeypatch.delenv("DEVSCORE_STAC_SCHEMAS")
    code, out, err = devscore(monkeypatch, capsys, "validate", str(catalog_dir), "--schemas", str(folder))
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and f"schema folder {folder}" in err


def test_remote_schemas_are_opt_in_and_exclude_a_folder(catalog_dir, schema_dir, monkeypatch, capsys):
    code, out, err = devscore(monkeypatch, capsys, "validate", str(catalog_dir), "--schemas", str(schema_dir),
                                          "--remote-schemas")
    assert code == 2 and "exclude each other" in err and out == ""
    code, out, _ = devscore(monkeypatch, capsys, "validate", "--help")
    assert "--remote-schemas" in out and "DEVSCORE_STAC_SCHEMAS" in out
