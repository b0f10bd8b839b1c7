"""Bounded work in a real `devscore serve` (issue 20): a request past its time budget answers 503 and the
server keeps answering, SIGTERM stops the server within seconds while a read is in flight, and the
tile-cache folders that SIGKILLed servers left in the temporary directory are removed at the next start
(those of live servers are kept); a worker stuck for good is replaced by the supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import free_port
from tiler_app.supervisor import CACHE_PREFIX, OWNER_FILE, STOP_SECONDS

ITEM = "/collections/devscore-scores/items/48RVU-2023"
#: A read that takes longer than the test's budget: the whole granule down to 2048 px.
SLOW = f"{ITEM}/statistics?max_size=2048"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _workers(pid: int) -> list[psutil.Process]:
    """The uvicorn worker processes under the supervisor ``pid`` (not multiprocessing's resource tracker)."""
    workers = []
    for p in psutil.Process(pid).children():
        try:  # a replaced worker may turn zombie between the listing and these reads
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                workers.append(p)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    return workers


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

        # a worker stuck for good (SIGSTOP: no Python runs, as in a native call holding the GIL) is replaced
        stuck = _workers(proc.pid)[0]
        stuck.send_signal(signal.SIGSTOP)
        for _ in range(600):
            if _workers(proc.pid) and stuck.pid not in [w.pid for w in _workers(proc.pid)]:
                break
            time.sleep(0.1)
        assert not psutil.pid_exists(stuck.pid) or stuck.status() == psutil.STATUS_ZOMBIE
        answers = [httpx.get(f"{base}/layers", timeout=60).status_code for _ in range(20)]
        assert 200 in answers  # the new worker serves (its cold first answers may pass the 0.2 s budget)

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
