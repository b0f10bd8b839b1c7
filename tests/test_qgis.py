"""QGIS itself draws the layers: Debian's QGIS 3.22 (PyQGIS headless, installed by `make test`) loads the
scores over XYZ and WMTS and the night lights over XYZ from a served demo-like catalog, and renders the
data's extent and a 1:10,000 view (where WMTS asked for zoom levels the server used to refuse)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from publisher.grid import TileGrid
from tests.demo_like import TILES

SYSTEM_PYTHON = Path("/usr/bin/python3")
RENDER = Path(__file__).resolve().parent / "qgis" / "render.py"


def _has_qgis() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    return subprocess.run([str(SYSTEM_PYTHON), "-c", "import qgis.core"], capture_output=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}).returncode == 0


needs_qgis = pytest.mark.skipif(not _has_qgis(), reason="make test installs Debian's python3-qgis (apt)")


@needs_qgis
def test_qgis_draws_every_layer_at_full_extent_and_at_1_10000(demo_served, tmp_path):
    base, _ = demo_served
    boxes = [TileGrid.from_tile_id(tile).bbox for tile in TILES]
    bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run([str(SYSTEM_PYTHON), str(RENDER), base, str(tmp_path), *map(str, bbox)],
                            capture_output=True, text=True, timeout=300,
                            env={**env, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    shares = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(shares) == {"scores-xyz", "scores-wmts", "nightlights-xyz"}
    for layer, share in shares.items():
        assert "error" not in share, (layer, share)
        assert share["extent"] > 0.4, (layer, share)  # the granules fill most of their bbox
        assert share["close"] > 0.95, (layer, share)  # zoomed in on a scored chip: painted all over
