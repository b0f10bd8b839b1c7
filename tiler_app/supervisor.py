"""How `devscore serve` runs uvicorn: always under a supervisor process, so that a worker stuck for good
(a native call that holds the GIL answers no health check) is killed and replaced, SIGTERM stops the
server within STOP_SECONDS even with such a worker, and tile-cache folders of servers that were
killed (SIGKILL leaves them behind) are removed at the next start.

On Linux several workers each listen on a socket of their own, bound to the server's port with
SO_REUSEPORT, so the kernel spreads new connections over the workers (a worker being replaced is out
of the spread until it listens). With one socket shared by all (uvicorn's way) the first worker to wake
accepts every connection waiting: a browser's or QGIS's six keep-alive connections, or a load
balancer's, then all land on one worker while the others idle (``bench/bench_national.py`` measured 4
workers answering no more than 1).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from tiler_app.budget import MAX_HEADER_BYTES

log = logging.getLogger(__name__)

#: Prefix of the tile-cache folders `devscore serve` makes in the temporary directory.
CACHE_PREFIX = "devscore-tiles-"
#: File in a cache folder naming the process that owns it.
OWNER_FILE = "owner.pid"
#: Seconds a stopping server waits for requests in flight, then for its workers, before killing them.
STOP_SECONDS = 3
#: Seconds a worker may leave a health check unanswered before it is killed and replaced.
HEALTHCHECK_SECONDS = 5
#: A cache folder without an owner file is left alone for this long (it may be a server starting now).
UNOWNED_GRACE_SECONDS = 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_caches(tmp: str | None = None) -> list[Path]:
    """Remove the tile-cache folders in ``tmp`` (the temporary directory) whose owner process is gone;
    returns them."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{CACHE_PREFIX}*"):
        owner = folder / OWNER_FILE
        try:
            text = owner.read_text().strip()
            stale = not (text.isdigit() and _alive(int(text)))
        except FileNotFoundError:
            stale = time.time() - folder.stat().st_mtime > UNOWNED_GRACE_SECONDS
        except OSError:
            continue
        if stale and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def claim_cache(folder: Path) -> None:
    """Mark ``folder`` as owned by this process."""
    (folder / OWNER_FILE).write_text(str(os.getpid()))


class Supervisor(Multiprocess):
    """uvicorn's multiprocess supervisor whose stop is bounded: a worker that has not exited
    STOP_SECONDS after SIGTERM is killed."""

    def join_all(self) -> None:
        deadline = time.monotonic() + STOP_SECONDS + 1
        for process in self.processes:
            process.process.join(max(0.0, deadline - time.monotonic()))
            if process.process.exitcode is None:
                log.warning("worker %s did not stop in time: killed", process.pid)
                process.process.kill()
                process.process.join()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` with SO_REUSEPORT (not yet listening). Its protocol is named:
    asyncio sets TCP_NODELAY only on connections of sockets that say IPPROTO_TCP (without it Nagle's
    algorithm and delayed ACKs hold responses about 40 ms)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _free_port(host: str, port: int) -> int:
    """``port`` (a free one for 0) once checked that no server listens on it: SO_REUSEPORT alone would let a
    second server, this one again included, share the port with the first."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        return probe.getsockname()[1]


class OwnSocket:
    """Stands in a worker's socket list for a socket of its own: uvicorn hands the list to every worker
    it starts (first ones, replacements, SIGHUP and SIGTTIN ones) by pickling it, and this one unpickles
    as a new SO_REUSEPORT socket on the port, which the worker then listens on."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return _port_socket, (self.host, self.port)


def run_server(app: str, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve the ASGI app ``app`` (an import string) with ``workers`` processes under the Supervisor."""
    port = _free_port(host, port)
    config = uvicorn.Config(app, host=host, port=port, workers=workers, log_level=log_level, http="h11",
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                            timeout_graceful_shutdown=STOP_SECONDS, timeout_worker_healthcheck=HEALTHCHECK_SECONDS)
    if workers > 1 and sys.platform.startswith("linux"):
        log.info("listening on http://%s:%d, each of %d workers on a socket of its own", host, port, workers)
        Supervisor(config, sockets=[OwnSocket(host, port)]).run()
        return
    # one worker (whose replacement then finds the connections that arrived meanwhile waiting in the
    # supervisor's socket), or no SO_REUSEPORT that spreads connections: one socket for all
    shared = config.bind_socket()
    try:
        Supervisor(config, sockets=[shared]).run()
    finally:
        shared.close()
