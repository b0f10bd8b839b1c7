"""Catalog installs that cannot be half-done: a publish killed between any two file operations leaves
a valid catalog whose every item is wholly old or wholly new, and the next publish cleans up after it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pystac
import pytest

import catalog.ingest as ingest
from catalog.ingest import publish_table
from catalog.store import STAGING_DIR
from catalog.validate import validate_catalog
from publisher.publish import Published, publish_granule_year
from publisher.scores import GranuleYear, scores_to_table
from publisher.stac import SceneSource

UTC = dt.timezone.utc
#: What the file system offers a writer to change what readers see; a kill lands between two of them.
FILE_OPERATIONS = ("replace", "rename", "unlink", "remove", "rmdir")


class Killed(BaseException):
    """The process died here: nothing after it runs (no ``except Exception``, no clean-up succeeds)."""


def _granule(tile: str, year: int, seed: int) -> GranuleYear:
    scores = np.random.default_rng(seed).random((32, 32), dtype=np.float32)
    return GranuleYear(tile, year, dt.datetime(year, 4, 12, tzinfo=UTC), None, scores)


def _table(path: Path, granules: list[GranuleYear]) -> Path:
    scores_to_table(granules).to_csv(path, index=False)
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def _items(catalog_dir: Path) -> dict[str, dict[str, str]]:
    """What a reader sees: item id -> asset key -> file:checksum, through the catalog's links."""
    root = pystac.Catalog.from_file(str(catalog_dir / "catalog.json"))
    return {item.id: {key: asset.extra_fields["file:checksum"] for key, asset in item.assets.items()}
            for item in root.get_items(recursive=True)}


class Crash:
    """Counts the file operations of ``os``; from the ``at``-th on (0-based) every one raises :class:`Killed`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: int | None) -> None:
        self.at, self.count = at, 0
        for name in FILE_OPERATIONS:
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))

    def _wrap(self, operation):
        def counted(*args, **kwargs):
            if self.at is not None and self.count >= self.at:
                raise Killed(f"killed before {operation.__name__}{args}")
            self.count += 1
            return operation(*args, **kwargs)

        return counted


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A base catalog (48RVU-2023, 48RUU-2023), the painted assets of the next publish (48RVU-2023
    replaced, 48RVU-2022 added) and the catalog that publish gives when nothing goes wrong."""
    tmp = tmp_path_factory.mktemp("atomic")
    publish_table(_table(tmp / "old.csv", [_granule("48RVU", 2023, 1), _granule("48RUU", 2023, 2)]),
                  tmp / "base", device="cpu", progress=False)
    new = [_granule("48RVU", 2023, 3), _granule("48RVU", 2022, 4)]
    painted = {g.id: publish_granule_year(g, tmp / "painted", device="cpu") for g in new}
    table = _table(tmp / "new.csv", new)
    shutil.copytree(tmp / "base", tmp / "reference")
    publish_table(table, tmp / "reference", device="cpu", progress=False)
    return tmp, table, painted


@pytest.fixture
def fast_staging(world, monkeypatch):
    """Stage the granule-years from the already painted assets: the painting is test_ingest's subject,
    this file's is what happens to the catalog; the files staged are the real ones, byte for byte."""
    _, _, painted = world

    def stage(granule: GranuleYear, staging_dir: Path, device: str = "auto", threads: int | None = None,
              source: SceneSource = SceneSource()) -> Published:
        source = painted[granule.id]
        folder = Path(staging_dir) / granule.id
        shutil.copytree(source.folder, folder)
        item = source.item.clone()
        for asset in item.assets.values():
            asset.href = str(folder / Path(asset.href).name)
        return Published(item=item, folder=folder, seconds=0.0)

    monkeypatch.setattr(ingest, "publish_granule_year", stage)


def test_a_kill_between_any_two_file_operations_leaves_items_wholly_old_or_new(world, fast_staging, monkeypatch,
                                                                               schema_dir, tmp_path):
    tmp, table, _ = world
    old, new = _items(tmp / "base"), _items(tmp / "reference")
    reference = _tree(tmp / "reference")
    assert old["48RVU-2023"] != new["48RVU-2023"] and "48RVU-2022" not in old

    with monkeypatch.context() as patch:  # how many file operations one publish makes
        counter = Crash(patch, at=None)
        shutil.copytree(tmp / "base", tmp_path / "count")
        publish_table(table, tmp_path / "count", device="cpu", progress=False)
    assert counter.count > 10
    outcomes = set()
    for k in range(counter.count):
        catalog_dir = tmp_path / f"kill-{k}"
        shutil.copytree(tmp / "base", catalog_dir)
        with monkeypatch.context() as patch, pytest.raises(Killed):
            Crash(patch, at=k)
            publish_table(table, catalog_dir, device="cpu", progress=False)
        assert validate_catalog(catalog_dir, schema_dir) == [], f"killed before file operation {k}"
        seen = _items(catalog_dir)
        assert set(seen) <= set(new) and set(old) <= set(seen), k
        for item_id, assets in seen.items():
            assert assets in (old.get(item_id), new[item_id]), f"{item_id} is half-installed after kill {k}"
        outcomes.add(tuple(sorted((item_id, assets == new[item_id]) for item_id, assets in seen.items())))
        publish_table(table, catalog_dir, device="cpu", progress=False)  # the next run cleans up
        assert not (catalog_dir / STAGING_DIR).exists()
        assert _tree(catalog_dir) == reference, f"leftovers of the run killed before file operation {k}"
        shutil.rmtree(catalog_dir)
    # the kills caught the catalog before, in the middle of and after the switch of its items
    assert len(outcomes) >= 3


def test_a_killed_publish_leaves_staging_that_the_next_publish_removes(world, schema_dir, tmp_path):
    """A real `devscore publish` killed (SIGKILL) while it paints leaves `.staging/<uuid>/`; the next
    publish removes it and the catalog stays valid and unchanged meanwhile."""
    tmp, table, _ = world
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(tmp / "base", catalog_dir)
    before = _tree(catalog_dir)
    exe = Path(sys.executable).parent / "devscore"
    proc = subprocess.Popen([str(exe), "publish", "--scores", str(table), "--catalog", str(catalog_dir),
                             "--device", "cpu", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((catalog_dir / STAGING_DIR).glob("*/*/*")) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    leftovers = list((catalog_dir / STAGING_DIR).iterdir())
    assert leftovers, "the publish was not caught while staging"
    assert validate_catalog(catalog_dir, schema_dir) == []
    assert {k: v for k, v in _tree(catalog_dir).items() if not k.startswith(STAGING_DIR)} == before
    publish_table(table, catalog_dir, device="cpu", progress=False)
    assert not (catalog_dir / STAGING_DIR).exists()
    assert _tree(catalog_dir) == _tree(tmp / "reference")


def test_unreferenced_files_are_collected_and_referenced_ones_kept(world, fast_staging, tmp_path):
    """Files no item names (an older asset version, a temporary file, a folder of an item never
    linked) go at the next publish; items the publish does not touch keep every byte."""
    tmp, table, _ = world
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(tmp / "base", catalog_dir)
    collection_dir = catalog_dir / "devscore-scores"
    untouched = _tree(collection_dir / "48RUU-2023")
    (collection_dir / "48RUU-2023" / "score-000000000000.tif").write_bytes(b"an older version")
    (collection_dir / "48RUU-2023" / ".48RUU-2023.json.abc.tmp").write_text("{")
    (collection_dir / ".collection.json.abc.tmp").write_text("{")
    (collection_dir / "99XYZ-2020").mkdir()
    (collection_dir / "99XYZ-2020" / "score-111111111111.tif").write_bytes(b"never linked")
    publish_table(table, catalog_dir, device="cpu", progress=False)
    assert _tree(collection_dir / "48RUU-2023") == untouched
    assert _tree(catalog_dir) == _tree(tmp / "reference")
    item = json.loads((collection_dir / "48RVU-2023" / "48RVU-2023.json").read_text())
    assert sorted(p.name for p in (collection_dir / "48RVU-2023").iterdir()) == sorted(
        ["48RVU-2023.json", *(asset["href"].removeprefix("./") for asset in item["assets"].values())])
