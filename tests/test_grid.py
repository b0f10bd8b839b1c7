"""Granule geometry against verified values of real Sentinel-2 L2A products."""

import pytest
from shapely.geometry import shape

from publisher.constants import CHIP_SIZE, GRANULE_SIZE
from publisher.grid import TileGrid, TileIdError

REAL_TILES = {
    "48RVU": (32648, 399960, 3400020),
    "48RTR": (32648, 199980, 3100020),
    "47RQK": (32647, 699960, 3000000),
    "51RUQ": (32651, 300000, 3500040),
    "46RER": (32646, 499980, 3100020),
    "10SDG": (32610, 399960, 4200000),
    "60CWS": (32760, 499980, 1200040),
}


@pytest.mark.parametrize("tile,expected", REAL_TILES.items())
def test_epsg_and_corner_match_real_products(tile, expected):
    grid = TileGrid.from_tile_id(tile)
    assert (grid.epsg, grid.ulx, grid.uly) == expected
    assert grid.transform.a == 10 and grid.transform.e == -10
    assert grid.shape == (GRANULE_SIZE, GRANULE_SIZE)


def test_tile_prefix_and_case_accepted():
    assert TileGrid.from_tile_id("t48rvu") == TileGrid.from_tile_id("48RVU")


def test_footprint_contains_chengdu_and_bbox_matches():
    grid = TileGrid.from_tile_id("48RVU")
    poly = shape(grid.footprint)
    assert poly.is_valid
    # Chengdu centre, 104.07 E 30.67 N, lies in 48RVU.
    assert poly.contains(shape({"type": "Point", "coordinates": [104.07, 30.67]}))
    west, south, east, north = grid.bbox
    assert west < 104.07 < east and south < 30.67 < north
    # densified: many more vertices than a 4-corner square
    assert len(grid.footprint["coordinates"][0]) > 40


def test_antimeridian_tile_is_split():
    grid = TileGrid.from_tile_id("60CWS")
    assert grid.footprint["type"] == "MultiPolygon"
    west, _, east, _ = grid.bbox
    assert west > east  # crosses 180
    for polygon in grid.footprint["coordinates"]:
        lons = [p[0] for p in polygon[0]]
        assert max(lons) - min(lons) < 180


def test_chip_windows_layout():
    grid = TileGrid.from_tile_id("48RVU")
    windows = list(grid.chip_windows())
    assert len(windows) == 1024
    row, col, w = windows[0]
    assert (row, col, w.row_off, w.col_off, w.height, w.width) == (0, 0, 0, 0, CHIP_SIZE, CHIP_SIZE)
    row, col, w = windows[-1]
    assert (row, col) == (31, 31)
    assert w.row_off + w.height == GRANULE_SIZE - 4 and w.col_off + w.width == GRANULE_SIZE - 4
    # chip (0, 1) lies east of chip (0, 0); chip polygon corner matches the grid origin
    assert grid.chip_window(0, 1).col_off == CHIP_SIZE
    assert grid.chip_polygon(0, 0).bounds == (grid.ulx, grid.uly - 3430, grid.ulx + 3430, grid.uly)
    with pytest.raises(IndexError):
        grid.chip_window(32, 0)


@pytest.mark.parametrize(
    "bad,fragment",
    [
        ("48RV", "malformed"),
        ("", "malformed"),
        ("61RVU", "zone 61"),
        ("00RVU", "zone 0"),
        ("48IVU", "latitude band 'I'"),
        ("48RAU", "column letter 'A'"),
        ("48RVO", "row letter 'O'"),
        ("48RVE", "does not reach latitude band R"),
    ],
)
def test_bad_tile_ids_are_clear_errors(bad, fragment):
    with pytest.raises(TileIdError, match=fragment):
        TileGrid.from_tile_id(bad)
