"""``devscore compare``: per granule-year, chip scores against chip night lights (area-weighted means
over each chip polygon), stored in the score item as ``devscore:viirs`` and written as a report
(Markdown and CSV table, scatter and side-by-side map PNGs) linked from the night-light collection."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pystac
from tqdm import tqdm

from catalog.nightlights.store import collection_dir, link_items, link_report
from catalog.reader import StaticCatalog
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.constants import SCORE_ASSET
from publisher.nightlights.aggregate import chip_radiance, chip_scores
from publisher.nightlights.correlate import correlate
from publisher.nightlights.products import NightLightsError
from publisher.nightlights.report import Row, maps_png, markdown_table, scatter_png, write_table
from publisher.nightlights.stac import ASSET, COLLECTION_ID

log = logging.getLogger(__name__)

REPORT_DIR = "report"


@dataclass
class Report:
    """What a comparison produced: one row per granule-year and the files written."""

    rows: list[Row] = field(default_factory=list)
    markdown: Path | None = None
    csv: Path | None = None
    figures: list[Path] = field(default_factory=list)

    def table(self) -> str:
        """The Markdown table (as printed by the CLI)."""
        return markdown_table(self.rows)


def compare_catalog(catalog_dir: str | Path, year: int | None = None) -> Report:
    """Compare every night-light item (of ``year``, or all) with its score item of the same tile and year."""
    catalog_dir = Path(catalog_dir).resolve()
    catalog = StaticCatalog(catalog_dir)
    if COLLECTION_ID not in catalog.collection_ids():
        raise NightLightsError(f"the catalog at {catalog_dir} has no night lights (run devscore viirs ingest first)")
    records = [r for r in catalog.items(COLLECTION_ID) if year is None or year in r.years]
    if not records:
        raise NightLightsError(f"the catalog has no night lights of {year}")
    out = collection_dir(catalog_dir) / REPORT_DIR
    report = Report()
    for record in tqdm(records, desc="compare", unit="granule-year", disable=len(records) < 2):
        tile = record.item["properties"]["devscore:tile"]
        try:
            score_record = catalog.item(SCORE_COLLECTION_ID, record.id)
        except LookupError:
            log.warning("night lights %s have no score item of the same tile and year, skipped", record.id)
            continue
        scores = chip_scores(score_record.assets[SCORE_ASSET])
        radiance = chip_radiance(record.assets[ASSET], tile)
        result = correlate(scores, radiance)
        row = Row(item=score_record.id, tile=tile, year=record.years[0], correlation=result,
                  nightlights_item=f"{COLLECTION_ID}/{record.id}")
        report.rows.append(row)
        report.figures += [scatter_png(scores, radiance, row, out / f"scatter-{row.item}.png"),
                           maps_png(scores, radiance, row, out / f"maps-{row.item}.png")]
        link_items(catalog_dir, catalog.root / score_record.href, catalog.root / record.href,
                   viirs={**result.as_dict(), "year": row.year, "item": row.nightlights_item})
        log.info("%s: Pearson %.3f, log1p %.3f, Spearman %.3f over %d chips", row.item, result.pearson,
                 result.pearson_log1p, result.spearman, result.n)
    if not report.rows:
        raise NightLightsError("no night-light item has a score item of the same tile and year")
    report.markdown, report.csv = out / "correlations.md", out / "correlations.csv"
    write_table(report.rows, report.markdown, report.csv, "Development scores against VIIRS night lights")
    link_report(catalog_dir, [
        (report.markdown, "describedby", "text/markdown", "Correlations of scores and night lights (report)"),
        (report.csv, "describedby", "text/csv", "Correlations of scores and night lights (table)"),
        *[(path, "related", pystac.MediaType.PNG, path.stem) for path in report.figures],
    ])
    return report
