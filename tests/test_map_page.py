"""The map page in a real browser: headless Chromium loads it, tiles come back 200, the map is drawn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHOOT = ROOT / "tests" / "browser" / "shoot.mjs"
CHROMIUM = Path("/usr/bin/chromium")

needs_browser = pytest.mark.skipif(
    not (CHROMIUM.exists() and (ROOT / "node_modules" / "playwright-core").exists() and shutil.which("node")),
    reason="make test installs Chromium (apt) and node_modules (npm ci)",
)


def shoot(url: str, out: Path, wait_for: str = "", click: str = "") -> dict:
    """Run the Chromium driver; returns its summary (responses, console errors, page text)."""
    result = subprocess.run(["node", str(SHOOT), url, str(out), wait_for, click], capture_output=True, text=True,
                            timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def colours(path: Path) -> int:
    """Distinct colours in a screenshot (a blank page has one or two)."""
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    return len(np.unique(pixels, axis=0))


@needs_browser
def test_map_page_draws_the_score_layer(served_catalog, tmp_path):
    base, _ = served_catalog
    png = tmp_path / "map.png"
    summary = shoot(f"{base}/", png, click="700,400")
    # MapLibre loads tiles in a worker; the page counts loads and errors of the score source
    assert summary["tiles"]["loaded"] > 0 and summary["tiles"]["errors"] == []
    assert not [r for r in summary["responses"] if r["status"] >= 400 and not r["url"].endswith("favicon.ico")]
    assert [e for e in summary["errors"] if "favicon" not in e and "404" not in e] == []
    assert "devscore-scores 2023" in summary["text"]
    assert "score" in summary["text"]  # legend and the clicked chip's score
    assert colours(png) > 50


@needs_browser
@pytest.mark.skipif(not os.environ.get("DEVSCORE_DEMO_URL"), reason="set DEVSCORE_DEMO_URL to a served demo")
def test_readme_picture_of_the_demo():
    """The README's picture: the demo's map page (`make demo`, then DEVSCORE_DEMO_URL=http://127.0.0.1:8000
    pytest -k readme_picture) shot by the same driver, drawn, and written to docs/img/map-page.png."""
    png = ROOT / "docs" / "img" / "map-page.png"
    summary = shoot(f"{os.environ['DEVSCORE_DEMO_URL'].rstrip('/')}/", png, wait_for="devscore-scores")
    assert summary["tiles"]["loaded"] > 0 and summary["tiles"]["errors"] == [] and colours(png) > 50
    Image.open(png).convert("RGB").quantize(colors=256).save(png, optimize=True)
