"""Night-light test files made by the project, all of one radiance field (the synthetic development
field squared, as devscore synth's night lights, without noise), each in its product's own encoding:
- a VNL-like GeoTIFF window of the global 15 arc-second grid, one block per scanline (also gzipped);
- VNP46A4-like HDF-EOS5 tiles (h5py), collection 2 (float32, fill -999.9) or 1 (uint16, x0.1, fill 65535).
Each marks the same small patch invalid in its own way (VNL: negative background; VNP46A4: fill)."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import h5py
import numpy as np
import rasterio
from affine import Affine

from pyproj import Transformer

from publisher.constants import CHIP_SIZE, CHIPS_PER_SIDE
from publisher.grid import TileGrid
from publisher.imagery.truth import development_field, wave_noise

D = 1.0 / 240.0
#: EOG VNL's global grid: 86401 x 33601 pixels centred on multiples of 15 arc-seconds, -180..180, -65..75.
VNL_ORIGIN = (-180.0 - D / 2, 75.0 + D / 2)
#: A patch (lon, lat box) that every fixture marks invalid in its product's way.
INVALID_PATCH = (104.60, 30.30, 104.70, 30.40)


def radiance(lon: np.ndarray, lat: np.ndarray, year: int) -> np.ndarray:
    """The shared field, nW/cm2/sr: lights where development is, over a dim background that varies in
    space (a function of lon/lat, so every grid samples the same background)."""
    background = 0.3 + 2.0 * wave_noise(lon, lat, seed=year)
    return (90.0 * development_field(lon, lat, year) ** 2 + background).astype(np.float32)


def _in_patch(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    w, s, e, n = INVALID_PATCH
    return (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)


def write_vnl_like(path: Path, bbox: tuple[float, float, float, float], year: int, gz: bool = False,
                   crs: str | None = "EPSG:4326") -> Path:
    """A strip-organised window of the VNL global grid covering ``bbox``; ``.gz`` appended when ``gz``."""
    west, south, east, north = bbox
    c0, r0 = int(np.floor((west - VNL_ORIGIN[0]) / D)), int(np.floor((VNL_ORIGIN[1] - north) / D))
    c1, r1 = int(np.ceil((east - VNL_ORIGIN[0]) / D)), int(np.ceil((VNL_ORIGIN[1] - south) / D))
    lon = VNL_ORIGIN[0] + (np.arange(c0, c1) + 0.5) * D
    lat = VNL_ORIGIN[1] - (np.arange(r0, r1) + 0.5) * D
    lon2, lat2 = np.meshgrid(lon, lat)
    data = radiance(lon2, lat2, year)
    data[_in_patch(lon2, lat2)] = -0.4  # negative background of the unmasked average
    profile = {"driver": "GTiff", "width": c1 - c0, "height": r1 - r0, "count": 1, "dtype": "float32",
               "transform": Affine(D, 0, VNL_ORIGIN[0] + c0 * D, 0, -D, VNL_ORIGIN[1] - r0 * D),
               "blockysize": 1, "tiled": False, "compress": "deflate"}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    if not gz:
        return path
    gz_path = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(gz_path, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return gz_path


def vnp46a4_name(h: int, v: int, year: int, collection: int = 2) -> str:
    """A Black Marble file name: VNP46A4.A{year}001.h{h}v{v}.{collection}.{production time}.h5."""
    return f"VNP46A4.A{year}001.h{h:02d}v{v:02d}.{collection:03d}.2024123120000.h5"


def write_vnp46a4_like(folder: Path, h: int, v: int, year: int, collection: int = 2,
                       field_bbox: tuple[float, float, float, float] | None = None, name: str | None = None) -> Path:
    """An HDF-EOS5 tile hXXvYY of 2400 x 2400: the field inside ``field_bbox`` (all of it when None),
    fill value elsewhere, lat/lon of pixel centres, StructMetadata, chunked and compressed."""
    west, north = -180.0 + 10 * h, 90.0 - 10 * v
    lon = west + (np.arange(2400) + 0.5) * D
    lat = north - (np.arange(2400) + 0.5) * D
    fill = -999.9 if collection == 2 else 65535
    data = np.full((2400, 2400), fill, np.float32 if collection == 2 else np.uint16)
    bw, bs, be, bn = field_bbox or (west, north - 10, west + 10, north)
    cols = np.flatnonzero((lon >= bw) & (lon <= be))
    rows = np.flatnonzero((lat >= bs) & (lat <= bn))
    if cols.size and rows.size:
        lon2, lat2 = np.meshgrid(lon[cols], lat[rows])
        values = radiance(lon2, lat2, year)
        patch = _in_patch(lon2, lat2)
        if collection == 2:
            values[patch] = fill
            data[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = values
        else:
            encoded = np.round(values / 0.1).astype(np.uint16)
            encoded[patch] = fill
            data[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = encoded
    path = folder / (name or vnp46a4_name(h, v, year, collection))
    with h5py.File(path, "w") as f:
        grid = f.create_group("HDFEOS/GRIDS/VIIRS_Grid_DNB_2d")
        fields = grid.create_group("Data Fields")
        ds = fields.create_dataset("NearNadir_Composite_Snow_Free", data=data, chunks=(240, 240), compression="gzip")
        ds.attrs["_FillValue"] = np.array([fill], data.dtype)
        ds.attrs["units"] = "nW/(cm2 sr)"
        if collection == 2:
            fields.create_dataset("AllAngle_Composite_Snow_Free", data=data, chunks=(240, 240), compression="gzip")
        fields.create_dataset("lat", data=lat)
        fields.create_dataset("lon", data=lon)
        f.create_dataset("HDFEOS INFORMATION/StructMetadata.0", data=np.bytes_(
            f"GROUP=SWATH_STRUCTURE\nEND_GROUP=SWATH_STRUCTURE\nGROUP=GRID_STRUCTURE\n\tGROUP=GRID_1\n"
            f"\t\tGridName=\"VIIRS_Grid_DNB_2d\"\n\t\tXDim=2400\n\t\tYDim=2400\n"
            f"\t\tUpperLeftPointMtrs=({west * 1e6:.6f},{north * 1e6:.6f})\n"
            f"\t\tLowerRightMtrs=({(west + 10) * 1e6:.6f},{(north - 10) * 1e6:.6f})\n"
            f"\t\tProjection=HE5_GCTP_GEO\n\tEND_GROUP=GRID_1\nEND_GROUP=GRID_STRUCTURE\nEND\n"))
        f.attrs["ProductionTime"] = dt.datetime(2024, 12, 31, tzinfo=dt.timezone.utc).isoformat()
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to ``keep`` of its length (an interrupted download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def field_scores(tile: str, year: int, seed: int = 3) -> np.ndarray:
    """Chip scores of ``tile``: the development field at chip centres plus noise; chips (0, 0..2) unscored."""
    grid = TileGrid.from_tile_id(tile)
    centres = (np.arange(CHIPS_PER_SIDE) + 0.5) * CHIP_SIZE
    xs, ys = grid.transform @ np.meshgrid(centres, centres)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    noisy = development_field(lon, lat, year) + np.random.default_rng(seed).normal(0, 0.05, lon.shape)
    scores = np.clip(noisy, 0, 1).astype(np.float32)
    scores[0, :3] = np.nan
    return scores


def publish_field_scores(folder: Path, tiles: tuple[str, ...], year: int, uncertainty: bool = False) -> Path:
    """A published score catalog ``folder/catalog`` with ``field_scores`` for every tile of ``year`` (and, with
    ``uncertainty``, a seeded spread per chip: the items get an ``uncertainty`` asset)."""
    from catalog.ingest import publish_table
    from publisher.scores import GranuleYear, scores_to_table

    when = dt.datetime(year, 4, 1, tzinfo=dt.timezone.utc)
    rng = np.random.default_rng(year)
    granules = [GranuleYear(tile, year, when, None, scores := field_scores(tile, year),
                            uncertainty=np.where(np.isnan(scores), np.nan, rng.uniform(0, 0.2, scores.shape))
                            if uncertainty else None) for tile in tiles]
    scores_to_table(granules).to_csv(folder / "scores.csv", index=False)
    publish_table(folder / "scores.csv", folder / "catalog", progress=False)
    return folder / "catalog"
