"""Bounded cost per request: every parameter that scales memory or time is capped, and a request past a
cap answers 400 naming the limit, before any library sees the value.

Without caps, one request reaches gigabytes (``tilesize=16384``, ``statistics?max_size=0`` reads the
granule at full resolution, a bbox image is read at the native 10 m unless a size is given, 64 x
``bidx=1`` reads the data 64 times) or never ends (a tile x of 2^63 spins in PROJ holding the GIL).
:func:`request_limits` is a dependency of the whole app (``FastAPI(dependencies=...)`` in
``tiler_app.main``), so every route of every router, those added later included, goes through it;
the bbox and feature routes of item factories also check the pixel count their area implies
(``tiler_app.dependencies.item_checks``). Bodies, URL length and time are bounded by
``tiler_app.budget`` before and around the app.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import morecantile
from fastapi import Query, Request
from morecantile.defaults import TileMatrixSets
from morecantile.errors import InvalidIdentifier
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from shapely.geometry import shape
from titiler.core.dependencies import ZoomsParams, ZoomsStr

from publisher.errors import DevscoreError

#: Largest ``tilesize`` (TileJSON templates ask for 512; 1024 is a HiDPI 512).
MAX_TILESIZE = 1024
#: Largest ``buffer`` and ``padding`` of a tile (pixels on each side).
MAX_TILE_BUFFER = 64
#: Largest width, height or ``max_size`` of a preview, bbox, feature or statistics read (pixels).
MAX_IMAGE_SIDE = 2048
#: Largest pixel count a bbox or feature read at native resolution may imply (no width/height/max_size).
MAX_IMAGE_PIXELS = 2048 * 2048
#: Band-math ``expression``: longest text and most operands (band names and numbers).
MAX_EXPRESSION_CHARS = 256
MAX_EXPRESSION_TERMS = 32
#: Most ``histogram_bins`` (or bin edges), percentiles ``p`` and categories ``c`` of a statistics request.
MAX_HISTOGRAM_BINS = 1024
MAX_STATISTICS_VALUES = 100
#: Statistics of a feature rasterize its coverage at ``cover_scale`` times the read's size: the largest
#: side times cover_scale (TiTiler's default cover_scale is 10).
MAX_COVERAGE_SIDE = 4096
DEFAULT_COVER_SCALE = 10
#: Most features in one POST feature or statistics body, and most coordinates (vertices) over all of them.
MAX_FEATURES = 16
MAX_VERTICES = 20_000
#: Most values of one repeated query parameter (each ``bidx`` reads the data once more), except ``p``/``c``
#: (MAX_STATISTICS_VALUES) and ``bidx`` (MAX_BANDS: the layers have one band).
MAX_REPEATS = 8
MAX_BANDS = 4
#: GDAL's block cache per server process, in MB (set by ``tiler_app.security.process_environment``).
GDAL_CACHE_MB = 128
#: glibc malloc arenas per server process (``MALLOC_ARENA_MAX``).
MALLOC_ARENAS = 2
#: Deepest zoom served (over-zoom). The data's native zoom is tiler_app.mosaic.MAXZOOM (WebMercatorQuad z14 is ~10 m
#: pixels); a deeper tile reads the few source pixels under it and upsamples them, so it costs no more
#: than a native one (a score chip is 3.4 km: a z22 tile is one colour). z22 is ~4 cm pixels, deeper
#: than any GIS view (QGIS at 1:500 asks for z20). WGS1984Quad reaches each resolution one level earlier.
OVERZOOM_MAX = 22
MAX_ZOOM = {"WebMercatorQuad": OVERZOOM_MAX, "WGS1984Quad": OVERZOOM_MAX - 1}


class SharedTileMatrixSets(TileMatrixSets):
    """Tile grids handed out as the one instance each (morecantile's ``get`` deep-copies the grid, about 1 ms
    of a 5 ms cold tile): TiTiler, rio-tiler and this server only read a grid."""

    def get(self, identifier: str) -> morecantile.TileMatrixSet:
        if identifier not in self.tilematrixsets:
            raise InvalidIdentifier(f"Invalid identifier: {identifier}")
        return self.tilematrixsets[identifier]


#: Tile grids every tile factory offers (web maps and QGIS use WebMercatorQuad; WGS1984Quad for plate
#: carree clients). Any other grid id is refused before the factory sees it.
SUPPORTED_TMS = SharedTileMatrixSets({name: morecantile.tms.get(name) for name in MAX_ZOOM})

_TERM = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+(?:\.\d*)?|\.\d+")


def _ints(request: Request, name: str) -> list[int]:
    """Integer values of query or path parameter ``name`` (values that are not integers are left to
    FastAPI's validation)."""
    values = request.query_params.getlist(name)
    if name in request.path_params:
        values.append(str(request.path_params[name]))
    out = []
    for value in values:
        try:
            out.append(int(float(value)))
        except (ValueError, OverflowError):
            if value.strip().lower() in ("inf", "+inf", "infinity"):
                out.append(10**18)
    return out


def _within(request: Request, name: str, low: int, high: int, why: str = "") -> None:
    for value in _ints(request, name):
        if not low <= value <= high:
            raise DevscoreError(f"{name} must be between {low} and {high}{why}, got {value}")


def check_expression(expression: str) -> None:
    """Refuse a band-math expression past MAX_EXPRESSION_CHARS or MAX_EXPRESSION_TERMS."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise DevscoreError(f"expression is {len(expression)} characters, more than the limit of {MAX_EXPRESSION_CHARS}")
    terms = len(_TERM.findall(expression))
    if terms > MAX_EXPRESSION_TERMS:
        raise DevscoreError(f"expression has {terms} terms, more than the limit of {MAX_EXPRESSION_TERMS}")


def _check_tile(request: Request) -> None:
    """The tile grid is one of SUPPORTED_TMS, z within its served zooms, x and y within its matrix at z."""
    tms = request.path_params.get("tileMatrixSetId")
    if tms is not None and tms not in MAX_ZOOM:
        raise DevscoreError(f"unsupported tile matrix set {str(tms)[:40]!r}: use one of {', '.join(MAX_ZOOM)}")
    top = MAX_ZOOM.get(tms, OVERZOOM_MAX) if isinstance(tms, str) else OVERZOOM_MAX
    why = f" (the max zoom served in {tms or 'WebMercatorQuad'} is {top}: OVERZOOM_MAX)"
    for name in ("z", "minzoom", "maxzoom"):
        _within(request, name, 0, top, why)
    zs = _ints(request, "z") if "z" in request.path_params else []
    if tms and zs:
        matrix = SUPPORTED_TMS.get(tms).matrix(zs[0])
        _within(request, "x", 0, matrix.matrixWidth - 1, f" (the tile matrix of {tms} at z{zs[0]})")
        _within(request, "y", 0, matrix.matrixHeight - 1, f" (the tile matrix of {tms} at z{zs[0]})")


def _check_repeats(request: Request) -> None:
    """No query parameter repeated more than its cap (MAX_REPEATS, MAX_BANDS, MAX_STATISTICS_VALUES)."""
    for name in set(request.query_params.keys()):
        count = len(request.query_params.getlist(name))
        cap = MAX_STATISTICS_VALUES if name in ("p", "c") else MAX_BANDS if name == "bidx" else MAX_REPEATS
        if count > cap:
            raise DevscoreError(f"{name[:40]} is repeated {count} times, more than the limit of {cap}")


async def request_limits(request: Request) -> None:
    """App dependency (every route): tile grid, zoom and tile x/y, repeated parameters, tile size,
    buffers, image sizes, statistics, expressions and the feature and vertex counts of a JSON body."""
    _check_repeats(request)
    _check_tile(request)
    for zooms in request.query_params.getlist("zooms"):  # WMTS: tileMatrixSetId::minzoom,maxzoom
        grid, _, span = zooms.partition("::")
        limit = MAX_ZOOM.get(grid, min(MAX_ZOOM.values()))
        if any(not part.isdigit() or int(part) > limit for part in span.split(",") if part):
            raise DevscoreError(f"zooms must be within 0..{limit}, the max zoom served in {grid[:30] or 'that grid'}")
    _within(request, "tilesize", 1, MAX_TILESIZE, " (MAX_TILESIZE)")
    for name in ("buffer", "padding"):
        _within(request, name, 0, MAX_TILE_BUFFER, " (MAX_TILE_BUFFER)")
    for name in ("width", "height"):
        _within(request, name, 1, MAX_IMAGE_SIDE, " (MAX_IMAGE_SIDE)")
    _within(request, "max_size", 1, MAX_IMAGE_SIDE, " pixels (MAX_IMAGE_SIDE; 0, full resolution, is refused)")
    for expression in request.query_params.getlist("expression"):
        check_expression(expression)
    for bins in request.query_params.getlist("histogram_bins"):
        parts = bins.split(",")
        count = len(parts) if len(parts) > 1 else (int(parts[0]) if parts[0].isdigit() and len(parts[0]) < 10 else 0)
        if count > MAX_HISTOGRAM_BINS or len(parts[0]) >= 10:
            raise DevscoreError(f"histogram_bins asks for more than the limit of {MAX_HISTOGRAM_BINS} bins")
    for name in ("p", "c"):
        if len(request.query_params.getlist(name)) > MAX_STATISTICS_VALUES:
            raise DevscoreError(f"more than {MAX_STATISTICS_VALUES} values of {name}")
    _within(request, "p", 0, 100, " (percentiles)")
    if request.method == "POST" and request.headers.get("content-type", "").startswith("application/json"):
        count_geojson(loads_body(await request.body()))  # the body is capped (tiler_app.budget) before


def advertised_zooms(zooms: Annotated[list[ZoomsStr] | None, Query(description="tileMatrixSetId::minzoom,maxzoom")]
                     = None) -> dict[str, tuple[int, int]]:
    """The zoom range WMTS capabilities list per grid (replaces TiTiler's ZoomsParams): the one
    requested with ``zooms``, else 0 to MAX_ZOOM, every level of which answers. Without it TiTiler
    lists the data's native range for items (QGIS zoomed past it draws nothing) and 0..24 for mosaics."""
    asked = ZoomsParams(zooms)
    return {tms: asked.get(tms) or asked.get("*") or (0, top) for tms, top in MAX_ZOOM.items()}


def implied_pixels(bounds: tuple[float, float, float, float], bounds_crs: CRS, item: dict[str, Any]) -> float:
    """Pixels of the item's native grid that ``bounds`` (in ``bounds_crs``) covers."""
    props = item.get("properties", {})
    code = props.get("proj:code") or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
    transform = props.get("proj:transform")
    if not code or not transform:
        return 0.0
    try:
        left, bottom, right, top = transform_bounds(bounds_crs, CRS.from_user_input(code), *bounds, densify_pts=21)
    except Exception:  # bounds PROJ cannot project onto the item's grid
        return float("inf")
    pixels = abs((right - left) / transform[0]) * abs((top - bottom) / transform[4])
    return pixels if pixels == pixels else float("inf")


def check_implied_pixels(bounds, bounds_crs: CRS | None, item: dict[str, Any], request: Request) -> None:
    """Refuse a native-resolution read (no width, height or max_size) of more than MAX_IMAGE_PIXELS, and
    (statistics) a coverage raster past MAX_COVERAGE_SIDE."""
    params = request.query_params
    sizes = [v for name in ("width", "height", "max_size") for v in _ints(request, name)]
    if request.url.path.endswith("/statistics"):
        cover = (_ints(request, "cover_scale") or [DEFAULT_COVER_SCALE])[0]
        side = max(sizes) if sizes else implied_pixels(bounds, bounds_crs or CRS.from_epsg(4326), item) ** 0.5
        if side * cover > MAX_COVERAGE_SIDE:
            raise DevscoreError(f"statistics read {side:.0f} px per side times cover_scale {cover} passes the limit of "
                                f"{MAX_COVERAGE_SIDE} (MAX_COVERAGE_SIDE): lower max_size or cover_scale")
    if sizes or any(params.get(name) for name in ("width", "height", "max_size")) or "width" in request.path_params:
        return
    pixels = implied_pixels(bounds, bounds_crs or CRS.from_epsg(4326), item)
    if pixels > MAX_IMAGE_PIXELS:
        shown = "too many" if pixels == float("inf") else f"{pixels:.3g}"
        raise DevscoreError(f"this area covers {shown} pixels at the native resolution, more than the limit of "
                            f"{MAX_IMAGE_PIXELS} (MAX_IMAGE_PIXELS): give max_size, or width and height")


def feature_bounds(body: Any) -> list[tuple[float, float, float, float]]:
    """Bounds of each feature of a GeoJSON Feature or FeatureCollection body (DevscoreError if malformed)."""
    if not isinstance(body, dict):
        raise DevscoreError("the body must be a GeoJSON Feature or FeatureCollection")
    features = body.get("features") if body.get("type") == "FeatureCollection" else [body]
    if not isinstance(features, list) or not features:
        raise DevscoreError("the body must be a GeoJSON Feature or a non-empty FeatureCollection")
    if len(features) > MAX_FEATURES:
        raise DevscoreError(f"{len(features)} features, more than the limit of {MAX_FEATURES} (MAX_FEATURES)")
    out = []
    for feature in features:
        try:
            geometry = shape(feature["geometry"])
            out.append(tuple(float(v) for v in geometry.bounds))
        except Exception:
            raise DevscoreError("a feature's geometry is not valid GeoJSON") from None
    return out


class _Counter:
    """Counts numbers (coordinates) as the JSON parser meets them and stops it past MAX_VERTICES."""

    def __init__(self) -> None:
        self.numbers = 0

    def number(self, text: str) -> float:
        self.numbers += 1
        if self.numbers > 3 * MAX_VERTICES:  # x, y and an optional z per vertex
            raise DevscoreError(f"the body holds more than {MAX_VERTICES} vertices (MAX_VERTICES)")
        return float(text)


def loads_body(raw: bytes) -> Any:
    """The JSON of a request body (DevscoreError if it is not JSON, or past MAX_VERTICES numbers while
    it is being parsed)."""
    counter = _Counter()
    try:
        return json.loads(raw, parse_float=counter.number, parse_int=counter.number, parse_constant=counter.number)
    except (ValueError, RecursionError):
        raise DevscoreError("the body is not valid JSON") from None


def count_geojson(body: Any) -> None:
    """Refuse a GeoJSON body of more than MAX_FEATURES features or MAX_VERTICES vertices."""
    features = body.get("features") if isinstance(body, dict) and body.get("type") == "FeatureCollection" else None
    if isinstance(features, list) and len(features) > MAX_FEATURES:
        raise DevscoreError(f"{len(features)} features, more than the limit of {MAX_FEATURES} (MAX_FEATURES)")
    vertices = _vertices(body, depth=0)
    if vertices > MAX_VERTICES:
        raise DevscoreError(f"{vertices} vertices, more than the limit of {MAX_VERTICES} (MAX_VERTICES)")


def _vertices(node: Any, depth: int) -> int:
    """Coordinate positions (lists of numbers) under ``node``."""
    if depth > 32:
        raise DevscoreError("the body is nested too deeply")
    if isinstance(node, dict):
        return sum(_vertices(v, depth + 1) for v in node.values())
    if isinstance(node, list):
        if node and all(isinstance(v, (int, float)) for v in node):
            return 1
        return sum(_vertices(v, depth + 1) for v in node)
    return 0
