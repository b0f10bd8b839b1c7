"""The server as an attacker and a careless client use it (issue 8): CRS parameters that would make GDAL
fetch URLs or read files, requests past the cost limits, malformed input that once answered 500,
error bodies, HEAD, hidden catalog files and the tile-cache folder. A real `devscore serve` on
127.0.0.1, and a canary HTTP server beside it that no request may reach."""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import morecantile
import pytest

from tests.conftest import free_port
from tiler_app import limits

ITEM = "/collections/devscore-scores/items/48RVU-2023"
YEAR = "/collections/devscore-scores/years/2023"
_T = morecantile.tms.get("WebMercatorQuad").tile(104.07, 30.45, 12)
TILE = f"{ITEM}/tiles/WebMercatorQuad/{_T.z}/{_T.x}/{_T.y}.png"
FEATURE = {"type": "Feature", "properties": {},
           "geometry": {"type": "Polygon", "coordinates": [[[104.0, 30.3], [104.1, 30.3], [104.1, 30.4],
                                                            [104.0, 30.4], [104.0, 30.3]]]}}
WKT84 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
         'UNIT["degree",0.0174532925199433]]')


@pytest.fixture(scope="module")
def server(served_catalog) -> str:
    return served_catalog[0]


@pytest.fixture(scope="module")
def canary():
    """An HTTP server on 127.0.0.1 that answers a valid WKT CRS and records every request it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = WKT84.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    srv.shutdown()


def _crs_operations(server: str) -> list[tuple[str, str, str]]:
    """(method, path, parameter) of every operation of the real server that takes a CRS parameter."""
    schema = httpx.get(f"{server}/openapi.json").json()
    values = {"collection_id": "devscore-scores", "item_id": "48RVU-2023", "year": "2023",
              "tileMatrixSetId": "WebMercatorQuad", "z": str(_T.z), "x": str(_T.x), "y": str(_T.y),
              "format": "png", "lon": "104.07", "lat": "30.45", "minx": "104.0", "miny": "30.3",
              "maxx": "104.1", "maxy": "30.4", "width": "64", "height": "64", "pair": "2022-2023"}
    found = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                if param["in"] == "query" and "crs" in param["name"]:
                    found.append((method.upper(), path.format(**values), param["name"]))
    return found


def test_crs_parameters_never_reach_a_url_or_a_file(server, canary, tmp_path):
    url, hits = canary
    wkt_file = tmp_path / "crs.wkt"
    wkt_file.write_text(WKT84)
    hostile = [f"{url}/crs.wkt", f"/vsicurl/{url}/crs.wkt", f"/vsicurl/{server}/catalog/catalog.json",
               str(wkt_file), f"file://{wkt_file}", WKT84, "+proj=longlat +datum=WGS84", f"[{url}/x]", "EPSG:4326x"]
    operations = _crs_operations(server)
    names = {name for _, _, name in operations}
    assert {"crs", "coord_crs", "dst_crs"} <= names and len(operations) >= 12
    # the served catalog has no night lights, no change items and no uncertainty asset: their routes answer 404
    # before any parameter is read (they share the same CRS dependencies, built into every route)
    skipped = ("/nightlights/", "/change/", "/uncertainty/")
    for method, path, name in [op for op in operations if not op[1].startswith(skipped)]:
        for value in hostile:
            sized = {"max_size": 64} if method == "POST" else {}  # within the cost limits: the CRS is the fault
            r = httpx.request(method, f"{server}{path}", params={name: value, **sized},
                              json=FEATURE if method == "POST" else None, timeout=30)
            assert r.status_code == 400, (method, path, name, value, r.status_code, r.text[:200])
            assert "EPSG" in r.json()["detail"] and "\n" not in r.text
    assert hits == []


@pytest.mark.parametrize("value", ["EPSG:4326", "4326", "epsg:4326", "urn:ogc:def:crs:EPSG::4326",
                                   "http://www.opengis.net/def/crs/EPSG/0/4326", "OGC:CRS84"])
def test_epsg_and_ogc_crs_forms_are_accepted(server, value):
    r = httpx.get(f"{server}{ITEM}/point/104.07,30.45", params={"coord_crs": value})
    assert r.status_code == 200 and 0 <= r.json()["values"][0] <= 1


def test_utm_coordinates_with_coord_crs(server):
    r = httpx.get(f"{server}{ITEM}/bbox/440000,3340000,450000,3350000/64x64.png", params={"coord_crs": "EPSG:32648"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def test_unknown_epsg_code_is_400(server):
    r = httpx.get(f"{server}{ITEM}/point/104.07,30.45", params={"coord_crs": "EPSG:99999"})
    assert r.status_code == 400 and "99999" in r.json()["detail"]


def test_server_answers_while_expensive_requests_run(server):
    """The costliest allowed reads run in the threadpool: the event loop still answers /layers meanwhile."""
    slow = f"{server}{ITEM}/bbox/103.9,29.7,105.1,30.8.tif?max_size={limits.MAX_IMAGE_SIDE}"
    done: list[int] = []

    def fetch():
        done.append(httpx.get(slow, timeout=120).status_code)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    answered = httpx.get(f"{server}/layers", timeout=120)
    still_running = any(thread.is_alive() for thread in threads)
    for thread in threads:
        thread.join()
    assert answered.status_code == 200 and still_running
    assert done == [200, 200, 200]


OVER_LIMITS = [
    (f"{TILE}?tilesize=16384", str(limits.MAX_TILESIZE)),
    (f"{TILE}?tilesize=65536", str(limits.MAX_TILESIZE)),
    (f"{TILE}?buffer=5000", str(limits.MAX_TILE_BUFFER)),
    (f"{ITEM}/tiles/WebMercatorQuad/{limits.MAX_ZOOM['WebMercatorQuad'] + 1}/0/0.png", "max zoom"),
    (f"{YEAR}/tiles/WebMercatorQuad/{limits.MAX_ZOOM['WebMercatorQuad'] + 1}/0/0.png", "max zoom"),
    (f"{ITEM}/tiles/WGS1984Quad/{limits.MAX_ZOOM['WGS1984Quad'] + 1}/0/0.png", "max zoom"),
    (f"{ITEM}/WebMercatorQuad/tilejson.json?maxzoom=30", "max zoom"),
    (f"{ITEM}/WMTSCapabilities.xml?zooms=WebMercatorQuad::0,30", "max zoom"),
    (f"{ITEM}/statistics?max_size=0", str(limits.MAX_IMAGE_SIDE)),
    (f"{ITEM}/statistics?max_size=20000", str(limits.MAX_IMAGE_SIDE)),
    (f"{ITEM}/statistics?histogram_bins=100000000", str(limits.MAX_HISTOGRAM_BINS)),
    (f"{ITEM}/preview/10980x10980.png", str(limits.MAX_IMAGE_SIDE)),
    (f"{ITEM}/preview.png?max_size=10980", str(limits.MAX_IMAGE_SIDE)),
    (f"{ITEM}/preview.png?width=10980&height=10980", str(limits.MAX_IMAGE_SIDE)),
    (f"{ITEM}/bbox/0,0,1,1.png", str(limits.MAX_IMAGE_PIXELS)),
    (f"{ITEM}/bbox/103.9,29.7,105.1,30.8.tif", str(limits.MAX_IMAGE_PIXELS)),
    (f"{ITEM}/bbox/104,30.2,104.3,30.5/8192x8192.png", str(limits.MAX_IMAGE_SIDE)),
    (f"{TILE}?expression=" + "+".join(["b1"] * 3000), str(limits.MAX_EXPRESSION_CHARS)),
    (f"{TILE}?expression=" + "+".join(["1"] * 100), str(limits.MAX_EXPRESSION_TERMS)),
]


@pytest.mark.parametrize("path,limit", OVER_LIMITS)
def test_requests_past_a_limit_are_400_naming_it(server, path, limit):
    r = httpx.get(f"{server}{path}", timeout=60)
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert limit in r.json()["detail"]


def test_feature_bodies_are_bounded(server):
    big = {**FEATURE, "geometry": {"type": "Polygon", "coordinates": [[[103.9, 29.7], [105.1, 29.7], [105.1, 30.8],
                                                                     [103.9, 30.8], [103.9, 29.7]]]}}
    r = httpx.post(f"{server}{ITEM}/feature.png", json=big, timeout=60)
    assert r.status_code == 400 and str(limits.MAX_IMAGE_PIXELS) in r.json()["detail"]
    # statistics rasterize coverage at cover_scale x the read: 16 features at 2048 px took 40 s and 930 MB
    for body, params in ((big, {}), (FEATURE, {}), (FEATURE, {"max_size": 2048}), (FEATURE, {"cover_scale": 100})):
        r = httpx.post(f"{server}{ITEM}/statistics", json=body, params=params, timeout=60)
        assert r.status_code == 400 and str(limits.MAX_COVERAGE_SIDE) in r.json()["detail"], (params, r.text)
    many = {"type": "FeatureCollection", "features": [FEATURE] * (limits.MAX_FEATURES + 1)}
    r = httpx.post(f"{server}{ITEM}/statistics", json=many, params={"max_size": 256}, timeout=60)
    assert r.status_code == 400 and str(limits.MAX_FEATURES) in r.json()["detail"]
    r = httpx.post(f"{server}{ITEM}/statistics", json=FEATURE, params={"max_size": 256}, timeout=60)
    assert r.status_code == 200 and 0 <= r.json()["properties"]["statistics"]["b1"]["mean"] <= 1
    assert httpx.post(f"{server}{ITEM}/feature.png", json=FEATURE, params={"max_size": 256}, timeout=60).status_code == 200


def test_requests_at_the_limits_are_served(server):
    assert httpx.get(f"{server}{TILE}?tilesize={limits.MAX_TILESIZE}", timeout=60).status_code == 200
    assert httpx.get(f"{server}{ITEM}/statistics?max_size=512&histogram_bins=100", timeout=60).status_code == 200
    assert httpx.get(f"{server}{ITEM}/bbox/104.0,30.3,104.1,30.4.png", timeout=60).status_code == 200  # ~1e8 m2
    assert httpx.get(f"{server}{TILE}?expression=b1*2", timeout=60).status_code == 200


def _token(offset: str) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


#: The 29 requests of issue 8 item 4 that answered 500 (method, path, body or None, content type).
MALFORMED = [
    ("GET", f"{ITEM}/tiles/WebMercatorQuad/-1/0/0.png", None, None),
    ("GET", f"{ITEM}/tiles/WebMercatorQuad/99999999999/0/0.png", None, None),
    ("GET", f"{YEAR}/tiles/WebMercatorQuad/-1/0/0.png", None, None),
    ("GET", f"{YEAR}/tiles/WebMercatorQuad/1000/0/0.png", None, None),
    ("GET", f"{TILE}?colormap=[[1,2]]", None, None),
    ("GET", f"{TILE}?colormap=[[1,[2,3]]]", None, None),
    ("GET", f"{TILE}?expression=" + "+".join(["b1"] * 3000), None, None),
    ("GET", f"/stac/search?token={_token('9' * 30)}", None, None),
    ("GET", f"/stac/search?token={_token('9' * 5000)}", None, None),
    ("GET", f"/stac/collections/devscore-scores/items?token={_token('9' * 30)}", None, None),
    ("GET", '/stac/search?intersects={"type":"Point"}', None, None),
    ("GET", '/stac/search?intersects={"type":"Polygon","coordinates":[[[0,0],[1,1]]]}', None, None),
    ("GET", '/stac/search?intersects={"type":"Blob","coordinates":[0,0]}', None, None),
    ("GET", '/stac/search?intersects={"type":"Point","coordinates":["a","b"]}', None, None),
    ("GET", "/stac/search?intersects=[1,2]", None, None),
    ("GET", "/stac/search?query=[1]", None, None),
    ("GET", '/stac/search?query={"x":{"eq":100000000000000000000000}}', None, None),
    ("GET", '/stac/search?query={"x":{"eq":' + "9" * 5000 + "}}", None, None),
    ("GET", '/stac/search?query={"x":{"in":[[1],{"a":1}]}}', None, None),
    ("POST", "/stac/search", "null", "application/json"),
    ("POST", "/stac/search", "[]", "application/json"),
    ("POST", "/stac/search", "123", "application/json"),
    ("POST", "/stac/search", '"str"', "application/json"),
    ("POST", "/stac/search", '{"limit":1e400}', "application/json"),
    ("POST", "/stac/search", '{"limit":1}', "text/plain"),
    ("POST", "/stac/search", '{"query":{"x":{"eq":1e400}}}', "application/json"),
    ("POST", "/stac/search", '{"token":"' + _token("9" * 30) + '"}', "application/json"),
    ("POST", "/stac/search", '{"intersects":{"type":"Polygon","coordinates":[[[0,0],[1,1]]]}}', "application/json"),
    ("POST", "/stac/search", '{"limit":"abc","bbox":"x"}', "application/json"),
]


@pytest.mark.parametrize("method,path,body,content_type", MALFORMED)
def test_malformed_input_is_4xx_with_one_line(server, method, path, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r = httpx.request(method, f"{server}{path}", content=body, headers=headers, timeout=60)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    _assert_clean_error(r)


def _assert_clean_error(r: httpx.Response, catalog: Path | None = None) -> None:
    """One-line JSON error: no traceback, no absolute path, short."""
    assert "\n" not in r.text.strip() and "Traceback" not in r.text and len(r.text) < 500, r.text[:500]
    payload = r.json()
    message = payload.get("detail") or payload.get("description")
    assert isinstance(message, str) and message
    assert "/tmp/" not in message and "/work/" not in message and "site-packages" not in message
    if catalog is not None:
        assert str(catalog) not in message


def test_error_bodies_are_short_one_line_and_pathless(server, served_catalog):
    long_id = "x" * 190
    r = httpx.get(f"{server}/collections/devscore-scores/items/{long_id}/info")
    assert r.status_code == 404 and long_id not in r.text
    _assert_clean_error(r, served_catalog[1])
    r = httpx.get(f"{server}/stac/collections/devscore-scores/items/{long_id}")
    assert r.status_code == 404 and long_id not in r.text
    # several validation errors at once (stac-fastapi's own answer was the multi-line pydantic report)
    r = httpx.post(f"{server}/stac/search", json={"limit": "abc", "bbox": "x", "datetime": 5})
    assert 400 <= r.status_code < 500
    _assert_clean_error(r)
    for path in (f"{TILE}?bidx=7", f"{TILE}?expression=b2", f"{ITEM}/point/179,0", f"{TILE}?colormap=[[1,2]]"):
        r = httpx.get(f"{server}{path}")
        assert 400 <= r.status_code < 500, (path, r.status_code)
        _assert_clean_error(r, served_catalog[1])
        assert "object is not iterable" not in r.text and "out of range (not in" not in r.text


@pytest.mark.parametrize("path", ["/layers", f"{ITEM}/info", TILE, "/stac/", "/catalog/catalog.json", "/config.json"])
def test_head_answers_like_get_without_a_body(server, path):
    get, head = httpx.get(f"{server}{path}"), httpx.head(f"{server}{path}")
    assert get.status_code == head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_hidden_catalog_files_are_not_served(server, served_catalog):
    catalog = served_catalog[1]
    hidden = catalog / ".staging" / "abc" / "item.json"
    hidden.parent.mkdir(parents=True, exist_ok=True)
    hidden.write_text("{}")
    (catalog / ".lock").touch()
    try:
        for path in ("/catalog/.lock", "/catalog/.staging/abc/item.json", "/catalog/%2elock",
                     "/catalog/devscore-scores/../.lock"):
            assert httpx.get(f"{server}{path}").status_code == 404, path
        assert httpx.get(f"{server}/catalog/catalog.json").status_code == 200
    finally:
        hidden.unlink()


def test_tile_cache_folder_is_removed_when_the_server_stops(served_catalog, tmp_path):
    port = free_port()
    exe = Path(sys.executable).parent / "devscore"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([str(exe), "serve", "--catalog", str(served_catalog[1]), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}{TILE}", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert list(tmp_path.glob("devscore-tiles-*"))  # the cache lives there while serving
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert list(tmp_path.glob("devscore-tiles-*")) == []


def test_url_parameters_do_not_select_files(server):
    """TiTiler's url= is not a parameter here; GDAL paths in ids are unknown ids."""
    for path in (f"{ITEM}/info?url=/etc/passwd", "/collections/devscore-scores/items/%2Fetc%2Fpasswd/info",
                 "/collections/devscore-scores/items/%2Fvsicurl%2Fhttp:%2F%2F127.0.0.1:1%2Fx/info"):
        r = httpx.get(f"{server}{path}")
        assert r.status_code in (200, 404) and "root:" not in r.text
        if r.status_code == 200:
            assert json.loads(r.text)["crs"].endswith("32648")


def _dependency_calls(node, seen: set[int]):
    """Every dependency callable of every route under ``node`` (routers, included routers, mounted apps)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    stack = [getattr(node, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is not None:
            yield dependant.call
            stack.extend(dependant.dependencies)
    for child in [*getattr(node, "routes", []), getattr(node, "original_router", None), getattr(node, "router", None),
                  getattr(node, "app", None)]:
        if child is not None:
            yield from _dependency_calls(child, seen)


def test_no_route_keeps_titilers_crs_or_zoom_dependencies(served_catalog):
    """The strict CRS parsers and the advertised zooms are built into every route (no per-request
    ``dependency_overrides``, which make FastAPI rebuild every dependency of every request)."""
    from titiler.core.dependencies import CoordCRSParams, CRSParams, DstCRSParams, ZoomsParams

    from tiler_app.limits import advertised_zooms
    from tiler_app.main import create_app
    from tiler_app.security import CRS_OVERRIDES

    app = create_app(served_catalog[1], tile_cache_mb=0)
    calls = list(_dependency_calls(app, set()))
    assert not app.dependency_overrides
    assert not {CoordCRSParams, CRSParams, DstCRSParams, ZoomsParams} & set(calls)
    assert set(CRS_OVERRIDES.values()) <= set(calls) and advertised_zooms in calls
    assert CoordCRSParams.__module__ == "titiler.core.dependencies"  # TiTiler's modules are left as they were
    import titiler.core.factory

    assert titiler.core.factory.CRSParams is CRSParams
