"""Both pages in headless Chromium at 420 px (a phone): the map page offers the night lights too and
shows the legend; the compare page without a year picks the latest and draws both maps with ramps."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from tests.test_map_page import needs_browser, shoot


def _narrow(url: str, png, wait_for: str) -> dict:
    os.environ["VIEWPORT"] = "420x800"
    try:
        return shoot(url, png, wait_for=wait_for)
    finally:
        del os.environ["VIEWPORT"]


def _drawn_share(png, top: int) -> float:
    """Share of the screenshot below ``top`` px that is not the pages' grey background."""
    pixels = np.asarray(Image.open(png).convert("RGB"))[top:].reshape(-1, 3).astype(int)
    return float((np.abs(pixels - [232, 232, 228]).sum(axis=1) > 30).mean())


def _bad_responses(summary: dict) -> list:
    return [r for r in summary["responses"] if r["status"] >= 400 and not r["url"].endswith("favicon.ico")]


@needs_browser
def test_map_page_at_420_px(demo_served, tmp_path):
    base, _ = demo_served
    png = tmp_path / "map.png"
    summary = _narrow(f"{base}/", png, "viirs-nightlights 2023")
    assert summary["tiles"]["loaded"] > 0 and summary["tiles"]["errors"] == [] and _bad_responses(summary) == []
    assert any(r["url"].endswith("/legend.png?collection=devscore-scores") and r["status"] == 200
               for r in summary["responses"])
    assert _drawn_share(png, 300) > 0.3  # the scores show below the panel


@needs_browser
def test_compare_page_without_year_at_420_px(demo_served, tmp_path):
    base, _ = demo_served
    png = tmp_path / "compare.png"
    summary = _narrow(f"{base}/nightlights/compare", png, "Spearman")
    assert "2023" in summary["text"] and _bad_responses(summary) == []
    assert summary["tiles"]["sources"]["scores"] > 0 and summary["tiles"]["sources"]["nightlights"] > 0
    legends = {r["url"].split("=")[-1] for r in summary["responses"] if "/legend.png" in r["url"] and r["status"] == 200}
    assert legends == {"devscore-scores", "viirs-nightlights"}
    assert _drawn_share(png, 100) > 0.3
