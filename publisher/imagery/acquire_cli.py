"""``devscore acquire``: find and choose the best scene of a granule-year."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.imagery.acquire import DEFAULT_MAX_CLOUD, PLANETARY_COMPUTER, search_scenes, select_scene


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tile", required=True, help="MGRS tile, e.g. 48RVU.")
@click.option("--year", required=True, type=click.IntRange(2015, 2100), help="Calendar year.")
@click.option("--stac-api", default=None, help=f"STAC API URL (default: Planetary Computer, {PLANETARY_COMPUTER}).")
@click.option("--source-catalog", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Search a local static catalog instead of a STAC API.")
@click.option("--max-cloud", default=DEFAULT_MAX_CLOUD, show_default=True, type=click.FloatRange(0, 100),
              help="Keep scenes with eo:cloud_cover below this percentage.")
def acquire(tile: str, year: int, stac_api: str | None, source_catalog: Path | None, max_cloud: float) -> None:
    """Search the Sentinel-2 L2A scenes of TILE in YEAR and choose the least blank, then least cloudy one.

    The blank share is read from each candidate COG's smallest overview (HTTP range reads), not the
    full image. Prints the candidates and the choice.
    """
    if stac_api and source_catalog:
        raise click.UsageError("give --stac-api or --source-catalog, not both")
    items = search_scenes(tile, year, stac_api=stac_api, source_catalog=source_catalog, max_cloud=max_cloud)
    best, ranked = select_scene(items, tile, year)
    click.echo(f"{'scene':<62} {'cloud %':>8} {'blank %':>8}")
    for c in ranked:
        mark = "*" if c is best else " "
        click.echo(f"{mark}{c.item.id:<61} {c.cloud:>8.1f} {100 * c.blank:>8.1f}")
    click.echo(f"Chosen: {best.item.id} ({best.href})")
