"""``devscore synth``: generate the synthetic Sentinel-2 region."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.imagery.options import YEARS, bbox_option, comma_list, tiles_of
from publisher.constants import GRANULE_SIZE, MAX_SCENES_PER_YEAR, SYNTH_DEFAULT_TILES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", type=NonEmptyPath(path_type=Path, file_okay=False), required=True, help="Output folder.")
@click.option("--tiles", default=None, show_default=",".join(SYNTH_DEFAULT_TILES), callback=comma_list(str, "MGRS tile"),
              help="Comma-separated MGRS tiles (default: four adjacent tiles around Chengdu).")
@bbox_option
@click.option("--years", default="2022,2023", show_default=True, type=YEARS,
              help="Years, comma-separated, ranges allowed (2020-2024), from 2015 to 2100.")
@click.option("--scenes-per-year", default=3, show_default=True, type=click.IntRange(1, MAX_SCENES_PER_YEAR),
              help="Scenes per granule-year, one a month at most.")
@click.option("--size", default=GRANULE_SIZE, show_default=True, type=int,
              help="Grid side in pixels: 10980 is the real 10 m grid; smaller sides keep the 109.8 km footprint "
                   "with coarser pixels (1098: 100 m), for quick runs.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed: same seed, same bytes.")
def synth(out: Path, tiles: list[str] | None, bbox: object, years: list[int], scenes_per_year: int, size: int,
          seed: int) -> None:
    """Generate a synthetic Sentinel-2 region: scenes, ground truth, night lights and a source catalog.

    Scenes are true-colour COGs on the real granule grids with procedural land cover driven by a
    ground-truth development field (written to truth/), clouds and blank swath edges of varying
    share (so scene selection matters), in a static STAC catalog shaped like Planetary Computer's
    sentinel-2-l2a (source/catalog.json). nightlights/ holds VIIRS-like annual radiance rasters.

    At the default 10 m grid one granule-year with 3 scenes takes about a minute on one core; under
    `mpiexec -n N devscore synth ...` the granule-years are spread over N ranks.
    """
    from publisher.imagery.synth import synthesize

    tiles = tiles_of(tiles, bbox) if tiles or bbox is not None else list(SYNTH_DEFAULT_TILES)
    result = synthesize(out, tiles, years, scenes_per_year, size, seed)
    if result is None:  # an MPI rank other than 0
        return
    click.echo(f"Wrote {len(result.scenes)} scenes, {len(result.truth)} truth rasters, "
               f"{len(result.nightlights)} night-light rasters; source catalog {result.catalog}")
