"""How `devscore serve` runs uvicorn: always under a supervisor process, so that a worker stuck for good
(a native call that holds the GIL answers no health check) is killed and replaced, SIGTERM stops the
server within STOP_SECONDS even with such a worker, and tile-cache folders of servers that were
killed (SIGKILL leaves them behind) are removed at the next start.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

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


def run_server(app: str, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve the ASGI app ``app`` (an import string) with ``workers`` processes under the Supervisor."""
    config = uvicorn.Config(app, host=host, port=port, workers=workers, log_level=log_level, http="h11",
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                            timeout_graceful_shutdown=STOP_SECONDS, timeout_worker_healthcheck=HEALTHCHECK_SECONDS)
    socket = config.bind_socket()
    try:
        Supervisor(config, sockets=[socket]).run()
    finally:
        socket.close()
