"""The sampling tile reader renders the pixels of rio-tiler's warped read (nearest) away from chip edges,
at every zoom of the score layers, and hands what it does not do the same way back to rio-tiler."""

from __future__ import annotations

from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from pyproj import Transformer

from catalog.reader import StaticCatalog
from publisher.cog import CHIP_PX_TAG
from tiler_app.gridtiles import GridReader, chip_grid

TMS = morecantile.tms.get("WebMercatorQuad")


#: Output pixels from a chip edge inside which the warped read may take the neighbouring chip: GDAL reads
#: an overview up to about 1.4 output pixels coarse (measured z7-14), so its nearest pixel can lie that
#: far from the output pixel's own position.
EDGE_PIXELS = 2.0


def _away_from_edges(cog: str, t, chip_px: int) -> np.ndarray:
    """Output pixels of tile ``t`` whose exact source position is more than EDGE_PIXELS output pixels from
    every chip edge (each pixel centre projected by PROJ, no lattice)."""
    with rasterio.open(cog) as dataset:
        inverse, crs = ~dataset.transform, dataset.crs
    west, south, east, north = TMS.xy_bounds(t)
    centres = (np.arange(256) + 0.5) / 256
    x, y = np.meshgrid(west + centres * (east - west), north - centres * (north - south))
    sx, sy = Transformer.from_crs("EPSG:3857", crs.to_wkt(), always_xy=True).transform(x, y)
    col, row = inverse @ (sx, sy)
    pixel = max(np.ptp(col), np.ptp(row)) / 255  # source pixels per output pixel
    to_edge = np.minimum(np.abs(col - chip_px * np.round(col / chip_px)), np.abs(row - chip_px * np.round(row / chip_px)))
    return to_edge > EDGE_PIXELS * pixel


@pytest.fixture(scope="module")
def score_cog(served_catalog):
    _, catalog = served_catalog
    return StaticCatalog(catalog).asset_path("devscore-scores", "48RVU-2023", "score")


@pytest.fixture(scope="module")
def untagged_cog(score_cog, tmp_path_factory) -> Path:
    """The score COG without its chip size (as a COG from elsewhere would be)."""
    path = tmp_path_factory.mktemp("untagged") / "score.tif"
    rasterio.shutil.copy(score_cog, path, driver="COG")
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        dataset.update_tags(**{CHIP_PX_TAG: ""})
    return path


@pytest.mark.parametrize("tagged", [True, False], ids=["chip values", "overview sampling"])
def test_tiles_equal_warped_tiles_away_from_chip_edges(score_cog, untagged_cog, tagged):
    """A published score COG carries its chip size: its tiles come from the chip values (no raster read);
    any other COG's from the overview the warp would read. Both equal rio-tiler's warped read (nearest)
    everywhere except within EDGE_PIXELS of a chip edge."""
    with rasterio.open(score_cog) as dataset:
        chip_px = int(dataset.tags()[CHIP_PX_TAG])
    score_cog = score_cog if tagged else untagged_cog
    assert (chip_grid(str(score_cog)) is not None) == tagged
    rng = np.random.default_rng(3)
    with Reader(str(score_cog)) as warped, GridReader(str(score_cog)) as sampled:
        west, south, east, north = warped.get_geographic_bounds("epsg:4326")
        compared = 0
        for z in range(7, 15):
            tiles = list(TMS.tiles(west, south, east, north, [z]))
            for i in rng.choice(len(tiles), min(4, len(tiles)), replace=False):
                t = tiles[i]
                try:
                    expected = warped.tile(t.x, t.y, t.z).array.filled(np.nan)[0]
                except TileOutsideBounds:
                    continue
                got = sampled.tile(t.x, t.y, t.z).array.filled(np.nan)[0]
                calm = _away_from_edges(str(score_cog), t, chip_px)
                same = (expected == got) | (np.isnan(expected) & np.isnan(got))
                assert same[calm].all(), f"tile {t}: {int((~same & calm).sum())} pixels differ away from edges"
                compared += int(calm.sum())
        assert compared > 1_000_000


def test_requests_it_does_not_sample_go_to_rio_tiler(score_cog):
    """Bilinear resampling is rio-tiler's own read: identical to the warped reader's output."""
    with Reader(str(score_cog)) as warped, GridReader(str(score_cog)) as sampled:
        west, south, east, north = warped.get_geographic_bounds("epsg:4326")
        t = next(iter(TMS.tiles(west + 0.2, south + 0.2, east - 0.2, north - 0.2, [10])))
        expected = warped.tile(t.x, t.y, t.z, resampling_method="bilinear").array
        got = sampled.tile(t.x, t.y, t.z, resampling_method="bilinear").array
        assert np.array_equal(expected.filled(np.nan), got.filled(np.nan), equal_nan=True)


def test_quadkey_index_equals_cogeo_mosaics_own():
    """The year mosaic's quadkey index is the one MosaicJSON.from_features builds (same quadkeys, same
    assets in the same order), over the granules of a province."""
    from cogeo_mosaic.mosaic import MosaicJSON

    from bench.national import tiles_over
    from tiler_app.mosaic import QUADKEY_ZOOM, quadkey_index

    features = [{"type": "Feature", "geometry": grid.footprint, "properties": {"asset": f"c/{grid.tile}"}}
                for grid in tiles_over((102.0, 27.0, 109.0, 33.0))]
    expected = MosaicJSON.from_features(features, minzoom=2, maxzoom=14, quadkey_zoom=QUADKEY_ZOOM, quiet=True,
                                        accessor=lambda feature: feature["properties"]["asset"]).tiles
    assert len(features) >= 50 and quadkey_index(features) == expected


def test_only_pixels_outside_the_raster_are_left_out_of_the_window(score_cog):
    """A low-zoom tile meets a granule over part of its pixels; only there are positions interpolated and
    chips looked up. Every pixel left out lies outside the raster (its position from the whole tile's
    interpolation), and a tile that meets the raster's corner leaves most pixels out."""
    from tiler_app.gridtiles import LATTICE_STEP, _interpolate, _lattice, _transformer, _window

    with Reader(str(score_cog)) as reader:
        dataset = reader.dataset
        inverse, crs, width, height = ~dataset.transform, dataset.crs, dataset.width, dataset.height
        west, south, east, north = reader.get_geographic_bounds("epsg:4326")
    whole = (slice(None), slice(None))
    left_out = 0
    for z in (6, 7, 8):
        for t in TMS.tiles(west, south, east, north, [z]):
            xs, ys, cols, rows = _lattice(tuple(TMS.xy_bounds(t)), 256, 256, LATTICE_STEP)
            sx, sy = _transformer("EPSG:3857", crs.to_wkt()).transform(*np.meshgrid(xs, ys))
            src_col, src_row = inverse @ (sx, sy)
            window = _window(src_col, src_row, cols, rows, width, height)
            col = _interpolate(src_col, cols, rows, 256, 256, whole)
            row = _interpolate(src_row, cols, rows, 256, 256, whole)
            inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            kept = np.zeros_like(inside)
            if window is not None:
                kept[window] = True
            assert not (inside & ~kept).any(), f"tile {t}: pixels inside the raster left out"
            left_out = max(left_out, int((~kept).sum()))
    assert left_out > 256 * 256 // 2
