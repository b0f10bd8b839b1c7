"""Reports that travel with the catalog (`reports/<name>/`), linked from the root catalog so that STAC
Browser and a person browsing the folder find them."""

from __future__ import annotations

import json
import mimetypes
import os
from pathlib import Path
from typing import Callable

from catalog.store import CATALOG_FILE, CatalogError, catalog_lock
from publisher.atomic import atomic_write_text

REPORTS_DIR = "reports"
#: Marks the root's links this module owns, so a new report replaces its old links.
LINK_MARK = "devscore:report"


def write_report(catalog_dir: str | Path, name: str, writer: Callable[[Path], list[Path]], title: str) -> list[Path]:
    """Run ``writer(folder)`` for ``reports/<name>/`` (it writes each file atomically and returns them) and
    link the files from ``catalog.json`` (rel ``describedby``), replacing that report's earlier links."""
    catalog_dir = Path(catalog_dir).resolve()
    root_file = catalog_dir / CATALOG_FILE
    if not root_file.is_file():
        raise CatalogError(f"no catalog at {catalog_dir}: publish before writing a report")
    with catalog_lock(catalog_dir):
        files = writer(catalog_dir / REPORTS_DIR / name)
        doc = json.loads(root_file.read_text(encoding="utf-8"))
        links = [link for link in doc.get("links", []) if link.get(LINK_MARK) != name]
        for path in files:
            links.append({"rel": "describedby", "href": "./" + os.path.relpath(path, catalog_dir),
                          "type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                          "title": f"{title} ({path.suffix.lstrip('.')})", LINK_MARK: name})
        doc["links"] = links
        atomic_write_text(root_file, json.dumps(doc, indent=2) + "\n")
    return files
