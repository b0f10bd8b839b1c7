"""The mosaic caches build each value once, however many threads ask for it at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tiler_app.memo import built_once


def test_concurrent_callers_of_one_key_share_one_build():
    builds: list[tuple] = []
    start = threading.Barrier(8)

    @built_once(maxsize=4)
    def index(key: str, version: int) -> tuple:
        builds.append((key, version))
        time.sleep(0.2)  # a build slow enough that every caller arrives during it
        return (key, version, len(builds))

    def ask(key: str) -> tuple:
        start.wait()
        return index(key, 1)

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(ask, ["a"] * 6 + ["b"] * 2))
    assert sorted(builds) == [("a", 1), ("b", 1)]
    assert len(set(values[:6])) == 1 and len(set(values[6:])) == 1
    assert index("a", 2)[1] == 2 and len(builds) == 3  # a new version is a new key
