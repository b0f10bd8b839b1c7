"""What a `devscore run` has done, so a re-run skips the stages whose inputs did not change.

Each stage records a key (a hash of everything its outputs depend on: the content hashes of its
inputs) and its outputs' SHA-256 in ``OUT/run-state.json`` once it has finished; a stage is fresh
when its key matches and its outputs are still there unchanged. Outputs inside OUT are recorded
relative to it, so a copied or moved run folder checks its own files (a replaced ``scores.parquet``
is re-scored, a deleted ``model/`` re-trained), never the original's. A stage interrupted half-way
recorded nothing, so it runs again (and training resumes from its last checkpoint).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.atomic import atomic_write_text


def stage_key(*parts: Any) -> str:
    """A stable hash of JSON-serialisable ``parts`` (paths as strings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class RunState:
    """The ``run-state.json`` of one output folder."""

    path: Path

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    @property
    def folder(self) -> Path:
        """The run folder the state belongs to."""
        return self.path.parent.resolve()

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the run folder when inside it (POSIX), else absolute."""
        resolved = Path(path).resolve()
        return resolved.relative_to(self.folder).as_posix() if resolved.is_relative_to(self.folder) else str(resolved)

    def fresh(self, stage: str, key: str) -> bool:
        """Whether ``stage`` last finished with ``key`` and its outputs are unchanged since."""
        record = self._load().get(stage)
        if not record or record.get("key") != key:
            return False
        for output, sha in record.get("outputs", {}).items():
            path = self.folder / output  # an absolute output stays absolute
            if not path.exists() or (sha and path.is_file() and file_sha256(path) != sha):
                return False
        return True

    def record(self, stage: str, key: str, seconds: float, outputs: list[Path], hash_files: bool = True) -> None:
        """Mark ``stage`` finished with ``key``; ``outputs`` are checked before it is skipped next time."""
        state = self._load()
        state[stage] = {"key": key, "seconds": round(seconds, 3),
                        "outputs": {self.relative(p): (file_sha256(p) if hash_files and Path(p).is_file() else "")
                                    for p in outputs}}
        atomic_write_text(self.path, json.dumps(state, indent=2))

    def forget(self, stage: str) -> None:
        """Drop ``stage``'s record (its outputs are about to change)."""
        state = self._load()
        if state.pop(stage, None) is not None:
            atomic_write_text(self.path, json.dumps(state, indent=2))
