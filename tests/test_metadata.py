"""Metadata says what happened: descriptions and lineage name the ranker and the scenes' source that
items record, and a score item links its source scene only where that scene has an address."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pystac
import pytest
from affine import Affine

from catalog.stac import create_collection
from devscore.run import scene_source
from publisher.chips_table import write_chips_tables
from publisher.grid import TileGrid
from publisher.scores import GranuleYear, geometry_columns, scores_to_table
from publisher.stac import (SOURCE_ITEM_URL, SceneSource, SceneSourceError, create_item, record_source, refresh_lineage,
                            scene_source_of)
from tests.test_cli_inputs import devscore

SCENE = "S2A_MSIL2A_20230912T033541_R061_T48RVU_20230912T090813"


OTHER = "S2B_MSIL2A_20230920T033529_R061_T48RVU_20230920T070000"


def _granule(scene: str | None = SCENE, gap_filled: bool = False) -> GranuleYear:
    scores = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    chip_scenes = None
    if gap_filled:  # 12 chips filled from another scene of the year
        chip_scenes = np.full((32, 32), scene, dtype=object)
        chip_scenes[0, :12] = OTHER
    return GranuleYear("48RVU", 2023, dt.datetime(2023, 9, 12, tzinfo=dt.timezone.utc), scene, scores,
                       chip_scenes=chip_scenes)


def _item(tmp_path, granule: GranuleYear, source: SceneSource = SceneSource()) -> pystac.Item:
    for name in ("s.tif", "t.png"):
        (tmp_path / name).write_bytes(b"x")
    grid = TileGrid.from_tile_id("48RVU")
    chips = write_chips_tables(granule, tmp_path / "c.parquet", tmp_path / "c.fgb")
    return create_item(granule, grid, tmp_path / "s.tif", tmp_path / "t.png", *chips, source=source)


def _scene_links(item) -> list[str]:
    return [link.href for link in item.links if link.rel == "derived_from"]


@pytest.mark.parametrize("ranker,words", [("heuristic", "pixel-index heuristic"), ("vlm", "vision-language model"),
                                          ("file", "a person wrote")])
def test_a_synthetic_scene_is_never_linked_and_the_ranker_is_named(tmp_path, ranker, words):
    item = _item(tmp_path, _granule(), scene_source_of("synthetic"))
    item.properties["devscore:ranker"] = ranker
    refresh_lineage(item)
    assert _scene_links(item) == [] and item.properties["devscore:scene_id"] == SCENE
    assert words in item.properties["processing:lineage"] and "synthetic" in item.properties["processing:lineage"]
    description = create_collection([item]).description
    assert words in description and "synthetic" in description
    if ranker != "vlm":
        assert "ranked by a vision-language model" not in description + item.properties["processing:lineage"]


def test_planetary_computer_scenes_are_linked(tmp_path):
    item = _item(tmp_path, _granule(), scene_source_of("planetary-computer"))
    item.properties["devscore:ranker"] = "vlm"
    refresh_lineage(item)
    assert _scene_links(item) == [SOURCE_ITEM_URL.format(SCENE)]
    assert "Planetary Computer" in create_collection([item]).description


def test_an_unnamed_source_links_nothing_and_claims_nothing(tmp_path):
    """Before, every scene id was linked to Planetary Computer whatever made it."""
    item = _item(tmp_path, _granule(gap_filled=True))
    assert _scene_links(item) == [] and item.properties["devscore:scene_id"] == SCENE
    assert "devscore:source" not in item.properties
    assert "Planetary Computer" not in item.properties["processing:lineage"] + create_collection([item]).description


def test_scene_source_of_a_run(tmp_path):
    scene = tmp_path / "source" / "sentinel-2-l2a" / SCENE / f"{SCENE}.json"
    scene.parent.mkdir(parents=True)
    scene.write_text(json.dumps({"properties": {"devscore:synthetic": True}}))
    assert scene_source({"source_catalog": tmp_path / "source"}) == ("synthetic", None)
    scene.write_text(json.dumps({"properties": {}}))
    assert scene_source({"source_catalog": tmp_path / "source"}) == ("local-catalog", None)
    assert scene_source({"stac_api": None}) == ("planetary-computer", SOURCE_ITEM_URL)
    source, url = scene_source({"stac_api": "http://stac.example/api/"})
    assert source == "stac-api" and url.format(SCENE) == f"http://stac.example/api/collections/sentinel-2-l2a/items/{SCENE}"


def test_gap_filling_scenes_keep_their_links(tmp_path):
    item = _item(tmp_path, _granule(gap_filled=True), scene_source_of("planetary-computer"))
    assert _scene_links(item) == [SOURCE_ITEM_URL.format(SCENE), SOURCE_ITEM_URL.format(OTHER)]
    assert item.properties["devscore:scene_id"] == SCENE
    record_source(item, _granule(gap_filled=True), scene_source_of("synthetic"))
    assert _scene_links(item) == [] and item.properties["devscore:source"] == "synthetic"


def test_a_source_that_cannot_link_is_refused():
    for name, url in [("synthetic", "http://x/{}"), (None, "http://x/{}"), ("stac-api", "http://x/items"),
                      ("nowhere", None)]:
        with pytest.raises(SceneSourceError):
            scene_source_of(name, url)
    assert scene_source_of("stac-api") == ("stac-api", None)  # no address given: no link


def _small_table(path, scene: str | None) -> None:
    """One granule-year on a 100 m chip grid (1,098 px: fast to paint)."""
    grid = TileGrid.from_tile_id("48RVU")
    table = scores_to_table([_granule(scene)]).assign(**geometry_columns(grid.epsg, grid.transform @ Affine.scale(340), 34))
    table.to_csv(path, index=False)


def _published(catalog) -> pystac.Item:
    return pystac.Item.from_file(str(catalog / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json"))


def test_bare_publish_links_no_scene_and_publish_source_decides(tmp_path, monkeypatch, capsys):
    """`devscore publish` of a table of synthetic scenes linked every scene id to Planetary Computer; now
    only --source says where scenes live, and the item records that source."""
    _small_table(tmp_path / "scores.csv", SCENE)
    code, out, err = devscore(monkeypatch, capsys, "publish", "--scores", str(tmp_path / "scores.csv"),
                              "--catalog", str(tmp_path / "bare"), "--no-progress")
    assert code == 0, err
    bare = _published(tmp_path / "bare")
    assert _scene_links(bare) == [] and bare.properties["devscore:scene_id"] == SCENE
    assert "planetarycomputer" not in json.dumps(bare.to_dict())
    template = "https://stac.example/v1/collections/sentinel-2-l2a/items/{}"
    for args, links in [(["--source", "synthetic"], []),
                        (["--source", "planetary-computer"], [SOURCE_ITEM_URL.format(SCENE)]),
                        (["--source", "stac-api", "--scene-url", template], [template.format(SCENE)])]:
        catalog = tmp_path / args[1]
        code, out, err = devscore(monkeypatch, capsys, "publish", "--scores", str(tmp_path / "scores.csv"),
                                  "--catalog", str(catalog), "--no-progress", *args)
        assert code == 0, err
        item = _published(catalog)
        assert _scene_links(item) == links and item.properties["devscore:source"] == args[1]
    code, out, err = devscore(monkeypatch, capsys, "publish", "--scores", str(tmp_path / "scores.csv"),
                              "--catalog", str(tmp_path / "refused"), "--source", "synthetic", "--scene-url", template)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "scene URL" in err
    assert not (tmp_path / "refused").exists()
