"""``make demo``: the whole pipeline on a region the project generates itself, offline, then serve it.

Steps: `devscore synth` makes four adjacent Sentinel-2 granules around Chengdu for three years (with
their ground truth and VIIRS-like night lights) at a coarser grid than 10 m, so the demo fits in a few
minutes on two CPU cores; `devscore run` takes them through acquisition, chips, the heuristic ranker
(offline: no VLM), a small ResNet-18 training, scoring, publishing and validation, measures the
scores against the truth and the night lights; the catalog is then served and its URLs printed.
Re-running skips what is already done.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from devscore.logs import configure_logging
from devscore.run import run_all
from publisher.imagery.synth import synthesize
from publisher.mpi import world
from publisher.pipeline import RunConfig
from publisher.profiles import CPU, CPU_TRAINING, ENSEMBLE
from publisher.runstate import RunState, stage_key

log = logging.getLogger("devscore.demo")

DEMO_TILES = ("48RUU", "48RVU", "48RUT", "48RVT")
DEMO_YEARS = (2021, 2022, 2023)
#: Grid side of the demo's scenes: 100 m pixels (chips of 34 px) instead of the real 10 m, so that
#: synthesis, ranking and training on 2 CPU cores take minutes; `devscore synth` defaults to 10 m.
DEMO_SIZE = 1098
#: Scenes a year of each granule: one fairly clear, one cut by the swath edge, the rest cloudy
#: (publisher.imagery.scene.year_looks). Sentinel-2 passes every 5 days (about 70 scenes a year); with 3 the
#: gap filling left 2.6 % of the demo's chips cloudy in every scene, with 4 it leaves 1.0 % (docs/economist.md).
DEMO_SCENES_PER_YEAR = 4
#: The CPU profile's training (publisher.profiles.CPU_TRAINING, the one definition): 64 px inputs, 80 steps.
DEMO_TRAIN = CPU_TRAINING
#: ``--quick``: the same job on a coarser grid with a token training, to check the whole run in a minute.
QUICK_SIZE, QUICK_TRAIN = 640, {"input_size": 32, "batch_size": 8, "max_epochs": 2, "steps_per_epoch": 3}
#: The ensemble that gives each chip its uncertainty (publisher.profiles.ENSEMBLE); ``--quick``: two members.
DEMO_ENSEMBLE, QUICK_ENSEMBLE = ENSEMBLE, {**ENSEMBLE, "members": 2, "steps": 2}


def demo_region(out: Path, size: int, seed: int = 0) -> Path:
    """The synthetic region under ``out/region`` (made once; same seed, same bytes)."""
    region = out / "region"
    state = RunState(out / "demo-state.json")
    key = stage_key("synth", DEMO_TILES, DEMO_YEARS, size, seed, DEMO_SCENES_PER_YEAR)
    if not state.fresh("synth", key):
        start = time.perf_counter()
        synthesize(region, DEMO_TILES, DEMO_YEARS, scenes_per_year=DEMO_SCENES_PER_YEAR, size=size, seed=seed)
        state.record("synth", key, time.perf_counter() - start, [region / "source" / "catalog.json"])
    return region


def print_counties(out: Path, catalog: Path) -> None:
    """Figures per place: the synthetic counties (``out/zones/counties.gpkg``) through `devscore zonal`."""
    from catalog.zonal.publish import publish_zonal
    from catalog.zonal.table import wide_table
    from publisher.zonal.counties import COUNTY_FIELD, write_counties

    zones = out / "zones" / "counties.gpkg"
    write_counties(DEMO_TILES, zones)
    start = time.perf_counter()
    result = publish_zonal(catalog, zones, COUNTY_FIELD)
    print(f"\nFigures per county ({len(result.table[COUNTY_FIELD].unique())} synthetic counties around the towns, "
          f"{time.perf_counter() - start:.1f} s; devscore zonal --zones {zones} --id-field {COUNTY_FIELD}):")
    print(wide_table(result.table, COUNTY_FIELD))


def main(argv: list[str] | None = None) -> None:
    """Generate, run, publish, validate, measure and serve the demo."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    parser.add_argument("--host", default="127.0.0.1", help="interface the tile server listens on")
    parser.add_argument("--port", type=int, default=8000, help="port of the tile server")
    parser.add_argument("--size", type=int, default=DEMO_SIZE, help="grid side of the scenes (10980: the real 10 m)")
    parser.add_argument("--no-serve", action="store_true", help="stop after publishing and measuring")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: grid {QUICK_SIZE} and a token training (scores are not meaningful)")
    args = parser.parse_args(argv)
    size, train, ensemble = (QUICK_SIZE, QUICK_TRAIN, QUICK_ENSEMBLE) if args.quick else (args.size, DEMO_TRAIN,
                                                                                           DEMO_ENSEMBLE)
    configure_logging("info")
    if not args.no_serve:  # before minutes of work: the map page would stay grey without MapLibre
        from tiler_app.page import WebAssetsMissing, check_web_assets

        try:
            check_web_assets()
        except WebAssetsMissing as exc:
            raise SystemExit(f"Error: {exc}") from None
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"devscore demo: {len(DEMO_TILES)} granules x {len(DEMO_YEARS)} years around Chengdu, synthetic, at "
          f"{109800 / size:.0f} m pixels (grid {size}; the real Sentinel-2 grid is 10 m), heuristic ranker "
          f"(offline, no VLM), ResNet-18 trained on the CPU at {train['input_size']} px")
    synth_start = time.perf_counter()
    region = demo_region(out, size)
    synth_seconds = time.perf_counter() - synth_start
    config = RunConfig(tiles=list(DEMO_TILES), years=list(DEMO_YEARS), out=out / "run",
                       search={"source_catalog": region / "source"}, ranker="heuristic", train_options=train,
                       ensemble=ensemble, views=1 if args.quick else CPU.views)
    nightlights = sorted((region / "nightlights").glob("viirs_*.tif"))
    # the extension schemas of catalog.validate.default_schema_dir(): the demo never fetches them
    report = run_all(config, out / "catalog", world(), truth=region, nightlights=nightlights, announce=print)
    print(f"\nsynth: {synth_seconds:.1f} s")
    for line in report.summary_lines():
        print(line)
    for problem in report.problems:
        log.error("%s", problem)
    print(f"\nCatalog: {report.catalog / 'catalog.json'} ({'valid' if not report.problems else 'INVALID'}); "
          f"demo wall time {time.perf_counter() - start:.0f} s")
    if report.problems:
        raise SystemExit(1)
    print_counties(out, report.catalog)
    if not args.no_serve:
        import uvicorn

        from tiler_app.cli import layer_urls
        from tiler_app.main import create_app

        base = f"http://{args.host}:{args.port}"
        print(f"\nServing on {base} (Ctrl-C to stop):")
        for line in layer_urls(report.catalog, base):
            print(f"  {line}")
        print(f"  Night lights beside the scores: {base}/nightlights/compare?year={DEMO_YEARS[-1]}")
        if report.quality is not None and report.quality.all.spearman is not None:
            print(f"  Quality: Spearman {report.quality.all.spearman:.2f} overall, "
                  f"{report.quality.plain.spearman:.2f} on the plain, against the synthetic truth")
            for b in report.quality.baselines:
                if b.all.spearman is not None and b.plain.spearman is not None:
                    print(f"    beside {b.name}: {b.all.spearman:.2f} overall, {b.plain.spearman:.2f} on the plain")
        app = create_app(report.catalog, tile_cache_dir=str(out / "tile-cache"))
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
