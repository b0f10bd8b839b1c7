"""The chips table in a second format: a FlatGeobuf asset beside the GeoParquet, with the same rows and
columns, readable by Debian's GDAL 3.6 `ogrinfo` (no Parquet driver there), with table/file metadata."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from publisher.constants import CHIPS_ASSET, CHIPS_FLATGEOBUF_ASSET
from publisher.stac import FLATGEOBUF_MEDIA_TYPE, multihash_sha256


def _item(catalog: Path) -> tuple[dict, Path]:
    path = catalog / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json"
    return json.loads(path.read_text()), path.parent


def test_flatgeobuf_holds_the_geoparquet_table(served_catalog):
    _, catalog = served_catalog
    item, folder = _item(catalog)
    parquet, fgb = item["assets"][CHIPS_ASSET], item["assets"][CHIPS_FLATGEOBUF_ASSET]
    assert fgb["type"] == FLATGEOBUF_MEDIA_TYPE and fgb["href"].endswith(".fgb")
    assert fgb["file:checksum"] == multihash_sha256(folder / fgb["href"])
    assert fgb["table:columns"] == parquet["table:columns"] and fgb["table:row_count"] == parquet["table:row_count"] == 1024
    a = gpd.read_parquet(folder / parquet["href"])
    b = gpd.read_file(folder / fgb["href"], engine="pyogrio")  # spatially indexed: rows in Hilbert order
    b = b.sort_values(["row", "col"]).reset_index(drop=True)
    assert list(a.columns) == list(b.columns) == [c["name"] for c in parquet["table:columns"]]
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")),
                                  check_dtype=False)
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all()


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="make test installs gdal-bin (apt)")
def test_system_gdal_reads_the_flatgeobuf(served_catalog):
    _, catalog = served_catalog
    item, folder = _item(catalog)
    out = subprocess.run(["ogrinfo", "-so", "-al", str(folder / item["assets"][CHIPS_FLATGEOBUF_ASSET]["href"])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Feature Count: 1024" in out.stdout and "score: Real" in out.stdout
