"""The tile cache: a repeated tile comes from memory with the same bytes and its own CORS headers, a
publish that replaces the item is never answered with the old tile, and errors are not kept."""

from __future__ import annotations

import datetime as dt
import threading
import time

import httpx
import morecantile
import numpy as np
import pytest
import uvicorn

from catalog.ingest import publish_table
from publisher.scores import GranuleYear, scores_to_table
from tests.conftest import free_port
from tiler_app.main import create_app


def _publish(folder, value: float) -> None:
    scores = np.full((32, 32), value, dtype=np.float32)
    granule = GranuleYear("48RVU", 2023, dt.datetime(2023, 4, 1, tzinfo=dt.timezone.utc), None, scores)
    scores_to_table([granule]).to_csv(folder / "scores.csv", index=False)
    publish_table(folder / "scores.csv", folder / "catalog", device="cpu", progress=False)


@pytest.fixture
def cached_server(tmp_path):
    _publish(tmp_path, 0.1)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "catalog", tile_cache_mb=16, tile_cache_dir=str(tmp_path / "tiles")), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tmp_path
    server.should_exit = True
    thread.join(timeout=10)


def test_repeated_tiles_come_from_memory_until_a_publish(cached_server):
    base, folder = cached_server
    t = morecantile.tms.get("WebMercatorQuad").tile(104.07, 30.45, 11)
    url = f"{base}/collections/devscore-scores/years/2023/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
    first = httpx.get(url)
    second = httpx.get(url, headers={"Origin": "http://example.test"})
    assert (first.status_code, first.headers["x-devscore-cache"]) == (200, "miss")
    assert second.headers["x-devscore-cache"] == "hit" and second.content == first.content
    assert second.headers["access-control-allow-origin"] == "*"
    assert second.headers["content-type"] == "image/png"

    _publish(folder, 0.9)  # the same granule-year, now highly developed
    third = httpx.get(url)
    assert third.headers["x-devscore-cache"] == "miss" and third.content != first.content
    assert httpx.get(url).content == third.content


def test_errors_are_not_cached(cached_server):
    base, _ = cached_server
    url = f"{base}/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad/3/0/0.png"
    for _ in range(2):
        response = httpx.get(url)
        assert response.status_code == 404 and "x-devscore-cache" not in response.headers


def test_a_foreign_host_or_accept_cannot_poison_the_cache(cached_server):
    """Issue 20 defect 5: a request with ``Host: evil.example`` stored a document whose links pointed
    there and later clients got it (``x-devscore-cache: hit``); an ``Accept: text/html`` request stored
    HTML that JSON clients then received."""
    base, _ = cached_server
    url = f"{base}/collections/devscore-scores/items/48RVU-2023/tiles/WebMercatorQuad"
    evil = httpx.get(url, headers={"Host": "evil.example", "Accept": "application/json"})
    assert evil.status_code == 200 and "evil.example" in evil.text  # the document embeds the request's host
    honest = httpx.get(url, headers={"Accept": "application/json"})
    assert honest.status_code == 200 and "evil.example" not in honest.text
    assert base.split("//")[1] in honest.text
    html = httpx.get(url, headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    as_json = httpx.get(url, headers={"Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.headers["x-devscore-cache"] == "hit" and as_json.json() == honest.json()
