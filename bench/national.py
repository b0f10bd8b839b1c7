"""A national-scale catalog of items only (no imagery): every MGRS tile over a country-sized area x years
x the score and night-light collections, as a static catalog on disk and as documents for pgstac.

Items point at shared asset files (one score COG and one night-light COG for the whole country), except
a region of granules around a centre that get small COGs of their own, painted as 32 x 32 constant
chips on their real footprint: there the year mosaics render real pixels.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import rasterio
from rasterio.transform import Affine

from catalog.stac import create_collection
from publisher.cog import CHIP_PX_TAG
from publisher.constants import COLLECTION_ID, SCORE_ASSET, SCORE_NODATA
from publisher.grid import TileGrid, TileIdError
from publisher.nightlights.stac import COLLECTION_ID as NIGHTLIGHTS

#: A country-sized area (west, south, east, north; most of China east of 95 E): about 2,100 MGRS tiles.
COUNTRY = (95.0, 20.0, 135.0, 50.0)
YEARS = (2019, 2020, 2021, 2022, 2023)
#: Centre of the region whose granules get COGs of their own (Chengdu).
REGION_CENTRE = (104.06, 30.67)
#: Pixels per side of a region granule's COG (100 m, like `devscore synth --size 1098`).
REGION_SIZE = 1098
LETTERS = [c for c in string.ascii_uppercase if c not in "IO"]
BANDS = "CDEFGHJKLMNPQRSTUVWX"


def tiles_over(bbox: tuple[float, float, float, float]) -> list[TileGrid]:
    """Every MGRS 100 km tile whose footprint meets ``bbox`` (zones and latitude bands enumerated)."""
    west, south, east, north = bbox
    zones = range(int((west + 180) // 6) + 1, int((east + 180) // 6) + 2)
    bands = [b for i, b in enumerate(BANDS) if -80 + 8 * i < north and -80 + 8 * (i + 1) > south]
    found = []
    for zone in zones:
        for band in bands:
            for col in LETTERS:
                for row in LETTERS[:20]:
                    try:
                        grid = TileGrid.from_tile_id(f"{zone:02d}{band}{col}{row}")
                    except TileIdError:
                        continue
                    w, s, e, n = grid.bbox
                    if w < east and e > west and s < north and n > south:
                        found.append(grid)
    return found


def region(grids: list[TileGrid], count: int) -> list[TileGrid]:
    """The ``count`` granules nearest REGION_CENTRE."""
    lon, lat = REGION_CENTRE

    def distance(grid: TileGrid) -> float:
        w, s, e, n = grid.bbox
        return math.hypot(((w + e) / 2 - lon) * math.cos(math.radians(lat)), (s + n) / 2 - lat)

    return sorted(grids, key=distance)[:count]


def write_region_cog(grid: TileGrid, path: Path, seed: int) -> Path:
    """A small COG of 32 x 32 constant chips on ``grid``'s footprint (100 m pixels)."""
    scale = grid.width / REGION_SIZE
    chip = REGION_SIZE // 32
    scores = np.random.default_rng(seed).random((32, 32), dtype=np.float32)
    data = np.full((REGION_SIZE, REGION_SIZE), SCORE_NODATA, dtype=np.float32)
    data[: 32 * chip, : 32 * chip] = np.kron(scores, np.ones((chip, chip), dtype=np.float32))
    transform = grid.transform @ Affine.scale(scale)
    with rasterio.open(path, "w", driver="COG", width=REGION_SIZE, height=REGION_SIZE, count=1, dtype="float32",
                       crs=grid.crs, transform=transform, nodata=SCORE_NODATA, compress="ZSTD",
                       blocksize=512, overview_resampling="nearest") as dst:
        dst.write(data, 1)
        dst.update_tags(**{CHIP_PX_TAG: str(chip)})  # as publisher.cog tags a published score COG
    return path


@dataclass(frozen=True)
class National:
    """The generated catalog: its folder, its documents and the region's granule ids."""

    root: Path
    collections: list[dict]
    items: list[dict]
    region_tiles: list[str]
    bbox: tuple[float, float, float, float]


def _item(grid: TileGrid, year: int, collection: str, asset_key: str, href: str) -> dict:
    return {
        "type": "Feature", "stac_version": "1.1.0", "id": f"{grid.tile}-{year}", "collection": collection,
        "geometry": grid.footprint, "bbox": grid.bbox,
        "properties": {"datetime": dt.datetime(year, 4, 1, tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z"),
                       "proj:code": f"EPSG:{grid.epsg}", "devscore:tile": grid.tile},
        "links": [],
        "assets": {asset_key: {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                               "roles": ["data"]}},
    }


def generate(root: Path, bbox: tuple[float, float, float, float] = COUNTRY, years: tuple[int, ...] = YEARS,
             region_count: int = 50) -> National:
    """Write the static catalog of every tile over ``bbox`` x ``years`` x both collections under ``root``."""
    grids = tiles_over(bbox)
    shared = root / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    chosen = region(grids, region_count)
    write_region_cog(chosen[0], shared / "score.tif", 0)
    write_region_cog(chosen[0], shared / "nightlights.tif", 1)
    own = {}
    for i, grid in enumerate(chosen):
        own[grid.tile] = write_region_cog(grid, shared / f"score-{grid.tile}.tif", i + 2).name
    collections = {COLLECTION_ID: create_collection().to_dict(include_self_link=False)}
    collections[NIGHTLIGHTS] = {**collections[COLLECTION_ID], "id": NIGHTLIGHTS, "title": "Night lights",
                                "description": "VIIRS night lights (generated items)", "item_assets": {},
                                "summaries": {}}
    items: list[dict] = []
    for cid, key, default in ((COLLECTION_ID, SCORE_ASSET, "score.tif"), (NIGHTLIGHTS, "radiance", "nightlights.tif")):
        folder = root / cid
        folder.mkdir(parents=True, exist_ok=True)
        links = []
        for grid in grids:
            for year in years:
                name = own.get(grid.tile, default) if cid == COLLECTION_ID else default
                item = _item(grid, year, cid, key, f"../../shared/{name}")
                item_dir = folder / item["id"]
                item_dir.mkdir(exist_ok=True)
                (item_dir / f"{item['id']}.json").write_text(json.dumps(item))
                links.append({"rel": "item", "href": f"./{item['id']}/{item['id']}.json", "type": "application/geo+json"})
                items.append(item)
        doc = {**collections[cid], "links": [{"rel": "root", "href": "../catalog.json"}, *links]}
        (folder / "collection.json").write_text(json.dumps(doc))
    (root / "catalog.json").write_text(json.dumps({
        "type": "Catalog", "stac_version": "1.1.0", "id": "national", "description": "generated", "links":
        [{"rel": "child", "href": f"./{cid}/collection.json", "type": "application/json"} for cid in collections]}))
    return National(root, list(collections.values()), items, [g.tile for g in chosen], bbox)


def pgstac_documents(national: National) -> tuple[list[dict], Iterator[dict]]:
    """The collections and items as pgstac keeps them (asset hrefs absolute)."""
    from catalog.pgstac.load import collection_document, item_document

    collections = [collection_document(c, national.root / c["id"]) for c in national.collections]
    items = (item_document(i, national.root / i["collection"] / i["id"]) for i in national.items)
    return collections, items
