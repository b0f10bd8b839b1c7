"""The tile server as clients use it: a real `devscore serve` on 127.0.0.1, httpx and GDAL as clients."""

from __future__ import annotations

import io

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rio_tiler.colormap import cmap


CHENGDU = (104.07, 30.45)  # in 48RVU, south of its two unscored chip rows


@pytest.fixture(scope="module")
def server(served_catalog) -> str:
    """Base URL of the real server over the shared test catalog."""
    return served_catalog[0]


def _tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return t.z, t.x, t.y


def test_layers_lists_years_with_urls(server):
    layers = httpx.get(f"{server}/layers").json()["layers"]
    assert [(l["year"], l["items"]) for l in layers] == [(2022, ["48RVU-2022"]),
                                                         (2023, ["01KAB-2023", "48RUU-2023", "48RVU-2023"])]
    assert layers[1]["xyz"].endswith("/collections/devscore-scores/years/2023/tiles/WebMercatorQuad/{z}/{x}/{y}.png")


def test_bare_tile_uses_render_defaults_and_transparent_nodata(server):
    z, x, y = _tile_at(*CHENGDU, 12)
    item = f"{server}/collections/devscore-scores/items/48RVU-2023"
    r = httpx.get(f"{item}/tiles/WebMercatorQuad/{z}/{x}/{y}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    value = httpx.get(f"{item}/point/{CHENGDU[0]},{CHENGDU[1]}").json()["values"][0]
    expected = cmap.get("rdylgn_r")[int(round(value * 255))][:3]
    tms = morecantile.tms.get("WebMercatorQuad")
    bounds, (mx, my) = tms.xy_bounds(morecantile.Tile(x, y, z)), tms.xy(*CHENGDU)
    col = int((mx - bounds.left) / (bounds.right - bounds.left) * 256)
    row = int((bounds.top - my) / (bounds.top - bounds.bottom) * 256)
    pixel = rgba[row, col]
    assert pixel[3] == 255 and np.abs(pixel[:3].astype(int) - expected).max() <= 3
    recoloured = httpx.get(f"{item}/tiles/WebMercatorQuad/{z}/{x}/{y}.png?colormap_name=viridis")
    assert recoloured.status_code == 200 and recoloured.content != r.content
    # the unscored north edge of the granule is transparent
    z, x, y = _tile_at(104.5, 30.72, 12)
    north = np.asarray(Image.open(io.BytesIO(httpx.get(f"{item}/tiles/WebMercatorQuad/{z}/{x}/{y}.png").content)).convert("RGBA"))
    assert (north[..., 3] == 0).any()


def test_year_mosaic_tilejson_wmts_and_webp(server):
    year = f"{server}/collections/devscore-scores/years/2023"
    tilejson = httpx.get(f"{year}/WebMercatorQuad/tilejson.json?tilesize=256").json()
    assert tilejson["tiles"][0].startswith(f"{year}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}")
    assert "tilesize=256" in tilejson["tiles"][0]
    west, south, east, north = tilejson["bounds"]
    assert west < 103.9 and east > 105.0  # both granules
    wmts = httpx.get(f"{year}/WMTSCapabilities.xml")
    assert wmts.status_code == 200 and "WebMercatorQuad" in wmts.text
    z, x, y = _tile_at(103.5, 30.3, 10)  # 48RUU, west of 48RVU
    webp = httpx.get(f"{year}/tiles/WebMercatorQuad/{z}/{x}/{y}.webp")
    assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
    point = httpx.get(f"{year}/point/{CHENGDU[0]},{CHENGDU[1]}").json()
    assert [a["name"] for a in point["assets"]] == ["devscore-scores/48RVU-2023"]  # ids, never file paths


def test_statistics_and_preview(server):
    item = f"{server}/collections/devscore-scores/items/48RVU-2023"
    stats = httpx.get(f"{item}/statistics?max_size=512").json()["b1"]
    assert 0.0 <= stats["min"] <= stats["max"] <= 1.0
    bbox = "104.0,30.2,104.3,30.5"
    part = httpx.get(f"{item}/bbox/{bbox}.png?max_size=1024")  # native 10 m would pass MAX_IMAGE_PIXELS
    assert part.status_code == 200
    preview = httpx.get(f"{item}/preview.png?max_size=256")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"


BAD_REQUESTS = [
    "/collections/devscore-scores/items/NOPE/tiles/WebMercatorQuad/12/3280/1702.png",
    "/collections/nope/items/48RVU-2023/info",
    "/collections/devscore-scores/years/1999/tiles/WebMercatorQuad/12/3280/1702.png",
    "/collections/devscore-scores/years/abcd/tiles/WebMercatorQuad/12/3280/1702.png",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/3/0/0.png",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/12/-1/5.png",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/40/1/1.png",
    "/collections/devscore-scores/items/48RVU-2023/tiles/NoSuchTMS/12/3280/1702.png",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/12/3280/1702.gif",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/12/3280/1702.png?rescale=abc",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/12/3280/1702.png?colormap_name=nope",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/12/3280/1702.png?colormap={bad",
    "/collections/devscore-scores/items/48RVU-2023/point/500,95",
    "/collections/devscore-scores/items/48RVU-2023/point/abc,def",
    "/collections/devscore-scores/items/48RVU-2023/bbox/1,2,3.png",
    "/collections/devscore-scores/items/48RVU-2023/bbox/10,10,0,0.png",
    "/collections/devscore-scores/items/..%2F..%2F..%2Fetc%2Fpasswd/info",
    "/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/12/3280/1702.png?bidx=7",
    "/collections/devscore-scores/years/2023/point/200,10",
    "/catalog/../../../../etc/passwd",
    "/catalog/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.mark.parametrize("path", BAD_REQUESTS)
def test_bad_requests_are_4xx_with_a_message(server, path):
    r = httpx.get(f"{server}{path}")
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if r.headers.get("content-type", "").startswith("application/json"):
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "Traceback" not in detail and "/tmp/" not in detail


def test_url_parameter_cannot_open_other_files(server):
    r = httpx.get(f"{server}/collections/devscore-scores/items/48RVU-2023/info?url=/etc/passwd")
    assert r.status_code == 200 and r.json()["crs"].endswith("32648")  # the item's COG, url= ignored


def test_gdal_reads_the_wmts_service(server):
    url = (f"WMTS:{server}/collections/devscore-scores/years/2023/WMTSCapabilities.xml,"
           "layer=devscore-scores-2023_WebMercatorQuad_default")
    with rasterio.Env(GDAL_HTTP_TIMEOUT=30):
        with rasterio.open(url) as ds:
            assert ds.count == 4 and ds.crs.to_epsg() == 3857
            # read the area around Chengdu at a coarse overview: real pixels through GDAL's tile client
            from rasterio.warp import transform_bounds
            from rasterio.windows import from_bounds

            left, bottom, right, top = transform_bounds("EPSG:4326", ds.crs, 103.95, 30.0, 104.6, 30.6)
            window = from_bounds(left, bottom, right, top, ds.transform)
            data = ds.read(window=window, out_shape=(4, 64, 64))
    assert data.shape == (4, 64, 64)
    assert (data[3] == 255).mean() > 0.9  # opaque where the granules are scored
    palette = np.array([cmap.get("rdylgn_r")[i][:3] for i in range(256)], dtype=int)
    pixels = data[:3].reshape(3, -1).T.astype(int)
    distance = np.abs(pixels[:, None, :] - palette[None, :, :]).max(axis=2).min(axis=1)
    assert np.median(distance) <= 3  # colours come from the RdYlGn_r ramp


def _api_routes(router):
    """The routes of ``router`` and of the routers included in it, at any depth."""
    for route in router.routes:
        if hasattr(route, "dependant"):
            yield route
        for child in (getattr(route, "original_router", None), getattr(route, "router", None)):
            if child is not None:
                yield from _api_routes(child)


def _sync_dependencies(route) -> set[str]:
    """Names of the route's dependencies FastAPI would run on the thread pool (not coroutines)."""
    import inspect

    names, stack = set(), list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        stack.extend(dependant.dependencies)
        call = dependant.call
        if not (inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(call, "__call__", None))):
            names.add(getattr(call, "__name__", repr(call)))
    return names


def test_tile_routes_read_their_parameters_in_the_event_loop(served_catalog, server):
    """Of a tile route's dependencies only the catalog look-ups run on the thread pool (each sync one is
    a hop there); TiTiler's parameter dependencies have async twins that take the same parameters,
    refuse the same values and give the same tiles."""
    from tiler_app.main import create_app

    app = create_app(served_catalog[1], tile_cache_mb=0)
    tile_routes = [_sync_dependencies(route) for route in _api_routes(app.router)
                   if route.path == "/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}"]
    items = [names for names in tile_routes if "item_score_path" in names]
    years = [names for names in tile_routes if "year_mosaic_id" in names]
    assert len(items) == len(years) == 1
    assert items[0] <= {"item_score_path", "item_render", "score_item"}, items[0]
    assert years[0] <= {"year_mosaic_id", "collection_render"}, years[0]
    z, x, y = _tile_at(*CHENGDU, 10)
    year = f"{server}/collections/devscore-scores/years/2023/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
    plain = httpx.get(year)
    same = httpx.get(f"{year}?pixel_selection=first&bidx=1&rescale=0,1&colormap_name=rdylgn_r")
    assert plain.status_code == same.status_code == 200 and same.content == plain.content
    assert httpx.get(f"{year}?colormap_name=viridis").content != plain.content
    for bad in ("pixel_selection=best", "buffer=0", "algorithm=nothing", "bidx=x", "rescale=a,b", "colormap_name=none_such"):
        r = httpx.get(f"{year}?{bad}")
        assert 400 <= r.status_code < 500, (bad, r.status_code)
