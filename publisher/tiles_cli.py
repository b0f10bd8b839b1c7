"""``devscore tiles``: the MGRS tiles (Sentinel-2 granules) that cover a bounding box, with footprints."""

from __future__ import annotations

import json

import click

from publisher.imagery.options import bbox_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@bbox_option
@click.option("--geojson", is_flag=True, help="Print the footprints as a GeoJSON FeatureCollection instead of a table.")
def tiles(bbox: object, geojson: bool) -> None:
    """List the MGRS tiles covering --bbox W,S,E,N with their UTM CRS and WGS84 footprint bounds.

    Computed offline from the MGRS/UTM definition: the tiles whose 100 km squares (clipped to their
    UTM zone and latitude band) meet the box, so their footprints cover it. Pass the list to
    `--tiles`, or give the same `--bbox` to run, synth, chips and acquire.
    """
    from publisher.grid import TileGrid
    from publisher.regions import tiles_for_bbox

    if bbox is None:
        raise click.UsageError("give --bbox W,S,E,N (WGS84 degrees)")
    grids = [TileGrid.from_tile_id(t) for t in tiles_for_bbox(bbox)]
    if geojson:
        features = [{"type": "Feature", "id": g.tile, "bbox": g.bbox, "geometry": g.footprint,
                     "properties": {"tile": g.tile, "epsg": g.epsg}} for g in grids]
        click.echo(json.dumps({"type": "FeatureCollection", "features": features}))
        return
    click.echo(f"{'tile':<6} {'epsg':>6}  {'west':>11} {'south':>11} {'east':>11} {'north':>11}")
    for g in grids:
        west, south, east, north = g.bbox
        click.echo(f"{g.tile:<6} {g.epsg:>6}  {west:>11.5f} {south:>11.5f} {east:>11.5f} {north:>11.5f}")
    click.echo(f"{len(grids)} tile(s) cover {bbox.text()}; --tiles {','.join(g.tile for g in grids)}")
