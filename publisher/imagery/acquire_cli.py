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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tile", required=True, help="MGRS tile, e.g. 48RVU.")
@click.option("--year", required=True, type=click.IntRange(2015, 2100), help="Calendar year.")
@click.option("--stac-api", default=None, help="STAC API URL (default: Planetary Computer).")
@click.option("--source-catalog", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Search a local static catalog instead of a STAC API.")
@click.option("--max-cloud", default=DEFAULT_MAX_CLOUD, show_default=True, type=click.FloatRange(0, 100),
              help="Keep scenes with eo:cloud_cover below this percentage.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for <tile>-<year>.npz (chips, flags, rows, cols).")
@click.option("--export-png", is_flag=True, help="Also write one PNG per chip, for labelling and inspection.")
def chips(tile: str, year: int, stac_api: str | None, source_catalog: Path | None, max_cloud: float, out: Path,
          export_png: bool) -> None:
    """Cut the best scene of TILE in YEAR into 32 x 32 chips, in parallel under `mpiexec -n N`.

    Rank 0 chooses the scene (as `devscore acquire`); every rank reads its share of chip windows
    straight from the COG; rank 0 writes OUT/<tile>-<year>.npz. Chips mostly blank or cloud are
    flagged (flags: 0 ok, 1 blank, 2 cloud). The result is the same for any number of ranks.
    """
    from publisher.imagery.extract import FLAG_NAMES, extract_chips
    from publisher.mpi import world

    comm = world()
    href, failure = None, None
    if comm.is_root:
        try:
            best, _ = select_scene(search_scenes(tile, year, stac_api=stac_api, source_catalog=source_catalog,
                                                 max_cloud=max_cloud), tile, year)
            href = best.href
        except Exception as exc:  # every rank must leave the broadcast, then fail alike
            failure = exc
    href, failure = comm.bcast((href, failure))
    if failure is not None:
        raise failure
    chipset = extract_chips(href, comm)
    if chipset is None:
        return
    path = chipset.save(Path(out) / f"{tile.upper()}-{year}.npz")
    if export_png:
        chipset.export_png(Path(out) / f"{tile.upper()}-{year}")
    counts = ", ".join(f"{int((chipset.flags == f).sum())} {name}" for f, name in FLAG_NAMES.items())
    click.echo(f"{path}: {len(chipset.chips)} chips of {chipset.chips.shape[1]} px on {comm.size} rank(s) ({counts})")
