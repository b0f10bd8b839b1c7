"""On-disk cache of VLM answers, one small JSON file per call, so a re-run costs no calls and an
interrupted run resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from publisher.atomic import atomic_write_text


def cache_key(image_sha256: str, prompt: str, model: str, call_index: int) -> str:
    """SHA-256 naming one call: the image bytes' hash, the prompt, the model and the call index."""
    material = json.dumps([image_sha256, prompt, model, call_index], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


class AnswerCache:
    """``folder/<key[:2]>/<key>.json`` holding the raw answer text and token counts of one call."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored record, or None if absent or unreadable (then the call is simply made again)."""
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and isinstance(record.get("text"), str) else None

    def put(self, key: str, record: dict) -> None:
        """Store a record atomically (a reader sees the whole file or none)."""
        atomic_write_text(self._path(key), json.dumps(record, ensure_ascii=False))
