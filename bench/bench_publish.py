"""Publish one granule-year end to end (paint + COG + thumbnail + chips + Item), and the COG writer
against GDAL's COG driver writing the same painted array from memory with the same options."""

from __future__ import annotations

from bench.common import child_peak_rss_mb, table
from publisher.cog import COG_OPTIONS

GOAL_PUBLISH_S = 3.0
GOAL_PEAK_MB = 1500
GOAL_RATIO = 1.3

SETUP = """
import datetime as dt, statistics, tempfile, time
from pathlib import Path
import numpy as np
from publisher.scores import GranuleYear
rng = np.random.default_rng(0)
scores = rng.random((32, 32), dtype=np.float32)
scores[rng.random((32, 32)) < 0.05] = np.nan
granule = GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 12, tzinfo=dt.timezone.utc), None, scores)
tmp = Path(tempfile.mkdtemp())
def median(func, repeats):
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); func(); times.append(time.perf_counter() - start)
    return statistics.median(times)
"""

OURS = SETUP + """
from publisher.publish import publish_granule_year
from publisher.cog import write_score_cog
publish_s = median(lambda: publish_granule_year(granule, tmp, device="cpu"), REPEATS)
cog_s = median(lambda: write_score_cog(scores, granule.chip_grid, tmp / "cog.tif", device="cpu"), REPEATS)
result = {"publish_s": publish_s, "cog_s": cog_s, "size": (tmp / "cog.tif").stat().st_size}
"""

GDAL = SETUP + """
import rasterio, rasterio.shutil
from publisher.cog import COG_OPTIONS, _profile
from publisher.paint import paint
grid = granule.chip_grid
painted = paint(scores, grid, device="cpu")
def write():
    with rasterio.open("mem", "w", **dict(_profile(grid), driver="MEM")) as ds:
        ds.write(painted, 1)
        rasterio.shutil.copy(ds, tmp / "gdal.tif", driver="COG", NUM_THREADS="ALL_CPUS", **COG_OPTIONS)
gdal_s = median(write, REPEATS)
result = {"gdal_s": gdal_s, "size": (tmp / "gdal.tif").stat().st_size}
"""

RIO_COGEO = SETUP + """
import rasterio
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from publisher.cog import BLOCKSIZE, COG_OPTIONS, _profile
from publisher.paint import paint
grid = granule.chip_grid
painted = paint(scores, grid, device="cpu")
profile = dict(cog_profiles.get("zstd"), blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE, zstd_level=COG_OPTIONS["LEVEL"])
def write():
    with MemoryFile() as mem:
        with mem.open(**dict(_profile(grid), tiled=True, blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE)) as ds:
            ds.write(painted, 1)
        with mem.open() as src:
            cog_translate(src, str(tmp / "riocogeo.tif"), profile, overview_resampling="nearest", quiet=True,
                          config={"GDAL_NUM_THREADS": "ALL_CPUS"})
rio_s = median(write, REPEATS)
result = {"rio_s": rio_s, "size": (tmp / "riocogeo.tif").stat().st_size}
"""


def run(quick: bool = False) -> str:
    """Markdown section: medians, peak memory of each process, file sizes, ratio to GDAL."""
    repeats = "1" if quick else "5"
    ours_mb, ours = child_peak_rss_mb(OURS.replace("REPEATS", repeats))
    gdal_mb, gdal = child_peak_rss_mb(GDAL.replace("REPEATS", repeats))
    rio_mb, rio = child_peak_rss_mb(RIO_COGEO.replace("REPEATS", repeats))
    ratio = ours["cog_s"] / gdal["gdal_s"]
    rows = [
        ["devscore publish_granule_year (paint + COG + thumbnail + chips + Item)", f"{ours['publish_s']:.2f} s",
         f"{ours_mb:.0f} MB", f"{ours['size'] / 1024:.0f} KiB", ""],
        ["devscore write_score_cog (streamed paint + COG)", f"{ours['cog_s']:.2f} s", "(same process)", "",
         f"{ratio:.2f}x GDAL"],
        ["baseline: GDAL COG driver from the painted in-memory array", f"{gdal['gdal_s']:.2f} s", f"{gdal_mb:.0f} MB",
         f"{gdal['size'] / 1024:.0f} KiB", "1.00x"],
        ["rio-cogeo cog_translate from the painted in-memory array", f"{rio['rio_s']:.2f} s", f"{rio_mb:.0f} MB",
         f"{rio['size'] / 1024:.0f} KiB", f"{rio['rio_s'] / gdal['gdal_s']:.2f}x GDAL"],
    ]
    verdicts = [
        f"publish <= {GOAL_PUBLISH_S} s: {'met' if ours['publish_s'] <= GOAL_PUBLISH_S else 'missed'}",
        f"peak <= {GOAL_PEAK_MB} MB: {'met' if ours_mb <= GOAL_PEAK_MB else 'missed'}",
        f"COG writer within {GOAL_RATIO}x of GDAL: {'met' if ratio <= GOAL_RATIO else 'missed'}",
    ]
    return "\n".join([
        "### Publish one granule-year (48RVU, 10980 x 10980 float32, "
        f"{COG_OPTIONS['COMPRESS']} level {COG_OPTIONS['LEVEL']}, predictor {COG_OPTIONS['PREDICTOR']}, "
        f"{COG_OPTIONS['BLOCKSIZE']} px tiles)", "",
        table(["step", "median", "peak RSS", "file size", "ratio"], rows), "",
        f"Goals: {'; '.join(verdicts)}. Medians of {repeats} runs after a warm-up; each writer runs in its own "
        "fresh process so its peak RSS is its own.",
    ])
