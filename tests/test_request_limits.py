"""One limit layer for every route (issue 20): the probe's cases as named tests against a real
`devscore serve` of a catalog with scores and night lights, and a walk over the app's OpenAPI document
that fails when a route or a size-bearing parameter escapes the limits, so a new router cannot forget.

Every refusal here comes before any pixel is read: the whole module takes a few seconds once the
catalog is served."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import morecantile
import pytest

from tiler_app import budget, limits

SCORE_ITEM = "/collections/devscore-scores/items/48RVU-2023"
LIGHTS_ITEM = "/nightlights/items/48RVU-2023"
LIGHTS_YEAR = "/nightlights/years/2023"
_T = morecantile.tms.get("WebMercatorQuad").tile(104.5, 30.5, 9)
FEATURE = {"type": "Feature", "properties": {},
           "geometry": {"type": "Polygon", "coordinates": [[[104.0, 30.3], [104.1, 30.3], [104.1, 30.4],
                                                            [104.0, 30.4], [104.0, 30.3]]]}}

#: Real values of every path parameter the app's routes have: a request gets past the look-ups.
PATH_VALUES = {"collection_id": "devscore-scores", "item_id": "48RVU-2023", "year": "2023",
               "tileMatrixSetId": "WebMercatorQuad", "z": str(_T.z), "x": str(_T.x), "y": str(_T.y),
               "lon": "104.5", "lat": "30.5", "minx": "104.0", "miny": "30.3", "maxx": "104.1", "maxy": "30.4",
               "width": "64", "height": "64", "format": "png"}
#: Path parameters that bound work, with a value past the limit (x of 2^63 spun in PROJ for good).
PATH_OVER_LIMIT = {"z": ("30", "z"), "x": ("10000000000000000000", "x"), "y": ("10000000000000000000", "y"),
                   "tileMatrixSetId": ("CanadianNAD83_LCC", "tile matrix set"), "width": ("10980", "width"),
                   "height": ("10980", "height")}
#: Query parameters that scale memory or time, with a value past the limit and the word the refusal names.
QUERY_OVER_LIMIT = {
    "tilesize": ("4096", "tilesize"), "buffer": ("5000", "buffer"), "padding": ("5000", "padding"),
    "width": ("10980", "width"), "height": ("10980", "height"), "max_size": ("0", "max_size"),
    "histogram_bins": ("100000000", "histogram_bins"), "p": ("1000", "p must"),
    "expression": ("+".join(["b1"] * 100), "expression"), "minzoom": ("30", "minzoom"),
    "maxzoom": ("30", "maxzoom"), "zooms": ("WebMercatorQuad::0,30", "zooms"), "cover_scale": ("1000", "cover_scale"),
}
#: Query parameters whose value does not scale the work (each still capped in repeats), and why.
HARMLESS = {
    "algorithm", "algorithm_params",  # per-pixel post-processing of an already bounded read
    "bidx", "c",  # repeats capped (MAX_BANDS, MAX_STATISTICS_VALUES); values checked by rio-tiler
    "categorical", "histogram_range", "nodata", "unscale", "reproject", "resampling", "return_mask",
    "rescale", "color_formula", "colormap", "colormap_name", "pixel_selection",  # rendering of bounded arrays
    "format", "f", "tile_format", "use_epsg",  # output encodings
    "crs", "coord_crs", "dst_crs",  # tiler_app.security.parse_crs: EPSG codes of 2D CRSs only
    "item", "year", "bbox", "collection_id", "item_id",  # catalog look-ups (ids capped at 200 characters)
    "collection",  # /legend.png: one of three fixed images
    "lon", "lat",  # /zonal/at: one point looked up in the published zones
}


@pytest.fixture(scope="module")
def server(served_both) -> str:
    return served_both[0]


@pytest.fixture(scope="module")
def operations(server) -> list[tuple[str, str, dict]]:
    """(method, path template, operation) of every operation of the served OpenAPI document."""
    doc = httpx.get(f"{server}/openapi.json", timeout=60).json()
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


#: The change routes' own ids (served_both publishes 48RVU for 2022 and 2023, so it has this change item).
CHANGE_VALUES = {"item_id": "48RVU-2022-2023", "pair": "2022-2023"}


def _fill(template: str, values: dict[str, str]) -> str:
    if template.startswith("/change/"):
        values = {**values, **CHANGE_VALUES}
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


#: One keep-alive connection for the hundreds of refused requests of the walk.
_CLIENT = httpx.Client(timeout=30)


def _send(server: str, method: str, path: str, params=None) -> httpx.Response:
    body = FEATURE if method == "POST" else None
    return _CLIENT.request(method, f"{server}{path}", params=params, json=body)


def _refused(r: httpx.Response, word: str) -> bool:
    return r.status_code == 400 and word in r.json().get("detail", "")


# ---- defect 1: the hang ---------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [LIGHTS_ITEM, LIGHTS_YEAR, SCORE_ITEM, "/collections/devscore-scores/years/2023"])
@pytest.mark.parametrize("xy", ["10000000000000000000/421", "421/10000000000000000000", "9223372036854775808/0",
                                "1024/0", "-1/0"])
def test_tile_x_or_y_outside_the_matrix_is_400_at_once(server, prefix, xy):
    """x of about 2^63 at z10 spun at 100 % CPU in PROJ holding the GIL (13 minutes, SIGTERM ignored)."""
    r = httpx.get(f"{server}{prefix}/tiles/WebMercatorQuad/10/{xy}.png", timeout=10)
    assert r.status_code == 400 and "tile matrix" in r.json()["detail"], r.text
    assert httpx.get(f"{server}/layers", timeout=10).status_code == 200  # the server still answers


# ---- defect 2: the night-light routes skipped every limit -----------------------------------------

NIGHT_LIGHT_OVER_LIMITS = [
    (f"{LIGHTS_YEAR}/tiles/WebMercatorQuad/{_T.z}/{_T.x}/{_T.y}.png?tilesize=4096", "tilesize"),
    (f"{LIGHTS_ITEM}/tiles/WebMercatorQuad/{_T.z}/{_T.x}/{_T.y}.png?tilesize=4096", "tilesize"),
    (f"{LIGHTS_ITEM}/tiles/WebMercatorQuad/{limits.OVERZOOM_MAX + 1}/0/0.png", "max zoom"),
    (f"{LIGHTS_YEAR}/tiles/WebMercatorQuad/{limits.OVERZOOM_MAX + 1}/0/0.png", "max zoom"),
    (f"{LIGHTS_YEAR}/tiles/CanadianNAD83_LCC/2/1/1.png", "tile matrix set"),
    (f"{LIGHTS_ITEM}/tiles/CanadianNAD83_LCC/2/1/1.png", "tile matrix set"),
    (f"{LIGHTS_ITEM}/statistics?max_size=0", "max_size"),
    (f"{LIGHTS_ITEM}/statistics?max_size=512&histogram_bins=100000000", "histogram_bins"),
    (f"{LIGHTS_ITEM}/statistics?max_size=512&" + "&".join(f"p={i % 100}" for i in range(101)), "p"),
    (f"{LIGHTS_ITEM}/preview.png?width=10980&height=10980", "width"),
    (f"{LIGHTS_ITEM}/tiles/WebMercatorQuad/{_T.z}/{_T.x}/{_T.y}.png?expression=" + "+".join(["b1"] * 40),
     "expression"),
]


@pytest.mark.parametrize("path,word", NIGHT_LIGHT_OVER_LIMITS)
def test_night_light_routes_enforce_the_limits(server, path, word):
    r = httpx.get(f"{server}{path}", timeout=30)
    assert _refused(r, word), (r.status_code, r.text[:200])


def test_night_light_feature_statistics_are_bounded(server):
    """400k features ran for more than 280 s and grew past 2.2 GB."""
    many = {"type": "FeatureCollection", "features": [FEATURE] * (limits.MAX_FEATURES + 1)}
    r = httpx.post(f"{server}{LIGHTS_ITEM}/statistics", json=many, params={"max_size": 256}, timeout=30)
    assert _refused(r, str(limits.MAX_FEATURES))
    ring = [[104.0 + i * 1e-6, 30.3] for i in range(limits.MAX_VERTICES + 1)] + [[104.0, 30.3]]
    dense = {**FEATURE, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    r = httpx.post(f"{server}{LIGHTS_ITEM}/statistics", json=dense, params={"max_size": 256}, timeout=30)
    assert _refused(r, str(limits.MAX_VERTICES))
    r = httpx.post(f"{server}{LIGHTS_ITEM}/statistics", json=FEATURE, params={"cover_scale": 1000}, timeout=30)
    assert _refused(r, str(limits.MAX_COVERAGE_SIDE))
    r = httpx.post(f"{server}{LIGHTS_ITEM}/statistics", json=FEATURE, params={"max_size": 256}, timeout=30)
    assert r.status_code == 200 and r.json()["properties"]["statistics"]["b1"]["count"] > 0


def test_night_light_requests_within_the_limits_are_served(server):
    assert httpx.get(f"{server}{LIGHTS_YEAR}/tiles/WebMercatorQuad/{_T.z}/{_T.x}/{_T.y}.png?tilesize=512",
                     timeout=60).status_code == 200
    assert httpx.get(f"{server}{LIGHTS_ITEM}/tiles/WGS1984Quad/8/{_T.x}/{_T.y // 2}.png", timeout=60).status_code in (
        200, 404)
    assert httpx.get(f"{server}{LIGHTS_ITEM}/statistics?max_size=512&histogram_bins=20", timeout=60).status_code == 200


# ---- defect 3: repeated parameters ----------------------------------------------------------------

def test_repeated_parameters_are_capped(server):
    """64 x bidx=1 with max_size=2048 took 19.4 s and 2.57 GB."""
    for prefix in (SCORE_ITEM, LIGHTS_ITEM):
        r = httpx.get(f"{server}{prefix}/statistics?max_size=2048&" + "&".join(["bidx=1"] * 64), timeout=30)
        assert _refused(r, "bidx"), r.text
        r = httpx.get(f"{server}{prefix}/statistics?max_size=64&" + "&".join(["bidx=1"] * limits.MAX_BANDS),
                      timeout=30)
        assert r.status_code == 200
    r = httpx.get(f"{server}/layers?" + "&".join(["x=1"] * (limits.MAX_REPEATS + 1)), timeout=30)
    assert _refused(r, "repeated")


def test_a_band_repeated_in_statistics_is_read_once(server):
    """4 x bidx=1 at max_size 2048 read the granule 4 times (4.6 s, the costliest request the limits allowed)
    for the answer one bidx=1 gives: the band is read once now, and the answer is the same."""
    import asyncio

    from tiler_app.budget import BandsReadOnce

    seen = []

    async def downstream(scope, receive, send):
        seen.append(scope["query_string"])

    middleware = BandsReadOnce(downstream)
    for path, query in [("/x/statistics", b"bidx=1&max_size=64&bidx=1&bidx=2&bidx=1"),
                        ("/x/statistics", b"&".join([b"bidx=1"] * (limits.MAX_BANDS + 1))),  # refused later
                        ("/x/tiles/1/2/3.png", b"bidx=1&bidx=1")]:  # a tile of bands 1, 1 has two bands
        asyncio.run(middleware({"type": "http", "path": path, "query_string": query}, None, None))
    assert seen[0] == b"bidx=1&max_size=64&bidx=2" and seen[1:] == [b"&".join([b"bidx=1"] * (limits.MAX_BANDS + 1)),
                                                                      b"bidx=1&bidx=1"]
    for prefix in (SCORE_ITEM, LIGHTS_ITEM):
        once = httpx.get(f"{server}{prefix}/statistics?max_size=256&bidx=1", timeout=60)
        again = httpx.get(f"{server}{prefix}/statistics?max_size=256&" + "&".join(["bidx=1"] * limits.MAX_BANDS),
                          timeout=60)
        assert once.status_code == again.status_code == 200 and once.json() == again.json()


# ---- defect 4 and 10: bodies and URLs -------------------------------------------------------------

def _chunks(total: int):
    sent = 0
    while sent < total:
        yield b" " * 65536
        sent += 65536


@pytest.mark.parametrize("path", ["/stac/search", f"{LIGHTS_ITEM}/statistics", f"{SCORE_ITEM}/feature.png"])
def test_bodies_past_the_cap_are_413_before_they_are_read(server, path):
    """A 74 MB POST /stac/search peaked at 1.78 GB."""
    size = budget.MAX_BODY_BYTES + 1
    declared = httpx.post(f"{server}{path}", content=b" " * size, headers={"content-type": "application/json"},
                          timeout=30)
    chunked = httpx.post(f"{server}{path}", content=_chunks(size), headers={"content-type": "application/json"},
                         timeout=30)
    for r in (declared, chunked):
        assert r.status_code == 413 and "MAX_BODY_BYTES" in r.text, (r.status_code, r.text[:200])
        assert "\n" not in r.text.strip()


def _raw_get(base: str, target: str) -> bytes:
    host, port = urlsplit(base).hostname, urlsplit(base).port
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_oversized_url_is_414_not_a_reset(server):
    """A ~100 KB URL got a TCP reset."""
    answer = _raw_get(server, "/layers?q=" + "a" * 100_000)
    assert answer.startswith(b"HTTP/1.1 414") and b"MAX_URL_BYTES" in answer
    assert httpx.get(f"{server}/layers", timeout=10).status_code == 200


# ---- defect 6: CRS errors -------------------------------------------------------------------------

#: Engineering, vertical, compound, geocentric, 3D geographic and unknown: none is usable by a map route.
UNUSABLE_CRS = ["EPSG:5800", "EPSG:5703", "EPSG:7405", "EPSG:4978", "EPSG:4979"]


@pytest.mark.parametrize("crs", UNUSABLE_CRS)
def test_unusable_crs_is_400_on_every_crs_route(server, operations, crs):
    """EPSG:5800 answered 500 on 20 routes, EPSG:5703 on the point route."""
    tried = 0
    for method, template, op in operations:
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"} & {"crs", "coord_crs", "dst_crs"}
        for name in names:
            r = _send(server, method, _fill(template, PATH_VALUES), {name: crs, "max_size": 64})
            assert r.status_code == 400, (method, template, name, r.status_code, r.text[:200])
            assert crs.split(":")[1] in r.json()["detail"]
            tried += 1
    assert tried >= 20


# ---- what to build 1: the walk over the OpenAPI document ------------------------------------------

def test_the_limit_layer_wraps_the_whole_app(served_both):
    """Structural: request_limits is a dependency of the app itself (so of every router included, now or
    later), and RequestBudget is the outermost middleware (so /stac and /catalog are bounded too)."""
    from tiler_app.main import create_app

    app = create_app(served_both[1], tile_cache_mb=0)
    assert [d.dependency for d in app.router.dependencies] == [limits.request_limits]
    assert app.user_middleware[0].cls is budget.RequestBudget


def test_no_route_or_size_parameter_escapes_the_limits(server, operations):
    """Every operation refuses a repeated parameter, every size-bearing parameter past its limit and
    every path value outside its bounds with 400 naming it; a parameter nobody classified fails."""
    unclassified, escaped = [], []
    for method, template, op in operations:
        path = _fill(template, PATH_VALUES)
        r = _send(server, method, path, [("q", "1")] * (limits.MAX_REPEATS + 1))
        if not _refused(r, "repeated"):
            escaped.append(f"{method} {template}: repeats -> {r.status_code}")
        for param in op.get("parameters", []):
            name, where = param["name"], param["in"]
            if where == "path" and name in PATH_OVER_LIMIT:
                value, word = PATH_OVER_LIMIT[name]
                r = _send(server, method, _fill(template, {**PATH_VALUES, name: value}), {"max_size": 64})
            elif where == "query" and name in QUERY_OVER_LIMIT:
                value, word = QUERY_OVER_LIMIT[name]
                r = _send(server, method, path, {name: value})
            elif where == "query" and name not in HARMLESS:
                unclassified.append(f"{method} {template}: {name}")
                continue
            else:
                continue
            if not _refused(r, word):
                escaped.append(f"{method} {template}: {name}={value[:30]} -> {r.status_code} {r.text[:80]}")
    assert unclassified == [], "classify these parameters in QUERY_OVER_LIMIT (and tiler_app.limits) or HARMLESS"
    assert escaped == [], "\n".join(escaped)


def test_error_bodies_of_the_limit_layer_are_one_line_json(server):
    r = httpx.get(f"{server}{LIGHTS_ITEM}/tiles/WebMercatorQuad/10/10000000000000000000/421.png", timeout=10)
    assert "\n" not in r.text.strip() and set(json.loads(r.text)) == {"detail"}


def test_stac_error_codes_are_named_by_status(server):
    """STAC 404 and 405 answers said "code": "BadRequest"."""
    r = httpx.get(f"{server}/stac/collections/no-such-collection", timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    r = httpx.delete(f"{server}/stac/search", timeout=10)
    assert r.status_code == 405 and r.json()["code"] == "MethodNotAllowed"
    r = httpx.post(f"{server}/stac/search", content=b" " * (budget.MAX_BODY_BYTES + 1),
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413
