"""Write files so readers see the old version or the new one, never half of either."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from pystac.stac_io import DefaultStacIO


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it onto ``dest``, else remove it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(dest: str | Path, text: str) -> None:
    """Write ``text`` to ``dest`` atomically (UTF-8)."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


class AtomicStacIO(DefaultStacIO):
    """pystac I/O that writes every JSON document to a temporary name and renames it."""

    def write_text_to_href(self, href: str, txt: str) -> None:
        atomic_write_text(href, txt)

    def json_dumps(self, json_dict: dict, *args, **kwargs) -> str:
        """The standard library's JSON, whether or not orjson is installed (pypgstac brings it): pystac
        would switch to orjson, which refuses non-string keys and formats differently."""
        return json.dumps(json_dict, *args, indent=2, **kwargs)
