"""``devscore viirs ingest`` and ``devscore compare``."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.constants import VNP46A4_DEFAULT_LAYER


def _split(value: str | None) -> list[str] | None:
    return [t.strip() for t in value.split(",") if t.strip()] if value else None


@click.group()
def viirs() -> None:
    """VIIRS night lights beside the score layers (EOG VNL GeoTIFF, NASA Black Marble VNP46A4)."""


@viirs.command("ingest")
@click.option("--raster", "rasters", multiple=True, required=True, type=NonEmptyPath(dir_okay=False),
              help="Night-light file: EOG VNL .tif or .tif.gz (read in place), or VNP46A4 .h5 tiles "
                   "(repeat for several; they are mosaicked).")
@click.option("--year", type=click.IntRange(2012, 2100), required=True,
              help="Year of the night lights; must match the year in the file names.")
@click.option("--catalog", "catalog_dir", type=NonEmptyPath(file_okay=False, path_type=Path), required=True,
              help="Static catalog holding the score items.")
@click.option("--tiles", default=None, callback=lambda ctx, param, value: _split(value),
              help="Comma list of MGRS tiles (default: every score item of --year).")
@click.option("--layer", default=None, help=f"VNP46A4 layer (default {VNP46A4_DEFAULT_LAYER}).")
@click.option("--pgstac", default=None, metavar="DSN",
              help="Also load the night-light items and the score items they link to into this pgstac database "
                   "(one transaction).")
def ingest_command(rasters: tuple[str, ...], year: int, catalog_dir: Path, tiles: list[str] | None,
                   layer: str | None, pgstac: str | None) -> None:
    """Clip night lights to every score granule of a year (15 arc-second COG in EPSG:4326 with a
    margin) as Items of the viirs-nightlights collection, linked to the score items both ways.

    Nodata, fill values and negative background are nodata, never dark. A raster without CRS, one
    that covers no granule, a year that contradicts --year or a truncated file is refused with one
    line, and nothing is written.
    """
    from catalog.nightlights.ingest import ingest

    if pgstac is not None:  # a database that cannot be used fails before any clipping
        from catalog.pgstac.db import connect

        connect(pgstac).close()
    items = ingest(rasters, year, catalog_dir, tiles=tiles, layer=layer)
    if pgstac is not None:
        from catalog.pgstac.publish import mirror_catalog
        from publisher.constants import COLLECTION_ID as SCORES
        from publisher.nightlights.stac import COLLECTION_ID as NIGHTLIGHTS

        mirror_catalog(pgstac, catalog_dir, [SCORES, NIGHTLIGHTS], [i.id for i in items])
    click.echo(f"ingested night lights of {year} for {len(items)} granules: {', '.join(i.id for i in items)}")


@click.command()
@click.option("--catalog", "catalog_dir", type=NonEmptyPath(file_okay=False, path_type=Path), required=True,
              help="Static catalog with score items and ingested night lights.")
@click.option("--year", type=int, default=None, help="Only this year (default: every year with night lights).")
@click.option("--truth", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="A `devscore synth` region: each row also shows the ceiling, its truth against the lights.")
@click.option("--chips", "chips_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="The run's chip folder: each row also shows the baseline, the ranker's built-up share against the lights.")
def compare(catalog_dir: Path, year: int | None, truth: Path | None, chips_dir: Path | None) -> None:
    """Correlate chip scores with night lights per granule-year: the radiance averaged over each chip
    (area-weighted), then Pearson, Pearson on log1p(radiance) and Spearman over chips where both are
    known. Stores devscore:viirs in each score item and writes a report (Markdown, CSV, scatter and
    map PNGs) under <catalog>/viirs-nightlights/report/, linked from the collection.
    """
    from catalog.nightlights.compare import compare_catalog

    report = compare_catalog(catalog_dir, year, truth=truth, chips_dir=chips_dir)
    click.echo(report.table())
    click.echo(f"report: {report.markdown}")
