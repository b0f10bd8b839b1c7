"""Regions as users say them: a WGS84 bbox becomes the MGRS tiles that cover it (checked against the
footprints TileGrid computes), year ranges, and one-line refusals of bad boxes and years."""

from __future__ import annotations

import json

import click
import numpy as np
import pystac
import pytest
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from publisher.grid import TileGrid
from publisher.imagery.options import YEARS
from publisher.regions import BBox, BBoxError, tiles_for_bbox
from tests.test_cli_inputs import devscore



def footprint(tile: str):
    return shape(TileGrid.from_tile_id(tile).footprint)


def test_a_point_anywhere_gets_the_one_tile_whose_footprint_holds_it():
    rng = np.random.default_rng(16)
    for lon, lat in zip(rng.uniform(-180, 180, 40), rng.uniform(-80, 84, 40)):
        tiles = tiles_for_bbox(BBox(lon, lat, lon, lat))
        assert len(tiles) == 1 and footprint(tiles[0]).contains(Point(lon, lat)), (lon, lat, tiles)


@pytest.mark.parametrize("box", [(103.9, 30.5, 104.2, 30.8),    # around Chengdu, four tiles
                                 (107.5, 30.0, 108.5, 30.5),    # across the UTM zone 48/49 boundary
                                 (-43.5, -23.2, -42.9, -22.7)])  # southern hemisphere
def test_the_tiles_cover_the_box_and_each_meets_it(box):
    tiles = tiles_for_bbox(BBox(*box))
    area = BBox(*box).polygon().segmentize(0.01)
    assert unary_union([footprint(t) for t in tiles]).contains(area)
    assert all(footprint(t).intersects(area) for t in tiles)
    if box[0] < 108 < box[2]:
        assert {t[:2] for t in tiles} == {"48", "49"}


def test_a_box_in_the_overlap_of_two_footprints_needs_only_its_own_tile():
    """48RUU's footprint reaches 9.8 km into 48RVU's square; a box there needs 48RVU and not 48RUU."""
    vu = TileGrid.from_tile_id("48RVU")
    to_wgs84 = Transformer.from_crs(vu.crs, "EPSG:4326", always_xy=True)
    (lon0, lat0), (lon1, lat1) = (to_wgs84.transform(vu.ulx + 1000, vu.uly - 50_000),
                                  to_wgs84.transform(vu.ulx + 5000, vu.uly - 45_000))
    box = BBox(lon0, lat0, lon1, lat1)
    assert footprint("48RUU").contains(box.polygon())  # the neighbour would cover it too
    assert tiles_for_bbox(box) == ["48RVU"]


@pytest.mark.parametrize("text, message", [
    ("105,30,104,31", "west 105 is east of east 104"),
    ("104,31,105,30", "south 31 is north of north 30"),
    ("104,80,105,85", "latitudes must lie in -80..84"),
    ("104,-81,105,-79", "latitudes must lie in -80..84"),
    ("104,30,105", "is not W,S,E,N"),
    ("104,30,nan,31", "not a finite number"),
])
def test_bad_boxes_are_refused(text, message):
    with pytest.raises(BBoxError, match=message):
        BBox.parse(text)


def test_year_ranges_and_their_refusals():
    assert YEARS.convert("2020-2022,2024,2021", None, None) == [2020, 2021, 2022, 2024]
    for text, message in [("2024-2020", "runs backwards"), ("2010-2016", "2010 is not in the range 2015<=x<=2100"), ("20x1", "not a year")]:
        with pytest.raises(click.BadParameter, match=message):
            YEARS.convert(text, None, None)


@pytest.mark.parametrize("args, message", [
    (["run", "--bbox", "105,30,104,31", "--years", "2021", "--out", "out"], "west 105 is east of east 104"),
    (["run", "--tiles", "48RVU", "--years", "2024-2020", "--out", "out"], "'2024-2020' runs backwards"),
    (["chips", "--bbox", "104,80,105,85", "--year", "2021", "--out", "out"], "latitudes must lie in -80..84"),
    (["synth", "--years", "2024-2020", "--out", "out"], "runs backwards"),
    (["acquire", "--year", "2021"], "give --tile (MGRS tiles) or --bbox"),
    (["run", "--tiles", "48RVU", "--bbox", "104,30,105,31", "--years", "2021", "--out", "out"], "not both"),
    (["tiles"], "give --bbox"),
])
def test_bad_regions_are_one_line_and_write_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = devscore(monkeypatch, capsys, *args)
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert code != 0 and len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_tiles_lists_the_footprints_as_geojson(monkeypatch, capsys):
    code, out, _ = devscore(monkeypatch, capsys, "tiles", "--bbox", "107.5,30,108.5,30.5", "--geojson")
    features = json.loads(out)["features"]
    assert code == 0 and [f["id"] for f in features] == tiles_for_bbox(BBox(107.5, 30, 108.5, 30.5))
    for f in features:
        assert shape(f["geometry"]).equals(footprint(f["id"])) and f["properties"]["epsg"] == TileGrid.from_tile_id(
            f["id"]).epsg
    code, out, _ = devscore(monkeypatch, capsys, "tiles", "--bbox", "107.5,30,108.5,30.5")
    assert code == 0 and out.splitlines()[-1].endswith("--tiles 48RYU,49RBP")


def test_synth_takes_a_bbox_and_a_year_range(tmp_path, monkeypatch, capsys):
    code, _, err = devscore(monkeypatch, capsys, "synth", "--out", str(tmp_path / "r"), "--bbox", "107.9,30.1,108.1,30.2",
                            "--years", "2021-2022", "--size", "64", "--scenes-per-year", "1")
    assert code == 0, err
    items = list(pystac.Catalog.from_file(str(tmp_path / "r" / "source" / "catalog.json")).get_items(recursive=True))
    assert sorted({(i.properties["s2:mgrs_tile"] if "s2:mgrs_tile" in i.properties else
                    f"{i.properties['mgrs:utm_zone']:02d}{i.properties['mgrs:latitude_band']}"
                    f"{i.properties['mgrs:grid_square']}", i.datetime.year) for i in items}) == [
        (t, y) for t in tiles_for_bbox(BBox(107.9, 30.1, 108.1, 30.2)) for y in (2021, 2022)]
