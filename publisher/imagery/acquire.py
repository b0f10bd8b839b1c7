"""Stage 0: find the scenes of a granule-year with pystac-client and choose the best one.

The search runs against any STAC API (Planetary Computer by default, its asset URLs signed through
the ``planetary-computer`` package) or a local static catalog. Among the hits the scene with the
smallest blank share wins, then the least cloud; the blank share is read from the COG's smallest
overview (a few kB over HTTP range requests), never from the full image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pystac
import rasterio
from urllib3.util.retry import Retry

from publisher.constants import DEFAULT_MAX_CLOUD, PLANETARY_COMPUTER
from publisher.errors import DevscoreError
from publisher.grid import TileGrid

log = logging.getLogger(__name__)

COLLECTION = "sentinel-2-l2a"
VISUAL = "visual"
#: Retries of STAC API calls on rate limits, 5xx and dropped connections, with exponential backoff.
API_RETRY = Retry(total=5, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None)
#: GDAL settings for COGs over HTTP: no directory listings, merged range reads, timeouts, retries with
#: backoff on 429/5xx and dropped connections.
HTTP_ENV = {
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "VSI_CACHE": "TRUE",
}


class NoSceneError(DevscoreError):
    """No scene of the granule-year passes the search."""


@dataclass(frozen=True)
class Candidate:
    """A scene with what the choice is made on."""

    item: pystac.Item
    href: str
    cloud: float
    blank: float


def _in_year(item: pystac.Item, year: int) -> bool:
    return item.datetime is not None and item.datetime.year == year


def _search_static(catalog_dir: Path, tile: str, year: int, max_cloud: float) -> list[pystac.Item]:
    catalog_file = Path(catalog_dir) / "catalog.json"
    if not catalog_file.is_file():
        raise DevscoreError(f"no catalog.json in {catalog_dir}")
    try:
        root = pystac.Catalog.from_file(str(catalog_file))
        items = list(root.get_items(recursive=True))
    except Exception as exc:  # pystac raises anything from JSONDecodeError to TypeError on malformed JSON
        raise DevscoreError(f"cannot read the source catalog {catalog_file}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return [item for item in items
            if item.properties.get("s2:mgrs_tile") == tile and _in_year(item, year)
            and _cloud_cover(item) < max_cloud]


def _cloud_cover(item: pystac.Item) -> float:
    """The item's eo:cloud_cover (100 where absent or not a number, so it never passes as clear)."""
    value = item.properties.get("eo:cloud_cover", 100.0)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 100.0


#: Words of a connection error (requests nests urllib3's reason in its message) and what they mean.
UNREACHABLE_REASONS = (("NameResolutionError", "its host name does not resolve: is this machine offline?"),
                       ("Connection refused", "nothing listens there"), ("timed out", "it did not answer in time"))


def _search_api(url: str, tile: str, year: int, max_cloud: float) -> list[pystac.Item]:
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO

    modifier = None
    if url.rstrip("/") == PLANETARY_COMPUTER:
        import planetary_computer

        modifier = planetary_computer.sign_inplace
    try:
        client = Client.open(url, modifier=modifier, stac_io=StacApiIO(max_retries=API_RETRY, timeout=60))
        search = client.search(collections=[COLLECTION], datetime=str(year),
                               query={"s2:mgrs_tile": {"eq": tile}, "eo:cloud_cover": {"lt": max_cloud}})
        return list(search.items())
    except Exception as exc:  # pystac-client raises APIError, requests errors, JSON errors
        reason = next((reason for needle, reason in UNREACHABLE_REASONS if needle in str(exc)), None)
        if reason:  # after the retries: no name, nothing listening, no answer
            raise DevscoreError(f"cannot reach the STAC API at {url} ({reason}); --stac-api URL names another "
                                "API, --source-catalog DIR a local catalog") from exc
        raise DevscoreError(f"STAC search at {url} failed: {str(exc).splitlines()[0]}") from exc


def search_scenes(tile: str, year: int, *, stac_api: str | None = None, source_catalog: str | Path | None = None,
                  max_cloud: float = DEFAULT_MAX_CLOUD) -> list[pystac.Item]:
    """Scenes of ``tile`` in ``year`` with cloud cover below ``max_cloud`` percent."""
    tile = TileGrid.from_tile_id(tile).tile
    if source_catalog is not None:
        return _search_static(Path(source_catalog), tile, year, max_cloud)
    return _search_api(stac_api or PLANETARY_COMPUTER, tile, year, max_cloud)


def gdal_path(href: str) -> str:
    """What GDAL opens for an asset href: /vsicurl/ for HTTP(S), the path otherwise."""
    return f"/vsicurl/{href}" if href.startswith(("http://", "https://")) else href


def blank_ratio(href: str) -> float:
    """Share of blank (all-zero or nodata) pixels, judged on the COG's smallest overview."""
    with rasterio.Env(**HTTP_ENV):
        try:
            with rasterio.open(gdal_path(href)) as ds:
                level = len(ds.overviews(1)) - 1
            options = {"overview_level": level} if level >= 0 else {}
            with rasterio.open(gdal_path(href), **options) as ds:
                data = ds.read()
        except rasterio.errors.RasterioIOError as exc:
            raise DevscoreError(f"cannot read {href}: {str(exc).splitlines()[0]}") from exc
    return float((data == 0).all(axis=0).mean())


def select_scene(items: list[pystac.Item], tile: str, year: int) -> tuple[Candidate, list[Candidate]]:
    """The least blank, then least cloudy scene, and every candidate in the order they ranked."""
    if not items:
        raise NoSceneError(f"no {COLLECTION} scene of tile {tile} in {year} passes the search "
                           "(try a higher --max-cloud or another year)")
    candidates = []
    for item in items:
        if VISUAL not in item.assets:
            continue
        href = item.assets[VISUAL].get_absolute_href()
        candidates.append(Candidate(item, href, _cloud_cover(item), blank_ratio(href)))
    if not candidates:
        raise NoSceneError(f"none of the {len(items)} scenes of {tile} in {year} has a '{VISUAL}' asset")
    ranked = sorted(candidates, key=lambda c: (round(c.blank, 3), c.cloud, c.item.id))
    return ranked[0], ranked


def read_visual(candidate: Candidate) -> np.ndarray:
    """The chosen scene's RGB array (bands, rows, cols), read through GDAL (range reads over HTTP)."""
    with rasterio.Env(**HTTP_ENV), rasterio.open(gdal_path(candidate.href)) as ds:
        return ds.read()
