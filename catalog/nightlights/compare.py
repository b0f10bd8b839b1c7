"""``devscore compare``: per granule-year, chip scores against chip night lights (area-weighted means
over each chip polygon), stored in the score item as ``devscore:viirs`` and written as a report
(Markdown and CSV table, scatter and side-by-side map PNGs) linked from the night-light collection.

``recompare`` and ``refresh_report`` do the same for the few granule-years whose scores or night
lights are being replaced (``devscore publish``, ``devscore viirs ingest``), so the figures an item
and the report carry are never those of the data it had before."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pystac
from publisher.progress import tqdm

from catalog.journal import pending
from catalog.nightlights.store import REPORT_DIR, collection_dir, link_items, link_report
from catalog.reader import StaticCatalog
from catalog.store import catalog_lock, remove_temporaries
from publisher.constants import COLLECTION_ID as SCORE_COLLECTION_ID
from publisher.cog import read_chip_grid
from publisher.constants import SCORE_ASSET
from publisher.nightlights.aggregate import chip_radiance, chip_scores
from publisher.nightlights.correlate import Correlation, correlate
from publisher.nightlights.products import NightLightsError
from publisher.nightlights.references import builtup_baseline, truth_ceiling
from publisher.nightlights.report import Row, maps_png, markdown_table, scatter_png, write_table
from publisher.nightlights.stac import ASSET, COLLECTION_ID

log = logging.getLogger(__name__)

TITLE = "Development scores against VIIRS night lights"


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


@dataclass(frozen=True)
class Comparison:
    """One granule-year compared: its report row and the chip arrays its figures are drawn from."""

    row: Row
    scores: np.ndarray
    radiance: np.ndarray

    def viirs(self) -> dict:
        """The score item's ``devscore:viirs`` property."""
        return {**self.row.correlation.as_dict(), "year": self.row.year, "item": self.row.nightlights_item}


def compare_files(score_item_id: str, score_cog: Path, nightlights_item_id: str, tile: str, year: int,
                  radiance_cog: Path, truth: Path | None = None, chips_dir: Path | None = None) -> Comparison:
    """Chip scores of ``score_cog`` against chip radiance of ``radiance_cog`` (granule ``tile``), with the
    ceiling (truth of a synthetic region ``truth``) and the built-up baseline (chips in ``chips_dir``)."""
    grid = read_chip_grid(score_cog)  # where the chips were cut: the COG is painted on their grid
    scores = chip_scores(score_cog, grid)
    radiance = chip_radiance(radiance_cog, grid)
    row = Row(item=score_item_id, tile=tile, year=year, correlation=correlate(scores, radiance),
              nightlights_item=f"{COLLECTION_ID}/{nightlights_item_id}",
              truth_spearman=truth_ceiling(truth, tile, year, radiance, grid) if truth is not None else None,
              builtup_spearman=builtup_baseline(chips_dir, tile, year, radiance) if chips_dir is not None else None)
    return Comparison(row, scores, radiance)


def _figures(comparison: Comparison, out: Path) -> list[Path]:
    row = comparison.row
    return [scatter_png(comparison.scores, comparison.radiance, row, out / f"scatter-{row.item}.png"),
            maps_png(comparison.scores, comparison.radiance, row, out / f"maps-{row.item}.png")]


def _report_links(report: Report) -> list[tuple[Path, str, str, str]]:
    return [
        (report.markdown, "describedby", "text/markdown", "Correlations of scores and night lights (report)"),
        (report.csv, "describedby", "text/csv", "Correlations of scores and night lights (table)"),
        *[(path, "related", pystac.MediaType.PNG, path.stem) for path in report.figures],
    ]


def compare_catalog(catalog_dir: str | Path, year: int | None = None, truth: Path | None = None,
                    chips_dir: Path | None = None) -> Report:
    """Compare every night-light item (of ``year``, or all) with its score item of the same tile and year;
    with ``truth`` (a synthetic region) and ``chips_dir`` the rows carry the ceiling and the baseline."""
    catalog_dir = Path(catalog_dir).resolve()
    catalog = StaticCatalog(catalog_dir)
    if COLLECTION_ID not in catalog.collection_ids():
        raise NightLightsError(f"the catalog at {catalog_dir} has no night lights (run devscore viirs ingest first)")
    records = [r for r in catalog.items(COLLECTION_ID) if year is None or year in r.years]
    if not records:
        raise NightLightsError(f"the catalog has no night lights of {year}")
    out = collection_dir(catalog_dir) / REPORT_DIR
    report = Report()
    with catalog_lock(catalog_dir), pending(catalog_dir, "viirs-compare", "devscore compare"):
        remove_temporaries(out)  # of an earlier run killed while it wrote the report
        for record in tqdm(records, desc="compare", unit="granule-year", disable=len(records) < 2):
            tile = record.item["properties"]["devscore:tile"]
            try:
                score_record = catalog.item(SCORE_COLLECTION_ID, record.id)
            except LookupError:
                log.warning("night lights %s have no score item of the same tile and year, skipped", record.id)
                continue
            comparison = compare_files(score_record.id, score_record.assets[SCORE_ASSET], record.id, tile,
                                       record.years[0], record.assets[ASSET], truth, chips_dir)
            row, result = comparison.row, comparison.row.correlation
            report.rows.append(row)
            report.figures += _figures(comparison, out)
            link_items(catalog.root / score_record.href, catalog.root / record.href, viirs=comparison.viirs())
            log.info("%s: Pearson %.3f, log1p %.3f, Spearman %.3f over %d chips", row.item, result.pearson,
                     result.pearson_log1p, result.spearman, result.n)
        if not report.rows:
            raise NightLightsError("no night-light item has a score item of the same tile and year")
        if year is not None:  # the other years' rows and figures stay in the report
            kept = [r for r in _read_rows(out / "correlations.csv") if r.year != year]
            report.rows = sorted(kept + report.rows, key=lambda r: (r.year, r.item))
            report.figures += [path for r in kept for path in (out / f"scatter-{r.item}.png", out / f"maps-{r.item}.png")
                               if path.is_file()]
        report.markdown, report.csv = out / "correlations.md", out / "correlations.csv"
        write_table(report.rows, report.markdown, report.csv, TITLE)
        link_report(catalog_dir, _report_links(report))
    return report


def recompare(score_item_id: str, score_cog: Path, nightlights_item_id: str, tile: str, year: int,
              radiance_cog: Path) -> Comparison | None:
    """:func:`compare_files` for a granule-year whose scores or night lights are being replaced; None,
    logged, when the new data give no correlation (the item then carries no figures, never stale ones)."""
    try:
        comparison = compare_files(score_item_id, score_cog, nightlights_item_id, tile, year, radiance_cog)
    except NightLightsError as exc:
        log.warning("%s: devscore:viirs dropped, the new data give no correlation (%s)", score_item_id, exc)
        return None
    c = comparison.row.correlation
    log.info("%s: devscore:viirs recomputed for the new data: Pearson %.3f, log1p %.3f, Spearman %.3f over %d "
             "chips", score_item_id, c.pearson, c.pearson_log1p, c.spearman, c.n)
    return comparison


def compared(catalog_dir: str | Path) -> set[str]:
    """Ids of the score items the comparison report has a row for."""
    return {row.item for row in _read_rows(collection_dir(catalog_dir) / REPORT_DIR / "correlations.csv")}


def _read_rows(table_csv: Path) -> list[Row]:
    if not table_csv.is_file():
        return []
    with open(table_csv, newline="", encoding="utf-8") as fh:
        return [Row(item=r["item"], tile=r["tile"], year=int(r["year"]), nightlights_item=r["nightlights_item"],
                    correlation=Correlation(float(r["pearson"]), float(r["pearson_log1p"]), float(r["spearman"]),
                                            int(r["n"])),
                    truth_spearman=float(r["truth_spearman"]) if r.get("truth_spearman") else None,
                    builtup_spearman=float(r["builtup_spearman"]) if r.get("builtup_spearman") else None)
                for r in csv.DictReader(fh)]


def refresh_report(catalog_dir: str | Path, comparisons: Sequence[Comparison], dropped: Sequence[str] = ()) -> None:
    """Redraw the report's figures of ``comparisons`` and put their rows in its table (rows of items in
    ``dropped`` go, the others stay). Call it holding ``catalog_lock``, after the items were installed."""
    if not comparisons and not dropped:
        return
    out = collection_dir(catalog_dir) / REPORT_DIR
    remove_temporaries(out)  # of an earlier run killed while it wrote the report
    report = Report(markdown=out / "correlations.md", csv=out / "correlations.csv")
    fresh = {c.row.item: c for c in comparisons}
    rows = {row.item: row for row in _read_rows(report.csv) if row.item not in dropped}
    rows.update({item: c.row for item, c in fresh.items()})
    report.rows = [rows[item] for item in sorted(rows)]
    for row in report.rows:
        if row.item in fresh:
            report.figures += _figures(fresh[row.item], out)
        else:
            report.figures += [p for p in (out / f"scatter-{row.item}.png", out / f"maps-{row.item}.png") if p.is_file()]
    write_table(report.rows, report.markdown, report.csv, TITLE)
    link_report(catalog_dir, _report_links(report))
    for item in dropped:
        for stale in (out / f"scatter-{item}.png", out / f"maps-{item}.png"):
            stale.unlink(missing_ok=True)
