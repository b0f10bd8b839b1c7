"""``devscore synth``: a synthetic Sentinel-2 region with its ground truth, night lights and a source
STAC catalog shaped like Planetary Computer's ``sentinel-2-l2a``, deterministic from a seed.

Layout under OUT: ``truth/<tile>_<year>.tif`` (development field, float32, on the ~80 m lattice it is
computed on), ``nightlights/viirs_<year>.tif`` (EPSG:4326, 15 arc-seconds), ``source/catalog.json`` ->
``sentinel-2-l2a`` -> ``<scene id>/<scene id>.json`` + ``visual.tif`` (RGB uint8 COG, nodata 0). The
default size is the real 10 m grid (10980 x 10980); at ``size`` S the granule keeps its real footprint
with pixels of 109800 / S metres, and chips follow the image (32 x 32 chips of floor(S / 32) pixels, the
remainder strip east and south belongs to no chip). Scenes are rendered and written strip by strip, so
memory stays near one uint8 copy of the ground (360 MB at 10 m); under ``mpiexec -n N`` the
granule-years are spread over the ranks.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pystac
from affine import Affine
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.mgrs import MgrsExtension
from pystac.extensions.projection import ProjectionExtension
from rasterio.windows import Window
from publisher.progress import tqdm

from publisher.atomic import AtomicStacIO
from publisher.constants import (FIRST_YEAR, GRANULE_EXTENT_M, GRANULE_SIZE, LAST_YEAR, MAX_SCENES_PER_YEAR,
                                 SYNTH_DEFAULT_TILES)
from publisher.cog import write_cog
from publisher.errors import DevscoreError
from publisher.grid import TileGrid
from publisher.imagery.scene import (STRIP_ROWS, GroundFields, Lattice, Sky, apply_look, ground_fields, render_ground,
                                     year_looks)
from publisher.imagery.lights import nightlight_raster
from publisher.mpi import Communicator, map_gather, world

log = logging.getLogger(__name__)

DEFAULT_TILES = SYNTH_DEFAULT_TILES
#: Default grid side: the real 10 m Sentinel-2 grid; smaller sizes keep the footprint with coarser pixels.
DEFAULT_SIZE = MAX_SIZE = GRANULE_SIZE
COLLECTION = "sentinel-2-l2a"
VISUAL_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
LOSSLESS = {"COMPRESS": "ZSTD", "LEVEL": 3, "BLOCKSIZE": 512, "OVERVIEWS": "AUTO", "OVERVIEW_RESAMPLING": "AVERAGE",
            "BIGTIFF": "IF_SAFER"}


@dataclass
class SynthResult:
    """What was written."""

    scenes: list[pystac.Item] = field(default_factory=list)
    truth: list[Path] = field(default_factory=list)
    nightlights: list[Path] = field(default_factory=list)
    catalog: Path | None = None


def _grid(tile: str, size: int) -> tuple[TileGrid, Affine]:
    grid = TileGrid.from_tile_id(tile)
    pixel = GRANULE_EXTENT_M / size
    return grid, Affine(pixel, 0.0, grid.ulx, 0.0, -pixel, grid.uly)


def _profile(transform: Affine, epsg: int, size: int, count: int, dtype: str, nodata: float) -> dict:
    return {"driver": "GTiff", "width": size, "height": size, "count": count, "dtype": dtype, "nodata": nodata,
            "crs": f"EPSG:{epsg}", "transform": transform}


def _write_array(path: Path, profile: dict, array: np.ndarray, descriptions: Sequence[str] = ()) -> Path:
    """One in-memory array (bands, rows, cols) as a lossless COG."""
    window = Window(0, 0, array.shape[2], array.shape[1])
    return write_cog(path, profile, lambda: [(window, array)], LOSSLESS, descriptions=descriptions)


def scene_id(tile: str, when: dt.datetime) -> str:
    """A Planetary-Computer-style Sentinel-2 L2A scene id."""
    stamp = when.strftime("%Y%m%dT%H%M%S")
    return f"S2A_MSIL2A_{stamp}_R061_T{tile}_{when:%Y%m%d}T090813"


def _scene_item(tile: str, grid: TileGrid, transform: Affine, size: int, when: dt.datetime, href: Path,
                cloud_pct: float, blank_pct: float) -> pystac.Item:
    item = pystac.Item(
        id=scene_id(tile, when), geometry=grid.footprint, bbox=grid.bbox, datetime=when, collection=COLLECTION,
        properties={"platform": "sentinel-2a", "constellation": "Sentinel 2", "instruments": ["msi"],
                    "s2:mgrs_tile": tile, "s2:nodata_pixel_percentage": round(blank_pct, 4),
                    "s2:processing_baseline": "05.09", "devscore:synthetic": True},
    )
    EOExtension.ext(item, add_if_missing=True).cloud_cover = round(cloud_pct, 4)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code, proj.shape, proj.transform = f"EPSG:{grid.epsg}", [size, size], list(transform)[:6]
    proj.bbox = list(grid.bounds)
    mgrs = MgrsExtension.ext(item, add_if_missing=True)
    mgrs.utm_zone, mgrs.latitude_band, mgrs.grid_square = grid.zone, tile[2], tile[3:5]
    asset = pystac.Asset(href=str(href), media_type=VISUAL_MEDIA_TYPE, roles=["visual"], title="True color image")
    item.add_asset("visual", asset)
    EOExtension.ext(asset, add_if_missing=True).bands = [
        Band.create(name=n, common_name=n, description=d) for n, d in
        (("red", "Red (band 4)"), ("green", "Green (band 3)"), ("blue", "Blue (band 2)"))]
    return item


def _nightlights(path: Path, tiles: Sequence[str], year: int, seed: int) -> Path:
    """The year's VIIRS-like composite over ``tiles`` (publisher.imagery.lights: development with its own departures)."""
    radiance, profile = nightlight_raster(tiles, year, seed)
    return _write_array(path, profile, radiance[None], ["VIIRS-like annual radiance, nW/cm2/sr"])


def _render(fields: GroundFields) -> np.ndarray:
    """The cloud-free ground of the whole image (rows, cols, 3 uint8), rendered strip by strip."""
    height, width = fields.lattice.image_shape
    ground = np.empty((height, width, 3), np.uint8)
    for row0 in range(0, height, STRIP_ROWS):
        ground[row0 : row0 + STRIP_ROWS] = render_ground(fields, row0, min(STRIP_ROWS, height - row0))
    return ground


def _write_scene(path: Path, profile: dict, ground: np.ndarray, sky: Sky, lattice: Lattice) -> tuple[float, float]:
    """Stream one scene (ground + its clouds and blank edge) into a COG; returns (cloud %, blank %)."""
    counts = {"cloud": 0, "blank": 0}

    def blocks():
        height, width = ground.shape[:2]
        for row0 in range(0, height, STRIP_ROWS):
            rgb, cloud, blank = apply_look(ground[row0 : row0 + STRIP_ROWS], sky, lattice, row0)
            counts["cloud"] += int((cloud & ~blank).sum())
            counts["blank"] += int(blank.sum())
            yield Window(0, row0, width, rgb.shape[0]), np.moveaxis(rgb, 2, 0)

    write_cog(path, profile, blocks, LOSSLESS, descriptions=["red", "green", "blue"])
    pixels = ground.shape[0] * ground.shape[1]
    return 100.0 * counts["cloud"] / max(1, pixels - counts["blank"]), 100.0 * counts["blank"] / pixels


@dataclass(frozen=True)
class _Job:
    tile: str
    t_index: int
    year: int
    size: int
    scenes_per_year: int
    seed: int


def _granule_year(out: Path, job: _Job) -> tuple[Path, list[pystac.Item]]:
    """Truth and every scene of one granule-year; returns the truth path and the scene items."""
    grid, transform = _grid(job.tile, job.size)
    # the ground's layout (where hamlets, fields and roads lie) is the tile's, the same every year, so
    # that only what the truth changes changes between years; each year draws its own scenes
    ground_seed = int(np.random.default_rng([job.seed, job.t_index]).integers(2**31))
    rng = np.random.default_rng([job.seed, job.t_index, job.year])
    fields = ground_fields(transform, f"EPSG:{grid.epsg}", (job.size, job.size), job.year, seed=ground_seed)
    lattice_shape = fields.lattice.shape
    truth_profile = {**_profile(fields.lattice.transform(transform), grid.epsg, lattice_shape[1], 1, "float32", -1.0),
                     "height": lattice_shape[0]}
    truth_path = _write_array(out / "truth" / f"{job.tile}_{job.year}.tif", truth_profile, fields.truth[None],
                              ["ground-truth development, 0 to 1"])
    ground = _render(fields)
    items = []
    for k, look in enumerate(year_looks(rng, job.scenes_per_year)):
        when = dt.datetime(job.year, 1 + (k * 12) // job.scenes_per_year, 12, 3, 35, 41, tzinfo=dt.timezone.utc)
        visual = out / "source" / COLLECTION / scene_id(job.tile, when) / "visual.tif"
        cloud_pct, blank_pct = _write_scene(visual, _profile(transform, grid.epsg, job.size, 3, "uint8", 0), ground,
                                            Sky.for_look(fields.lattice, look), fields.lattice)
        items.append(_scene_item(job.tile, grid, transform, job.size, when, visual, cloud_pct, blank_pct))
    return truth_path, items


def synthesize(out: str | Path, tiles: Sequence[str] = DEFAULT_TILES, years: Sequence[int] = (2022, 2023),
               scenes_per_year: int = 3, size: int = DEFAULT_SIZE, seed: int = 0, progress: bool = True,
               comm: Communicator | None = None) -> SynthResult | None:
    """Write the region for every tile and year; returns what was written (None on ranks other than 0).

    Under MPI (``comm`` of N ranks) the granule-years are spread round-robin over the ranks and rank 0
    writes the night lights and the source catalog.
    """
    if not 32 <= size <= MAX_SIZE:
        raise DevscoreError(f"--size must be between 32 and {MAX_SIZE} pixels (10 m pixels at {MAX_SIZE}), got {size}")
    if not 1 <= scenes_per_year <= MAX_SCENES_PER_YEAR:
        raise DevscoreError(f"--scenes-per-year must be between 1 and {MAX_SCENES_PER_YEAR}, got {scenes_per_year}")
    if not tiles or not years:
        raise DevscoreError("give at least one tile and one year")
    for tile in tiles:  # validates every tile id first
        TileGrid.from_tile_id(tile)
    bad_years = [year for year in years if not FIRST_YEAR <= year <= LAST_YEAR]
    if bad_years:
        raise DevscoreError(f"years must be between {FIRST_YEAR} and {LAST_YEAR}, got {bad_years[0]}")
    if seed < 0:
        raise DevscoreError(f"--seed must be 0 or more, got {seed}")
    comm = comm or world()
    out = Path(out).absolute()  # asset hrefs are made relative to the items, so they must not be cwd-relative
    jobs = [_Job(tile, t_index, year, size, scenes_per_year, seed) for t_index, tile in enumerate(tiles) for year in years]
    with tqdm(total=-(-len(jobs) // comm.size), desc=f"synthesizing (rank {comm.rank})" if comm.size > 1 else "synthesizing",
              unit="granule-year", disable=not progress) as bar:
        def one(job: _Job) -> tuple[Path, list[pystac.Item]]:
            done = _granule_year(out, job)
            bar.update()
            return done

        gathered = map_gather(one, jobs, comm)
    if gathered is None:
        return None
    done, errors = gathered
    if errors:
        raise DevscoreError("; ".join(errors))
    result = SynthResult()
    collection = pystac.Collection(
        id=COLLECTION, description="Synthetic Sentinel-2 L2A scenes made by devscore synth (not real data).",
        extent=pystac.Extent(pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
                             pystac.TemporalExtent([[None, None]])), license="CC-BY-4.0")
    for truth_path, items in sorted(done, key=lambda d: str(d[0])):
        result.truth.append(truth_path)
        for item in items:
            collection.add_item(item)
            result.scenes.append(item)
    for year in years:
        result.nightlights.append(_nightlights(out / "nightlights" / f"viirs_{year}.tif", tiles, year, seed + year))
    collection.update_extent_from_items()
    source = out / "source"
    catalog = pystac.Catalog(id="devscore-synthetic-source", description="Synthetic Sentinel-2 source imagery")
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(source))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(pystac.CatalogType.SELF_CONTAINED, stac_io=AtomicStacIO())
    result.catalog = source / "catalog.json"
    log.info("wrote %d scenes, %d truth rasters and %d night-light rasters under %s",
             len(result.scenes), len(result.truth), len(result.nightlights), out)
    return result
