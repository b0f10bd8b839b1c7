"""``devscore acquire`` and ``devscore chips``: choose the best scene of granule-years and cut it into chips."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.imagery.options import YEAR, YEARS, bbox_option, comma_list, search_options, tiles_of


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tile", default=None, help="MGRS tile, e.g. 48RVU.")
@bbox_option
@click.option("--year", required=True, type=YEAR, help="Calendar year.")
@search_options
def acquire(tile: str | None, bbox: object, year: int, stac_api: str | None, source_catalog: Path | None,
            max_cloud: float) -> None:
    """Search the Sentinel-2 L2A scenes of TILE in YEAR and choose the least blank, then least cloudy one.

    The blank share is read from each candidate COG's smallest overview (HTTP range reads), not the
    full image. Prints the candidates and the choice.
    """
    from publisher.imagery.acquire import search_scenes, select_scene

    for tile in tiles_of([tile] if tile else None, bbox, "--tile"):
        items = search_scenes(tile, year, stac_api=stac_api, source_catalog=source_catalog, max_cloud=max_cloud)
        best, ranked = select_scene(items, tile, year)
        click.echo(f"{'scene':<62} {'cloud %':>8} {'blank %':>8}")
        for c in ranked:
            mark = "*" if c is best else " "
            click.echo(f"{mark}{c.item.id:<61} {c.cloud:>8.1f} {100 * c.blank:>8.1f}")
        click.echo(f"Chosen: {best.item.id} ({best.href})")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tile", "tiles", default=None, callback=comma_list(str, "MGRS tile"),
              help="MGRS tile(s), comma-separated, e.g. 48RVU,48RUU.")
@bbox_option
@click.option("--year", "years", required=True, type=YEARS,
              help="Calendar year(s), comma-separated, ranges allowed (2020-2024).")
@search_options
@click.option("--out", type=NonEmptyPath(path_type=Path, file_okay=False), required=True,
              help="Folder for <tile>-<year>.npz (chips, flags, rows, cols).")
@click.option("--export-png", is_flag=True, help="Also write one PNG per chip, for labelling and inspection.")
def chips(tiles: list[str] | None, bbox: object, years: list[int], stac_api: str | None, source_catalog: Path | None, max_cloud: float,
          out: Path, export_png: bool) -> None:
    """Cut the best scene of every TILE x YEAR into 32 x 32 chips, in parallel under `mpiexec -n N`.

    The ranks share the scene choice (as `devscore acquire`) of the granule-years, then the chips of
    each granule-year: every rank reads its block of chip rows straight from the COG (one strip read
    per chip row, range reads over HTTP) into one array in chip order (MPI shared memory) and flags
    them; rank 0 writes OUT/<tile>-<year>.npz and prints the extraction time. Chips mostly blank or
    cloud are flagged (flags: 0 ok, 1 blank, 2 cloud), not passed off as land. The result is the same
    for any number of ranks.
    """
    from publisher.imagery.cut import cut_chips
    from publisher.mpi import world

    comm = world()
    search = {"stac_api": stac_api, "source_catalog": source_catalog, "max_cloud": max_cloud}
    jobs = [(tile, year) for tile in tiles_of(tiles, bbox, "--tile") for year in years]
    for written in cut_chips(jobs, search, Path(out), comm, export_png=export_png):
        click.echo(written.line())
