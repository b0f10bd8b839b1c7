"""``devscore acquire`` and ``devscore chips``: choose the best scene of granule-years and cut it into chips."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.imagery.acquire import search_scenes, select_scene
from publisher.imagery.options import YEAR, comma_list, search_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tile", required=True, help="MGRS tile, e.g. 48RVU.")
@click.option("--year", required=True, type=YEAR, help="Calendar year.")
@search_options
def acquire(tile: str, year: int, stac_api: str | None, source_catalog: Path | None, max_cloud: float) -> None:
    """Search the Sentinel-2 L2A scenes of TILE in YEAR and choose the least blank, then least cloudy one.

    The blank share is read from each candidate COG's smallest overview (HTTP range reads), not the
    full image. Prints the candidates and the choice.
    """
    items = search_scenes(tile, year, stac_api=stac_api, source_catalog=source_catalog, max_cloud=max_cloud)
    best, ranked = select_scene(items, tile, year)
    click.echo(f"{'scene':<62} {'cloud %':>8} {'blank %':>8}")
    for c in ranked:
        mark = "*" if c is best else " "
        click.echo(f"{mark}{c.item.id:<61} {c.cloud:>8.1f} {100 * c.blank:>8.1f}")
    click.echo(f"Chosen: {best.item.id} ({best.href})")


def _select_href(job: tuple[str, int], search: dict) -> tuple[str, int, str, str, str]:
    """(tile, year, href, scene id, scene datetime in ISO form) of the best scene of a granule-year."""
    tile, year = job
    best, _ = select_scene(search_scenes(tile, year, **search), tile, year)
    return tile, year, best.href, best.item.id, best.item.datetime.isoformat()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tile", "tiles", required=True, callback=comma_list(str, "MGRS tile"),
              help="MGRS tile(s), comma-separated, e.g. 48RVU,48RUU.")
@click.option("--year", "years", required=True, callback=comma_list(YEAR, "year"),
              help="Calendar year(s), comma-separated.")
@search_options
@click.option("--out", type=NonEmptyPath(path_type=Path, file_okay=False), required=True,
              help="Folder for <tile>-<year>.npz (chips, flags, rows, cols).")
@click.option("--export-png", is_flag=True, help="Also write one PNG per chip, for labelling and inspection.")
def chips(tiles: list[str], years: list[int], stac_api: str | None, source_catalog: Path | None, max_cloud: float,
          out: Path, export_png: bool) -> None:
    """Cut the best scene of every TILE x YEAR into 32 x 32 chips, in parallel under `mpiexec -n N`.

    The ranks share the scene choice (as `devscore acquire`) of the granule-years, then the chips of
    each granule-year: every rank reads its block of chip rows straight from the COG (one strip read
    per chip row, range reads over HTTP) into one array in chip order (MPI shared memory) and flags
    them; rank 0 writes OUT/<tile>-<year>.npz and prints the extraction time. Chips mostly blank or
    cloud are flagged (flags: 0 ok, 1 blank, 2 cloud), not passed off as land. The result is the same
    for any number of ranks.
    """
    import time

    from publisher.errors import DevscoreError
    from publisher.imagery.extract import FLAG_NAMES, chip_grid, extract_chips
    from publisher.mpi import map_gather, world

    comm = world()
    search = {"stac_api": stac_api, "source_catalog": source_catalog, "max_cloud": max_cloud}
    jobs = [(tile.upper(), year) for tile in tiles for year in years]
    gathered = map_gather(lambda job: _select_href(job, search), jobs, comm)
    chosen, errors = gathered if gathered is not None else (None, None)
    chosen, errors = comm.bcast((chosen, errors))
    if errors:
        raise DevscoreError("; ".join(errors))
    for tile, year, href, scene_id, when in sorted(chosen):
        start = time.perf_counter()
        with extract_chips(href, comm) as chipset:
            seconds = time.perf_counter() - start
            if chipset is None:
                continue
            path = chipset.save(Path(out) / f"{tile}-{year}.npz", scene_id=scene_id, datetime=when,
                                chip_grid=chip_grid(href))
            if export_png:
                chipset.export_png(Path(out) / f"{tile}-{year}")
            counts = ", ".join(f"{int((chipset.flags == f).sum())} {name}" for f, name in FLAG_NAMES.items())
            click.echo(f"{path}: {len(chipset.chips)} chips of {chipset.chips.shape[1]} px on {comm.size} rank(s) in "
                       f"{seconds:.2f} s ({len(chipset.chips) / seconds:.0f} chips/s; {counts})")
