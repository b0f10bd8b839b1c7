"""Night lights under the catalog's install guarantee, and comparisons that follow the data:
- a `devscore viirs ingest` killed before any file operation leaves a valid catalog whose items are
  wholly old or wholly new, never a score item with figures of other night lights than those it links;
- re-publishing the scores of a compared granule-year keeps its night-light link and recomputes
  `devscore:viirs` (and the report) from the new scores, never carries the old figures."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio

import catalog.nightlights.compare as compare
from catalog.ingest import publish_table
from catalog.nightlights.compare import compare_catalog
from catalog.nightlights.ingest import ingest
from catalog.store import STAGING_DIR
from catalog.validate import validate_catalog
from publisher.atomic import atomic_path
from publisher.scores import GranuleYear, scores_to_table
from tests.nightlights_fixtures import field_scores, publish_field_scores, write_vnl_like
from tests.test_install_atomic import Crash, Killed, _tree

TILE, YEAR = "48RVU", 2023
ITEM = f"{TILE}-{YEAR}"
AROUND = (103.7, 29.5, 105.35, 31.0)
VNL_NAME = f"VNL_npp_{YEAR}_global_vcmslcfg_v2_c202402081600.average.dat.tif"


def _items(catalog_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    """What a reader sees: (collection, item id) -> asset key -> file:checksum, through the catalog's links."""
    root = pystac.Catalog.from_file(str(catalog_dir / "catalog.json"))
    return {(item.collection_id, item.id): {key: asset.extra_fields["file:checksum"] for key, asset in item.assets.items()}
            for item in root.get_items(recursive=True)}


def _score_doc(catalog: Path) -> dict:
    return json.loads((catalog / "devscore-scores" / ITEM / f"{ITEM}.json").read_text())


def _viirs(catalog: Path) -> dict | None:
    return _score_doc(catalog)["properties"].get("devscore:viirs")


def _related_targets(catalog: Path) -> list[Path]:
    """Where every ``related`` link of every item JSON of the catalog points."""
    targets = []
    for path in catalog.glob("*/*/*.json"):
        for link in json.loads(path.read_text()).get("links", []):
            if link["rel"] == "related":
                targets.append((path.parent / link["href"]).resolve())
    return targets


def _report_row(catalog: Path) -> str:
    lines = (catalog / "viirs-nightlights" / "report" / "correlations.csv").read_text().splitlines()
    return next(line for line in lines if line.startswith(ITEM))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A catalog with scores, night lights A and their comparison (``base``); night lights B (other
    radiance: A with multiplicative noise); ``reference``, the base after ingesting B undisturbed."""
    tmp = tmp_path_factory.mktemp("nl-atomic")
    base = publish_field_scores(tmp, (TILE,), YEAR)
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    lights_a = write_vnl_like(tmp / "a" / VNL_NAME, AROUND, YEAR)
    lights_b = tmp / "b" / VNL_NAME
    with rasterio.open(lights_a) as src:
        profile, data = src.profile, src.read(1)
    noise = np.random.default_rng(11).lognormal(0.0, 1.0, data.shape).astype(np.float32)
    with rasterio.open(lights_b, "w", **profile) as dst:
        dst.write(np.where(data > 0, data * noise, data), 1)
    ingest([lights_a], YEAR, base)
    compare_catalog(base)
    reference = Path(shutil.copytree(base, tmp / "reference"))
    ingest([lights_b], YEAR, reference)
    return tmp, base, reference, lights_b


def test_reingest_recomputes_the_comparison(world, tmp_path):
    """After night lights B replace A, the score item's figures are B's, as `devscore compare` gives them."""
    _, base, reference, _ = world
    assert _viirs(reference) != _viirs(base)
    again = Path(shutil.copytree(reference, tmp_path / "again"))
    compare_catalog(again)
    assert _viirs(reference) == _viirs(again)
    assert _report_row(reference) == _report_row(again)


@pytest.fixture
def drawn_figures(world, monkeypatch):
    """The report's figures as the undisturbed ingest drew them, written the way the report writes a
    figure (temporary name, rename): drawing is test_nightlights_ingest's subject, this file's is what
    happens to the catalog; the bytes are the real ones."""
    _, _, reference, _ = world

    def draw(scores, radiance, row, path: Path) -> Path:
        with atomic_path(path) as tmp:
            tmp.write_bytes((reference / "viirs-nightlights" / "report" / path.name).read_bytes())
        return path

    monkeypatch.setattr(compare, "scatter_png", draw)
    monkeypatch.setattr(compare, "maps_png", draw)


def test_a_kill_during_ingest_leaves_items_wholly_old_or_new(world, drawn_figures, monkeypatch, schema_dir, tmp_path):
    _, base, reference, lights_b = world
    old, new = _items(base), _items(reference)
    old_viirs, new_viirs = _viirs(base), _viirs(reference)
    lights = ("viirs-nightlights", ITEM)
    assert [key for key in new if new[key] != old[key]] == [lights]  # the score item's assets stay ...
    assert old_viirs != new_viirs and (base / "viirs-nightlights" / "report").is_dir()  # ... its figures change
    expected = _tree(reference)
    assert not any(name.endswith("nightlights.tif") for name in expected)  # content names only

    with monkeypatch.context() as patch:  # how many file operations one ingest makes
        counter = Crash(patch, at=None)
        ingest([lights_b], YEAR, Path(shutil.copytree(base, tmp_path / "count")))
    assert counter.count > 10
    outcomes = set()
    ends = [_state(base), _state(reference)]  # as it was, or as it should be after
    for k in range(counter.count):
        catalog = Path(shutil.copytree(base, tmp_path / f"kill-{k}"))
        with monkeypatch.context() as patch, pytest.raises(Killed):
            Crash(patch, at=k)
            ingest([lights_b], YEAR, catalog)
        problems = validate_catalog(catalog, schema_dir)  # consistent, or the interruption is named
        assert all("interrupted" in p.what for p in problems), f"killed before file operation {k}: {problems}"
        assert problems or _state(catalog) in ends, f"half-done after kill {k} and validate said nothing"
        seen = _items(catalog)
        assert set(seen) == set(new), k
        assert seen == old or seen == new, f"half-installed after kill {k}"
        lights_new = seen[lights] == new[lights]
        assert all(target.is_file() for target in _related_targets(catalog)), f"dangling link after kill {k}"
        viirs = _viirs(catalog)  # no figures, or those of the night lights the item links to
        assert viirs in (None, new_viirs if lights_new else old_viirs), f"stale devscore:viirs after kill {k}"
        outcomes.add((lights_new, viirs is None))
        ingest([lights_b], YEAR, catalog)  # the next run finishes the job and cleans up
        assert not (catalog / STAGING_DIR).exists() and validate_catalog(catalog, schema_dir) == []
        assert _tree(catalog) == expected, f"leftovers of the ingest killed before file operation {k}"
        shutil.rmtree(catalog)
    # caught before anything, with the old figures withdrawn, right after the switch, and when done
    assert outcomes == {(False, False), (False, True), (True, True), (True, False)}


def _state(catalog: Path) -> tuple:
    """What readers of the catalog see: the items' assets, the score item's figures, the report's files."""
    return _items(catalog), _viirs(catalog), _tree(catalog / "viirs-nightlights" / "report")


def _publish(catalog: Path, tmp_path: Path, scores: np.ndarray, name: str, tile: str = TILE) -> None:
    granule = GranuleYear(tile, YEAR, dt.datetime(YEAR, 4, 1, tzinfo=dt.timezone.utc), None, scores)
    scores_to_table([granule]).to_csv(tmp_path / name, index=False)
    publish_table(tmp_path / name, catalog, device="cpu", progress=False)


def test_republished_scores_keep_the_link_and_get_current_figures(world, tmp_path, schema_dir, caplog):
    _, base, _, _ = world
    catalog = Path(shutil.copytree(base, tmp_path / "catalog"))
    old_viirs = _viirs(catalog)
    maps = catalog / "viirs-nightlights" / "report" / f"maps-{ITEM}.png"
    old_maps, old_row = maps.read_bytes(), _report_row(catalog)
    lights_file = (catalog / "viirs-nightlights" / ITEM / f"{ITEM}.json").resolve()

    # new scores: the field, less smooth (other noise): same granule-year, other figures
    noisy = np.clip(field_scores(TILE, YEAR, seed=99) + np.random.default_rng(5).normal(0, 0.2, (32, 32)), 0, 1)
    _publish(catalog, tmp_path, noisy.astype(np.float32), "new.csv")
    doc = _score_doc(catalog)
    related = [(catalog / "devscore-scores" / ITEM / link["href"]).resolve()
               for link in doc["links"] if link["rel"] == "related"]
    assert related == [lights_file]
    assert (catalog / "devscore-scores" / ITEM / f"{ITEM}.json") in _related_targets(catalog)
    new_viirs = doc["properties"]["devscore:viirs"]
    assert new_viirs != old_viirs and new_viirs["item"] == f"viirs-nightlights/{ITEM}"
    assert _report_row(catalog) != old_row and maps.read_bytes() != old_maps
    assert validate_catalog(catalog, schema_dir) == []
    fresh = Path(shutil.copytree(catalog, tmp_path / "fresh"))
    compare_catalog(fresh)  # what `devscore compare` says of the new scores
    assert new_viirs == _viirs(fresh) and _report_row(catalog) == _report_row(fresh)

    # scores that give no correlation: the figures and the report row go, said in the log; the link stays
    with caplog.at_level(logging.WARNING, logger="catalog.nightlights.compare"):
        _publish(catalog, tmp_path, np.full((32, 32), 0.5, np.float32), "flat.csv")
    assert "devscore:viirs dropped" in caplog.text and "constant" in caplog.text
    doc = _score_doc(catalog)
    assert "devscore:viirs" not in doc["properties"]
    assert [link["rel"] for link in doc["links"]].count("related") == 1
    assert ITEM not in (catalog / "viirs-nightlights" / "report" / "correlations.csv").read_text()
    assert not maps.exists()
    assert validate_catalog(catalog, schema_dir) == []


def test_scores_published_after_uncompared_night_lights_are_linked_both_ways(tmp_path, world):
    """Night lights ingested for a granule with no scores yet: publishing its scores links both items,
    and makes up no figures (nothing was compared)."""
    *_, lights_b = world
    catalog = tmp_path / "catalog"
    _publish(catalog, tmp_path, field_scores("48RUU", YEAR), "other.csv", tile="48RUU")  # a catalog without TILE
    ingest([lights_b], YEAR, catalog, tiles=[TILE])
    assert not _related_targets(catalog)
    _publish(catalog, tmp_path, field_scores(TILE, YEAR), "scores.csv")
    score_file = (catalog / "devscore-scores" / ITEM / f"{ITEM}.json").resolve()
    lights_file = (catalog / "viirs-nightlights" / ITEM / f"{ITEM}.json").resolve()
    assert sorted(_related_targets(catalog)) == sorted([score_file, lights_file])
    assert _viirs(catalog) is None


def test_validate_finds_a_report_left_stale_by_a_kill(world, tmp_path, schema_dir, monkeypatch):
    """Issue 20 defect 8: killed after the score items were installed and before the report followed,
    the catalog was valid to `devscore validate` but its report told other figures than its items;
    `devscore compare` run again makes them agree."""
    _, base, _, _ = world
    catalog = Path(shutil.copytree(base, tmp_path / "catalog"))
    assert validate_catalog(catalog, schema_dir) == []

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(compare, "refresh_report", killed)
    noisy = np.clip(field_scores(TILE, YEAR, seed=98) + np.random.default_rng(6).normal(0, 0.2, (32, 32)), 0, 1)
    with pytest.raises(Killed):
        _publish(catalog, tmp_path, noisy.astype(np.float32), "new.csv")
    monkeypatch.undo()
    problems = [p.what for p in validate_catalog(catalog, schema_dir)]
    assert any("night-light report" in p for p in problems) and any("devscore publish" in p for p in problems)
    _publish(catalog, tmp_path, noisy.astype(np.float32), "new.csv")  # the interrupted command, again
    assert validate_catalog(catalog, schema_dir) == []


def test_validate_finds_figures_stripped_from_a_score_item(world, tmp_path, schema_dir):
    _, base, _, _ = world
    catalog = Path(shutil.copytree(base, tmp_path / "catalog"))
    path = catalog / "devscore-scores" / ITEM / f"{ITEM}.json"
    doc = json.loads(path.read_text())
    del doc["properties"]["devscore:viirs"]
    path.write_text(json.dumps(doc))
    problems = validate_catalog(catalog, schema_dir)
    assert len(problems) == 1 and "devscore:viirs" in problems[0].what


@pytest.mark.parametrize("half", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_a_kill_during_publish_is_named_by_validate_and_finished_by_the_next_publish(world, drawn_figures, monkeypatch,
                                                                                    schema_dir, tmp_path, half):
    """Issue 20 item 7 for `devscore publish` over compared night lights: killed before a file operation,
    the catalog is as it was or as it should be, or `devscore validate` names the interrupted publish; the
    same publish again leaves the catalog an undisturbed publish gives. Every other file operation (the
    even ones; the odd ones under -m slow: about 2 s each). The granule-year is painted once (the painting
    is test_ingest's subject); the files staged are the real ones."""
    import catalog.ingest as ingest_module
    from publisher.publish import Published, publish_granule_year
    from tests.test_install_atomic import Crash

    _, base, _, _ = world
    noisy = np.clip(field_scores(TILE, YEAR, seed=97) + np.random.default_rng(7).normal(0, 0.2, (32, 32)), 0, 1)
    granule = GranuleYear(TILE, YEAR, dt.datetime(YEAR, 4, 1, tzinfo=dt.timezone.utc), None, noisy.astype(np.float32))
    scores_to_table([granule]).to_csv(tmp_path / "new.csv", index=False)
    painted = publish_granule_year(granule, tmp_path / "painted", device="cpu")

    def stage(granule, staging_dir, device="auto", threads=None, source=None) -> Published:
        folder = Path(shutil.copytree(painted.folder, Path(staging_dir) / granule.id))
        item = painted.item.clone()
        for asset in item.assets.values():
            asset.href = str(folder / Path(asset.href).name)
        return Published(item=item, folder=folder, seconds=0.0)

    monkeypatch.setattr(ingest_module, "publish_granule_year", stage)
    reference = Path(shutil.copytree(base, tmp_path / "reference"))
    with monkeypatch.context() as patch:  # how many file operations one publish makes
        counter = Crash(patch, at=None)
        publish_table(tmp_path / "new.csv", reference, device="cpu", progress=False)
    expected, ends = _tree(reference), [_state(base), _state(reference)]
    assert _viirs(reference) != _viirs(base) and counter.count > 5
    named = 0
    for k in range(half, counter.count, 2):
        catalog = Path(shutil.copytree(base, tmp_path / f"kill-{k}"))
        with monkeypatch.context() as patch, pytest.raises(Killed):
            Crash(patch, at=k)
            publish_table(tmp_path / "new.csv", catalog, device="cpu", progress=False)
        problems = [p.what for p in validate_catalog(catalog, check_schemas=False)]  # the schemas are not at stake
        assert problems or _state(catalog) in ends, f"half-done after kill {k} and validate said nothing"
        assert all("devscore publish" in p or "night-light report" in p or "devscore:viirs" in p
                   for p in problems), f"kill {k}: {problems}"
        named += bool(problems)
        publish_table(tmp_path / "new.csv", catalog, device="cpu", progress=False)  # the interrupted command, again
        assert validate_catalog(catalog, check_schemas=False) == [], f"not finished after kill {k}"
        assert _tree(catalog) == expected, f"leftovers of the publish killed before file operation {k}"
        shutil.rmtree(catalog)
    assert named  # some kills fall between the files, and validate said so
    assert validate_catalog(reference, schema_dir) == []
