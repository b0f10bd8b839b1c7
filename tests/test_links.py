"""Every link resolves wherever an item is read: the static catalog on disk, the static catalog over
HTTP and the STAC API, walked by the link checker (`devscore validate --links`) with a real client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from catalog.linkcheck import check_links

DEVSCORE = Path(sys.executable).parent / "devscore"


@pytest.mark.parametrize("where", ["folder", "/catalog/catalog.json", "/stac"])
def test_every_link_and_asset_resolves(demo_served, where):
    base, catalog = demo_served
    report = check_links(catalog if where == "folder" else f"{base}{where}")
    assert report.problems == []
    # night lights, model, report and both score items were reached, not just the landing page
    assert report.documents >= 7 and report.checked >= 20


def test_api_items_link_into_the_api(demo_served):
    base, _ = demo_served
    item = httpx.get(f"{base}/stac/collections/devscore-scores/items/48RVU-2023", timeout=30).json()
    kept = {link["rel"]: link["href"] for link in item["links"] if link["rel"] in ("related", "derived_from")}
    assert kept["related"] == f"{base}/stac/collections/viirs-nightlights/items/48RVU-2023"
    assert kept["derived_from"].startswith(f"{base}/stac/collections/devscore-models/items/")
    nightlights = httpx.get(f"{base}/stac/collections/viirs-nightlights", timeout=30).json()
    reports = [link["href"] for link in nightlights["links"] if "report" in link["href"]]
    assert reports and all(href.startswith(f"{base}/catalog/viirs-nightlights/report/") for href in reports)


def test_the_checker_finds_a_broken_link(demo_served, tmp_path):
    """The checker can fail: a catalog with a missing asset and a dangling link is reported, and the CLI exits 1."""
    import shutil

    base, catalog = demo_served
    copy = tmp_path / "catalog"
    shutil.copytree(catalog, copy)
    item_file = copy / "devscore-scores" / "48RVU-2023" / "48RVU-2023.json"
    next(item_file.parent.glob("thumbnail-*.png")).unlink()
    problems = check_links(copy).problems
    assert len(problems) == 1 and "asset thumbnail" in problems[0]
    result = subprocess.run([str(DEVSCORE), "validate", "--links", str(copy)], capture_output=True, text=True)
    assert result.returncode == 1 and "1 broken link(s)" in result.stderr and "Traceback" not in result.stderr
    served = subprocess.run([str(DEVSCORE), "validate", "--links", f"{base}/stac"], capture_output=True, text=True)
    assert served.returncode == 0, served.stdout + served.stderr
    assert "0 broken" in served.stdout
