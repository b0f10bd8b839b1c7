"""``devscore publish``: chip-score table -> COGs + STAC Items in a static catalog (MPI-aware)."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.constants import SOURCES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--scores", "scores", required=True, type=NonEmptyPath(path_type=Path, dir_okay=False),
              help="Chip-score table, CSV or Parquet: columns tile, datetime, row, col, score "
                   "[, scene_id]. One granule-year = one tile and the calendar year of datetime.")
@click.option("--catalog", "catalog_dir", required=True, type=NonEmptyPath(path_type=Path, file_okay=False),
              help="Static catalog folder; created if new, else its items for these granule-years "
                   "are added or replaced.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to paint the 10 m score grid: 'auto' uses CUDA when pycuda and a GPU are present.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar (logs still say what happened).")
@click.option("--pgstac", "pgstac", default=None, metavar="DSN",
              help="Also load the items into this pgstac database (postgresql://...), one transaction per publish.")
@click.option("--static/--no-static", default=True, show_default=True,
              help="Write the static catalog; with --no-static the asset files land under --catalog and the "
                   "items in --pgstac only.")
@click.option("--source", "source", type=click.Choice(list(SOURCES)),
              default=None, help="Where the table's scenes came from, recorded as devscore:source. Items link "
                                 "their scene_id only where the scenes have an address: planetary-computer links "
                                 "its scene items; other sources only with --scene-url; no --source, no link.")
@click.option("--scene-url", "scene_url", default=None, metavar="TEMPLATE",
              help="URL of a scene item, {} standing for the scene id "
                   "(e.g. https://stac.example/collections/sentinel-2-l2a/items/{}).")
@click.option("--any-year", is_flag=True,
              help="Publish scene years outside Sentinel-2's era (2015 on) too, e.g. of another sensor.")
def publish(scores: Path, catalog_dir: Path, device: str, no_progress: bool, pgstac: str | None, static: bool,
            source: str | None, scene_url: str | None, any_year: bool) -> None:
    """Publish the granule-years of a chip-score table into a STAC catalog.

    Each granule-year becomes an Item `{tile}-{year}` with a Cloud-Optimized GeoTIFF of scores in
    [0, 1] (chips absent from the table are nodata), an RdYlGn_r thumbnail and a GeoParquet of chip
    polygons. Under `mpiexec -n N` the granule-years are spread over N ranks and rank 0 writes the
    catalog; the result equals a single-process run. Files land by rename, so an interrupted run
    leaves the previous catalog intact.

    \b
    Example:
      devscore publish --scores scores.csv --catalog out/catalog
      mpiexec -n 2 devscore publish --scores scores.csv --catalog out/catalog
      devscore publish --scores scores.csv --catalog out/assets --no-static --pgstac postgresql://...
      devscore publish --scores scores.csv --catalog out/catalog --source planetary-computer
    """
    from catalog.ingest import publish_table
    from publisher.stac import scene_source_of

    scene_source = scene_source_of(source, scene_url)  # a scene URL that cannot link fails before any painting

    report = publish_table(scores, catalog_dir, device=device, progress=not no_progress, static=static,
                          pgstac=pgstac, any_year=any_year, source=scene_source)
    if report is None:  # a non-root MPI rank
        return
    width = max([len(p.item.id) for p in report.published] + [10])
    click.echo(f"{'item':<{width}}  {'seconds':>7}")
    for p in report.published:
        click.echo(f"{p.item.id:<{width}}  {p.seconds:>7.2f}")
    result = report.result
    rank_word = "rank" if report.ranks == 1 else "ranks"
    click.echo(
        f"Published {len(report.published)} granule-year(s) on {report.ranks} {rank_word} in "
        f"{report.seconds:.1f} s: {len(result.added)} added, {len(result.replaced)} replaced, "
        f"{result.total_items} items in " + (str(Path(catalog_dir) / 'catalog.json') if static else "pgstac")
        + (" and pgstac" if static and pgstac else "")
    )
