"""Chips are published where they were cut, at every grid size.

A scene whose pixels say where they are (red = column mod 251, green = row mod 251) is cut into chips by
the real extraction, scored by a (small, untrained) scorer, and published. Each chip's own first pixel
says which source pixel its cut window starts at; the published chip polygon (GeoParquet), the score
COG's pixels and the night-light zones must cover that window, to within one source pixel.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window, from_bounds

from publisher.constants import GRANULE_EXTENT_M
from publisher.grid import TileGrid

TILE = "48RVU"
CODE = 251  # position code modulus: unique over any 251 px, far more than any misplacement tested for
#: Chips checked: corners, edges and the middle (the misplacement grows with the chip index).
SAMPLE = [(0, 0), (0, 31), (31, 0), (31, 31), (16, 9), (5, 27), (27, 5)]
STRIP = 1024


def _scene(path: Path, size: int) -> Affine:
    """A true-colour GeoTIFF on the tile's footprint at ``size`` px whose pixels encode their position."""
    grid = TileGrid.from_tile_id(TILE)
    pixel = GRANULE_EXTENT_M / size
    transform = Affine(pixel, 0.0, grid.ulx, 0.0, -pixel, grid.uly)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8", "crs": grid.crs,
               "transform": transform, "tiled": True, "blockxsize": 512, "blockysize": 512}
    cols = (np.arange(size) % CODE).astype(np.uint8)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, STRIP):
            n = min(STRIP, size - row)
            rows = (np.arange(row, row + n) % CODE).astype(np.uint8)
            block = np.empty((3, n, size), np.uint8)
            block[0], block[1], block[2] = cols[None, :], rows[:, None], 100  # blue: never blank, never cloud
            dst.write(block, window=Window(0, row, size, n))
    return transform


def _decode(code: int, near: float) -> int:
    """The pixel index with ``index % CODE == code`` nearest to ``near``."""
    return int(round((near - code) / CODE)) * CODE + code


@pytest.mark.parametrize("size", [1098, 2196, pytest.param(10980, marks=pytest.mark.slow)])
def test_published_chips_cover_their_cut_windows(tmp_path, size):
    from catalog.ingest import publish_table
    from catalog.reader import StaticCatalog
    from publisher.cog import read_chip_grid
    from publisher.constants import CHIPS_ASSET, COLLECTION_ID, SCORE_ASSET
    from publisher.imagery.chipfiles import list_chip_files
    from publisher.imagery.extract import chip_grid, extract_chips
    from publisher.mpi import world
    from publisher.nightlights.aggregate import chip_polygons
    from publisher.scoring.infer import score_granule
    from publisher.scoring.model import Scorer

    scene = tmp_path / "scene.tif"
    scene_transform = _scene(scene, size)
    with extract_chips(str(scene), world()) as chipset:
        chipset.save(tmp_path / "chips" / f"{TILE}-2023.npz", scene_id="s", datetime="2023-05-01T03:00:00+00:00",
                     chip_grid=chip_grid(str(scene)))
    chip_file = list_chip_files(tmp_path / "chips")[0]
    chips = chip_file.load()
    torch.manual_seed(0)
    table = score_granule(Scorer(32).eval(), chip_file, torch.device("cpu"), workers=0)
    # every chip gets its own score (its index), so a chip's pixels can be told from its neighbours'
    table["score"] = ((table["row"] * 32 + table["col"]) / 1023.0).astype(np.float32)
    table.assign(datetime=table["datetime"].map(lambda t: t.isoformat())).to_csv(tmp_path / "scores.csv", index=False)
    publish_table(tmp_path / "scores.csv", tmp_path / "catalog", device="cpu", progress=False)

    catalog = StaticCatalog(tmp_path / "catalog")
    cog = catalog.asset_path(COLLECTION_ID, f"{TILE}-2023", SCORE_ASSET)
    frame = gpd.read_parquet(catalog.asset_path(COLLECTION_ID, f"{TILE}-2023", CHIPS_ASSET))
    utm = frame.to_crs(TileGrid.from_tile_id(TILE).crs).set_index(["row", "col"])
    zones = chip_polygons(read_chip_grid(cog)).set_index(["row", "col"])
    pixel = scene_transform.a
    side = chips.chips.shape[1]
    with rasterio.open(cog) as src:
        for r, c in SAMPLE:
            i = r * 32 + c
            assert (chips.rows[i], chips.cols[i]) == (r, c)
            # where the chip was cut: its first pixel's code, resolved near the polygon's corner
            left, bottom, right, top = utm.loc[(r, c)].geometry.bounds
            col_off, row_off = ~scene_transform @ (left, top)
            cut_col = _decode(int(chips.chips[i, 0, 0, 0]), col_off)
            cut_row = _decode(int(chips.chips[i, 0, 0, 1]), row_off)
            # the published polygon is the cut window, within one source pixel
            assert abs(col_off - cut_col) <= 1 and abs(row_off - cut_row) <= 1, (size, r, c, col_off, cut_col)
            assert abs((right - left) / pixel - side) <= 1 and abs((top - bottom) / pixel - side) <= 1
            # the night-light zone is the same polygon
            zone = zones.loc[(r, c)].geometry  # densified differently: the same square to 1e-6 degrees
            assert zone.hausdorff_distance(frame.set_index(["row", "col"]).loc[(r, c)].geometry) < 1e-6
            # the COG's pixels over the cut window (inset by one source pixel) all hold the chip's score
            x0, y0 = scene_transform @ (cut_col + 1, cut_row + 1)
            x1, y1 = scene_transform @ (cut_col + side - 1, cut_row + side - 1)
            window = from_bounds(x0, y1, x1, y0, src.transform).round_offsets().round_lengths()
            values = src.read(1, window=window)
            assert values.size and (values == np.float32(i / 1023.0)).all(), (size, r, c, np.unique(values)[:5])


def test_a_score_table_with_a_foreign_chip_grid_is_refused(tmp_path):
    """A table whose chip grid is in another UTM zone than its tile, or mixes grids, is refused by name."""
    from publisher.scores import ScoreTableError, geometry_columns, read_chip_scores, scores_to_table
    from publisher.scores import GranuleYear

    grid = TileGrid.from_tile_id(TILE)
    granule = GranuleYear(TILE, 2023, dt.datetime(2023, 5, 1, tzinfo=dt.timezone.utc), None,
                          np.full((32, 32), 0.5, np.float32))
    table = scores_to_table([granule]).assign(**geometry_columns(32647, grid.transform @ Affine.scale(340), 34))
    table.to_csv(tmp_path / "zone.csv", index=False)
    with pytest.raises(ScoreTableError, match="EPSG:32647"):
        read_chip_scores(tmp_path / "zone.csv")
    table = table.assign(epsg=grid.epsg)
    table.loc[5, "chip_px"] = 33
    table.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(ScoreTableError, match="mixes chip grids"):
        read_chip_scores(tmp_path / "mixed.csv")
    table.loc[5, "chip_px"] = 34
    table.to_csv(tmp_path / "good.csv", index=False)
    cut = read_chip_scores(tmp_path / "good.csv")[0].chip_grid
    assert (cut.width, cut.pixel_size, cut.chip_px) == (1098, 100.0, 34)
