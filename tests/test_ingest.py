"""Publishing chip-score tables into the static catalog: add, replace, idempotence, atomicity, MPI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pystac
import pytest

from catalog.ingest import publish_table
from catalog.store import CatalogError, catalog_lock
from catalog.validate import validate_catalog
from publisher.errors import DevscoreError
from publisher.scores import GranuleYear, scores_to_table

UTC = dt.timezone.utc


def _granule(tile: str, year: int, seed: int, scene_id: str | None = None) -> GranuleYear:
    rng = np.random.default_rng(seed)
    scores = rng.random((32, 32), dtype=np.float32)
    scores[rng.random((32, 32)) < 0.05] = np.nan
    return GranuleYear(tile, year, dt.datetime(year, 4, 12, 3, 35, tzinfo=UTC), scene_id, scores)


def _table(tmp_path: Path, granules: list[GranuleYear], name: str = "scores.csv") -> Path:
    path = tmp_path / name
    scores_to_table(granules).to_csv(path, index=False)
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ingest")
    table = _table(tmp, [_granule("48RVU", 2023, 1, "S2A_MSIL2A_20230412T033541_R061_T48RVU_20230412T090813"),
                         _granule("48RUU", 2023, 2)])
    report = publish_table(table, tmp / "catalog", device="cpu", progress=False)
    assert report is not None and report.result.added == ["48RUU-2023", "48RVU-2023"]
    return tmp, tmp / "catalog"


def test_catalog_layout_and_validity(published, schema_dir):
    _, catalog_dir = published
    assert (catalog_dir / "catalog.json").exists()
    item_file = catalog_dir / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json"
    assert item_file.exists()
    assert validate_catalog(catalog_dir, schema_dir) == []
    root = pystac.Catalog.from_file(str(catalog_dir / "catalog.json"))
    items = sorted(i.id for i in root.get_items(recursive=True))
    assert items == ["48RUU-2023", "48RVU-2023"]
    data = json.loads(item_file.read_text())
    assert all(not link["href"].startswith("/") for link in data["links"] if link["rel"] != "derived_from")
    assert not (catalog_dir / ".staging").exists()


def test_add_replace_keeps_others_and_updates_extent(published, schema_dir):
    tmp, catalog_dir = published
    before = _tree(catalog_dir)
    other = catalog_dir / "devscore-scores" / "48RUU-2023"
    other_bytes = {p.name: p.read_bytes() for p in other.iterdir()}
    table = _table(tmp, [_granule("48RVU", 2023, 99), _granule("48RVU", 2021, 3)], "more.csv")
    report = publish_table(table, catalog_dir, device="cpu", progress=False)
    assert report.result.added == ["48RVU-2021"] and report.result.replaced == ["48RVU-2023"]
    assert {p.name: p.read_bytes() for p in other.iterdir()} == other_bytes  # untouched
    collection = pystac.Collection.from_file(str(catalog_dir / "devscore-scores" / "collection.json"))
    start, _ = collection.extent.temporal.intervals[0]
    assert start.year == 2021
    assert validate_catalog(catalog_dir, schema_dir) == []
    assert _tree(catalog_dir) != before


def test_republishing_is_idempotent(tmp_path):
    table = _table(tmp_path, [_granule("48RVU", 2023, 5)])
    publish_table(table, tmp_path / "c", device="cpu", progress=False)
    first = _tree(tmp_path / "c")
    publish_table(table, tmp_path / "c", device="cpu", progress=False)
    assert _tree(tmp_path / "c") == first


def test_bad_table_leaves_catalog_untouched(published):
    tmp, catalog_dir = published
    before = _tree(catalog_dir)
    bad = tmp / "bad.csv"
    bad.write_text("tile,datetime,row,col,score\n48RVU,2023-01-01,0,0,1.7\n")
    with pytest.raises(DevscoreError, match="line 2"):
        publish_table(bad, catalog_dir, device="cpu", progress=False)
    assert _tree(catalog_dir) == before


def test_failure_while_staging_leaves_catalog_untouched(published, monkeypatch):
    """A crash after some assets were written (here: the item step fails) changes nothing."""
    tmp, catalog_dir = published
    before = _tree(catalog_dir)
    import publisher.publish as pub

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pub, "create_item", broken)
    table = _table(tmp, [_granule("48RVU", 2023, 42)], "crash.csv")
    with pytest.raises(DevscoreError, match="disk full"):
        publish_table(table, catalog_dir, device="cpu", progress=False)
    assert _tree(catalog_dir) == before


def test_second_writer_is_refused(tmp_path):
    with catalog_lock(tmp_path):
        table = _table(tmp_path, [_granule("48RVU", 2023, 5)])
        with pytest.raises(CatalogError, match="being written by another process"):
            publish_table(table, tmp_path, device="cpu", progress=False)


@pytest.mark.slow
def test_mpi_two_ranks_equals_single_process(tmp_path):
    granules = [_granule(t, y, i) for i, (t, y) in enumerate([("48RVU", 2023), ("48RUU", 2023), ("48RVU", 2022)])]
    table = _table(tmp_path, granules)
    publish_table(table, tmp_path / "single", device="cpu", progress=False)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [str(bindir / "mpiexec"), "-n", "2", str(bindir / "devscore"), "publish",
         "--scores", str(table), "--catalog", str(tmp_path / "mpi"), "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 ranks" in proc.stdout + proc.stderr
    assert _tree(tmp_path / "mpi") == _tree(tmp_path / "single")
