"""Markers of multi-file catalog operations in progress, so that a kill between their files is never
taken for a consistent catalog.

An operation that changes several files of a catalog (night-light ingest: score items, night-light
items and the report; a score publish that recomputes ``devscore:viirs``; a comparison) writes
``.pending-<operation>.json`` before its first change and removes it after its last. A kill leaves the
marker: `devscore validate` reports it (naming the command to run again), and the next run of that
operation, which finishes an interrupted one, removes it. Hidden files: the server never serves them.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

from publisher.atomic import atomic_write_text

MARKER_PREFIX = ".pending-"


def _marker(catalog_dir: str | Path, operation: str) -> Path:
    return Path(catalog_dir) / f"{MARKER_PREFIX}{operation}.json"


@contextlib.contextmanager
def pending(catalog_dir: str | Path, operation: str, command: str) -> Iterator[None]:
    """Mark ``operation`` (re-run with ``command``) as in progress in ``catalog_dir`` until the block
    ends without an exception. Call it holding ``catalog_lock``."""
    marker = _marker(catalog_dir, operation)
    atomic_write_text(marker, json.dumps({"operation": operation, "command": command, "pid": os.getpid()}))
    yield
    marker.unlink(missing_ok=True)


def interrupted(catalog_dir: str | Path) -> list[tuple[str, str]]:
    """(operation, command to run again) of every operation a kill left unfinished in ``catalog_dir``."""
    found = []
    for marker in sorted(Path(catalog_dir).glob(f"{MARKER_PREFIX}*.json")):
        try:
            doc = json.loads(marker.read_text(encoding="utf-8"))
            found.append((str(doc["operation"]), str(doc["command"])))
        except (OSError, ValueError, KeyError, TypeError):
            found.append((marker.name[len(MARKER_PREFIX):-5], "the command that was killed"))
    return found
