"""The sampling tile reader renders the pixels of rio-tiler's warped read (nearest) away from chip edges,
at every zoom of the score layers, and hands what it does not do the same way back to rio-tiler."""

from __future__ import annotations

import morecantile
import numpy as np
import pytest
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from scipy.ndimage import maximum_filter, minimum_filter

from catalog.reader import StaticCatalog
from tiler_app.gridtiles import GridReader

TMS = morecantile.tms.get("WebMercatorQuad")


def _calm(values: np.ndarray) -> np.ndarray:
    """Pixels whose 3 x 3 neighbourhood in ``values`` is one value (NaN counted as one): away from edges."""
    filled = np.nan_to_num(values, nan=-1e9)
    return maximum_filter(filled, 3) == minimum_filter(filled, 3)


@pytest.fixture(scope="module")
def score_cog(served_catalog):
    _, catalog = served_catalog
    return StaticCatalog(catalog).asset_path("devscore-scores", "48RVU-2023", "score")


def test_sampled_tiles_equal_warped_tiles_away_from_chip_edges(score_cog):
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
                calm = _calm(expected)
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
