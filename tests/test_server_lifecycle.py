"""Bounded work in a real `devscore serve` (issue 20): a request past its time budget answers 503 and the
server keeps answering, SIGTERM stops the server within seconds while a read is in flight, and the
tile-cache folders that SIGKILLed servers left in the temporary directory are removed at the next start
(those of live servers are kept)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tiler_app.supervisor import CACHE_PREFIX, OWNER_FILE, STOP_SECONDS

ITEM = "/collections/devscore-scores/items/48RVU-2023"
#: A read that takes longer than the test's budget: the whole granule down to 2048 px.
SLOW = f"{ITEM}/statistics?max_size=2048"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_budget_stale_caches_and_sigterm(served_catalog, tmp_path):
    catalog = served_catalog[1]
    dead, alive = tmp_path / f"{CACHE_PREFIX}dead", tmp_path / f"{CACHE_PREFIX}alive"
    for folder, pid in ((dead, _dead_pid()), (alive, os.getpid())):
        folder.mkdir()
        (folder / OWNER_FILE).write_text(str(pid))
        (folder / "cache.db").write_bytes(b"x" * 1000)
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path), DEVSCORE_REQUEST_SECONDS="0.2")
    exe = Path(sys.executable).parent / "devscore"
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([str(exe), "serve", "--catalog", str(catalog), "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/layers", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert not dead.exists() and alive.exists()  # the dead server's cache went, the live one's stayed

        r = httpx.get(f"{base}{SLOW}", timeout=60)
        assert r.status_code == 503 and "budget" in r.json()["detail"] and "\n" not in r.text.strip()
        assert httpx.get(f"{base}/layers", timeout=10).status_code == 200

        in_flight = threading.Thread(target=lambda: httpx.get(f"{base}{SLOW}&histogram_bins=11", timeout=60))
        in_flight.start()
        time.sleep(0.1)
        proc.terminate()
        proc.wait(timeout=STOP_SECONDS + 10)  # within seconds, not when the read is done
        in_flight.join()
        assert [p.name for p in tmp_path.glob(f"{CACHE_PREFIX}*")] == [alive.name]  # its own cache went too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
