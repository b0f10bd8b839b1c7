"""Ingest and compare in one call: what the end of ``devscore run --nightlights`` and the demo do."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from catalog.nightlights.compare import Report, compare_catalog
from catalog.nightlights.ingest import ingest
from publisher.nightlights.products import NightLightsError


def ingest_and_compare(rasters: Mapping[int, Sequence[str | Path]], catalog_dir: str | Path,
                       tiles: Sequence[str] | None = None, layer: str | None = None) -> Report:
    """Ingest the night-light files of each year (``{year: [files]}``) into the catalog, then compare
    (one year: that year's granule-years; several: every night-light item of the catalog, so the report
    covers them all). ``report.table()`` is the Markdown table to print."""
    if not rasters:
        raise NightLightsError("no night-light rasters given")
    for year, files in sorted(rasters.items()):
        ingest(files, year, catalog_dir, tiles=tiles, layer=layer)
    return compare_catalog(catalog_dir, next(iter(rasters)) if len(rasters) == 1 else None)
