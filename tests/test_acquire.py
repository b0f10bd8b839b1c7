"""Acquisition over real HTTP: pystac-client against the STAC API served from the synthetic source
catalog, blank shares read from COG overviews by range requests, retries on 503, clear errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from catalog.api.app import create_app
from publisher.errors import DevscoreError
from publisher.imagery.acquire import NoSceneError, blank_ratio, read_visual, search_scenes, select_scene
from publisher.imagery.synth import synthesize
from tests.conftest import free_port


class Flaky:
    """ASGI middleware: the first ``failures`` requests answer 503; counts bytes sent for /files."""

    def __init__(self, app, failures: int) -> None:
        self.app, self.failures, self.file_bytes = app, failures, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.failures > 0:
            self.failures -= 1
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        is_file = scope["type"] == "http" and scope["path"].startswith("/files/")

        async def counting_send(message):
            if is_file and message["type"] == "http.response.body":
                self.file_bytes += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting_send)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    out = tmp_path_factory.mktemp("acq") / "region"
    result = synthesize(out, tiles=("48RVU",), years=(2023,), scenes_per_year=4, size=1098, seed=5, progress=False)
    app = Flaky(create_app(out / "source"), failures=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app, result
    server.should_exit = True
    thread.join(timeout=10)


def _expected(result):
    items = [i for i in result.scenes if i.properties["eo:cloud_cover"] < 90]
    return min(items, key=lambda i: (round(i.properties["s2:nodata_pixel_percentage"] / 100, 3),
                                     i.properties["eo:cloud_cover"]))


def test_choice_over_http_reads_only_overviews(api):
    base, app, result = api
    items = search_scenes("48RVU", 2023, stac_api=base, max_cloud=90)
    assert sorted(i.id for i in items) == sorted(i.id for i in result.scenes if i.properties["eo:cloud_cover"] < 90)
    assert all(i.assets["visual"].href.startswith(f"{base}/files/") for i in items)
    app.file_bytes = 0
    best, ranked = select_scene(items, "48RVU", 2023)
    assert best.item.id == _expected(result).id
    for candidate in ranked:
        assert candidate.blank == pytest.approx(candidate.item.properties["s2:nodata_pixel_percentage"] / 100, abs=0.05)
    sizes = sum(int(httpx.head(i.assets["visual"].href).headers["content-length"]) for i in items)
    assert app.file_bytes < 0.5 * sizes, (app.file_bytes, sizes)  # headers and overviews, not the images
    rgb = read_visual(best)
    assert rgb.shape == (3, 1098, 1098) and rgb.any()


def test_search_retries_after_503(api):
    base, app, _ = api
    app.failures = 2
    assert search_scenes("48RVU", 2023, stac_api=base, max_cloud=90)
    assert app.failures == 0


def test_no_scene_is_a_clear_error(api):
    base, _, _ = api
    with pytest.raises(NoSceneError, match="no sentinel-2-l2a scene of tile 48RVU in 2019"):
        select_scene(search_scenes("48RVU", 2019, stac_api=base), "48RVU", 2019)
    with pytest.raises(NoSceneError):
        select_scene(search_scenes("48RVU", 2023, stac_api=base, max_cloud=0.0), "48RVU", 2023)


def test_cog_range_reads_retry_after_503(api):
    """GDAL's range reads of a scene ride out transient 503s (retries with backoff)."""
    base, app, result = api
    href = search_scenes("48RVU", 2023, stac_api=base, max_cloud=90)[0].assets["visual"].href
    href += "?fresh=1"  # a URL GDAL has not cached yet, as a signed Planetary Computer URL would be
    app.failures = 2
    blank = blank_ratio(href)
    assert app.failures == 0
    assert 0.0 <= blank <= 1.0


def test_cli_refuses_two_sources_and_bad_lists(tmp_path):
    exe = Path(sys.executable).parent / "devscore"
    both = subprocess.run([str(exe), "acquire", "--tile", "48RVU", "--year", "2023", "--stac-api", "http://127.0.0.1:9",
                           "--source-catalog", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and "not both" in both.stderr and "Traceback" not in both.stderr
    years = subprocess.run([str(exe), "chips", "--tile", "48RVU", "--year", "2023,20x3", "--source-catalog",
                            str(tmp_path), "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert years.returncode == 2 and "'20x3' is not a year or a range of years" in years.stderr
    assert "Traceback" not in years.stderr and not (tmp_path / "out").exists()


def test_an_unreachable_api_is_one_line_naming_it_and_the_alternatives():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/stac/v1"
    with pytest.raises(DevscoreError) as error:
        search_scenes("48RVU", 2023, stac_api=url)
    message = str(error.value)
    assert "\n" not in message and url in message and "nothing listens there" in message
    assert "--source-catalog" in message
