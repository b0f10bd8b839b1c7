"""Metadata says what happened: descriptions and lineage name the ranker and the scenes' source that
items record, and a score item links its source scene only where that scene has an address."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pystac
import pytest

from catalog.stac import create_collection
from devscore.run import scene_source
from publisher.chips_table import write_chips_tables
from publisher.grid import TileGrid
from publisher.scores import GranuleYear
from publisher.stac import SOURCE_ITEM_URL, create_item, record_source

SCENE = "S2A_MSIL2A_20230912T033541_R061_T48RVU_20230912T090813"


@pytest.fixture
def item(tmp_path):
    scores = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    for name in ("s.tif", "t.png"):
        (tmp_path / name).write_bytes(b"x")
    granule = GranuleYear("48RVU", 2023, dt.datetime(2023, 9, 12, tzinfo=dt.timezone.utc), SCENE, scores)
    grid = TileGrid.from_tile_id("48RVU")
    chips = write_chips_tables(granule, tmp_path / "c.parquet", tmp_path / "c.fgb")
    return create_item(granule, grid, tmp_path / "s.tif", tmp_path / "t.png", *chips)


def _scene_links(item) -> list[str]:
    return [link.href for link in item.links if link.rel == "derived_from"]


@pytest.mark.parametrize("ranker,words", [("heuristic", "pixel-index heuristic"), ("vlm", "vision-language model"),
                                          ("file", "a person wrote")])
def test_a_synthetic_scene_is_never_linked_and_the_ranker_is_named(item, ranker, words):
    item.properties["devscore:ranker"] = ranker
    record_source(item, "synthetic", None)
    assert _scene_links(item) == [] and item.properties["devscore:scene_id"] == SCENE
    assert words in item.properties["processing:lineage"] and "synthetic" in item.properties["processing:lineage"]
    description = create_collection([item]).description
    assert words in description and "synthetic" in description
    if ranker != "vlm":
        assert "ranked by a vision-language model" not in description + item.properties["processing:lineage"]


def test_planetary_computer_scenes_are_linked(item):
    item.properties["devscore:ranker"] = "vlm"
    record_source(item, "planetary-computer", SOURCE_ITEM_URL)
    assert _scene_links(item) == [SOURCE_ITEM_URL.format(SCENE)]
    assert "Planetary Computer" in create_collection([item]).description


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


def test_gap_filling_scenes_keep_their_links(item):
    """record_source rewrote only the first scene link: the scenes that filled gaps lost theirs."""
    other = "S2B_MSIL2A_20230920T033529_R061_T48RVU_20230920T070000"
    item.add_link(pystac.Link(rel="derived_from", target=SOURCE_ITEM_URL.format(other),
                              title=f"Source scene {other} (12 gap-filled chips)"))
    record_source(item, "planetary-computer", SOURCE_ITEM_URL)
    assert _scene_links(item) == [SOURCE_ITEM_URL.format(SCENE), SOURCE_ITEM_URL.format(other)]
    assert item.properties["devscore:scene_id"] == SCENE
    record_source(item, "synthetic", None)
    assert _scene_links(item) == []
