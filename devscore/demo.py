"""``make demo``: publish a generated region end to end, offline, and serve it.

Steps: a chip-score table for four adjacent granules around Chengdu and two years, drawn from the
synthetic region's ground-truth development field (publisher.imagery.truth); publish into a
static catalog; validate it; serve it and print the URLs of every layer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

import numpy as np
from pyproj import Transformer

from catalog.ingest import publish_table
from catalog.validate import validate_catalog
from publisher.constants import CHIP_SIZE, CHIPS_PER_SIDE
from publisher.grid import TileGrid
from publisher.imagery.truth import development_field
from publisher.scores import GranuleYear, scores_to_table

log = logging.getLogger("devscore.demo")

#: STAC extension schemas beside the repository, or where DEVSCORE_STAC_SCHEMAS says (offline
#: validation); the demo never fetches them.
SHARED_SCHEMAS = Path(os.environ.get("DEVSCORE_STAC_SCHEMAS",
                                     Path(__file__).resolve().parents[2] / "shared" / "stac-schemas"))

DEMO_TILES = ("48RUU", "48RVU", "48RUT", "48RVT")
DEMO_YEARS = (2022, 2023)


def demo_granules(seed: int = 0) -> list[GranuleYear]:
    """Chip scores for every demo granule-year: the field at chip centres plus a little noise."""
    rng = np.random.default_rng(seed)
    granules = []
    for tile in DEMO_TILES:
        grid = TileGrid.from_tile_id(tile)
        centres = (np.arange(CHIPS_PER_SIDE) + 0.5) * CHIP_SIZE
        cols, rows = np.meshgrid(centres, centres)
        xs, ys = grid.transform @ (cols, rows)
        lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
        for year in DEMO_YEARS:
            scores = development_field(lon, lat, year) + rng.normal(0.0, 0.03, lon.shape)
            when = dt.datetime(year, 4, 12, 3, 35, 41, tzinfo=dt.timezone.utc)
            granules.append(GranuleYear(tile, year, when, None, np.clip(scores, 0, 1).astype(np.float32)))
    return granules


def main(argv: list[str] | None = None) -> None:
    """Generate, publish and validate the demo catalog."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    parser.add_argument("--host", default="127.0.0.1", help="interface the tile server listens on")
    parser.add_argument("--port", type=int, default=8000, help="port of the tile server")
    parser.add_argument("--no-serve", action="store_true", help="stop after publishing and validating")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / "chip-scores.csv"
    scores_to_table(demo_granules()).to_csv(table, index=False)
    log.info("wrote the demo chip-score table %s", table)
    report = publish_table(table, args.out / "catalog")
    schemas = SHARED_SCHEMAS if SHARED_SCHEMAS.is_dir() else None
    problems = validate_catalog(args.out / "catalog", schemas, check_schemas=schemas is not None)
    for problem in problems:
        log.error("%s", problem)
    catalog_file = (args.out / "catalog" / "catalog.json").resolve()
    print(f"\nPublished {len(report.published)} granule-years in {report.seconds:.1f} s.")
    print(f"Catalog: {catalog_file} ({'valid' if not problems else f'{len(problems)} problems'})")
    if problems:
        raise SystemExit(1)
    if not args.no_serve:
        import uvicorn

        from tiler_app.cli import layer_urls
        from tiler_app.main import create_app

        print(f"\nServing on http://{args.host}:{args.port} (Ctrl-C to stop):")
        for line in layer_urls(args.out / "catalog", f"http://{args.host}:{args.port}"):
            print(f"  {line}")
        app = create_app(args.out / "catalog", tile_cache_dir=str(args.out / "tile-cache"))
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
