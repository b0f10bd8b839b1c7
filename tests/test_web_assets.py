"""The map page is never silently blank: `devscore serve` refuses to start, in one line, when MapLibre
(node_modules, installed by `make web`) is missing, and serves its files when it is there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port
from tiler_app.page import MAPLIBRE_FILES, NODE_MODULES

DEVSCORE = Path(sys.executable).parent / "devscore"


def test_serve_refuses_to_start_without_maplibre(served_catalog, tmp_path):
    _, catalog = served_catalog
    env = {**os.environ, "DEVSCORE_NODE_MODULES": str(tmp_path / "node_modules")}
    result = subprocess.run([str(DEVSCORE), "serve", "--catalog", str(catalog), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MapLibre" in lines[0] and "make web" in lines[0]


def test_the_served_page_finds_maplibre(served_catalog):
    base, _ = served_catalog
    assert (NODE_MODULES / "maplibre-gl" / "dist").is_dir()  # make test installs it
    for name in MAPLIBRE_FILES:
        response = httpx.get(f"{base}/vendor/maplibre-gl/{name}", timeout=30)
        assert response.status_code == 200 and len(response.content) > 1000
