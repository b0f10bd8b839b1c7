"""``devscore zonal``: figures per place over the published scores, published as a ``devscore-zonal`` item."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.imagery.options import YEAR, comma_list


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--zones", "zones_path", required=True, type=NonEmptyPath(path_type=Path, dir_okay=False),
              help="Polygons: GeoPackage, GeoJSON, GeoParquet or Shapefile, in any CRS with a transform to WGS84.")
@click.option("--id-field", required=True, help="Field of the zones file that names each zone (unique).")
@click.option("--catalog", "catalog_dir", type=NonEmptyPath(path_type=Path, file_okay=False), default=Path("catalog"),
              show_default=True, help="Static catalog with the score items; the table is published into it.")
@click.option("--years", default=None, callback=lambda ctx, param, value: None if value is None else
              comma_list(YEAR, "year")(ctx, param, value),
              help="Comma list of years (default: every year with published scores).")
@click.option("--name", default=None, help="Item name: zonal-NAME [default: the zones file's name].")
def zonal(zones_path: Path, id_field: str, catalog_dir: Path, years: list[int] | None, name: str | None) -> None:
    """Area-weighted mean score, covered share, chip count, mean uncertainty and change per zone and year.

    Each chip weighs by its area inside the zone (exactextract on the chip grid of the published chips
    tables); where granules overlap a place counts once. Writes GeoParquet, GeoPackage and CSV as one item of
    the devscore-zonal collection in the catalog, and prints the table.
    """
    from catalog.zonal.publish import publish_zonal
    from catalog.zonal.table import text_table

    result = publish_zonal(catalog_dir, zones_path, id_field, years=years, name=name)
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(text_table(result.table, result.id_field))
    click.echo(f"published {result.item_id}: {result.item_path}")
