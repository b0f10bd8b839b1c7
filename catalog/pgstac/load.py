"""Load collections and items into pgstac in one transaction (pypgstac's Loader inside it).

One publish is one transaction: readers see all of it or none of it, and a publisher killed
midway leaves the database as it was. Publishers take one advisory lock for their transaction, so
two at once queue rather than interleave (pgstac's own partition locks could deadlock them). The
same transaction bumps ``devscore.state.version``: servers key their caches on it, so a publish is
visible to every server process at its next request.
"""

from __future__ import annotations

import logging
import os
import posixpath
from pathlib import Path
from typing import Any, Iterable, Sequence

from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods

from catalog.pgstac.db import connect

log = logging.getLogger(__name__)

#: pg_advisory_xact_lock key of devscore's publishers ("dvsc").
PUBLISH_LOCK = 0x64767363
#: The version counter servers key their caches on (devscore's own schema; pgstac's is untouched).
STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS devscore;
CREATE TABLE IF NOT EXISTS devscore.state (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
"""
BUMP = """INSERT INTO devscore.state VALUES (1, 1)
          ON CONFLICT (id) DO UPDATE SET version = devscore.state.version + 1 RETURNING version"""
#: Link relations of a static catalog that name its structure; the API makes its own.
STRUCTURAL_RELS = {"self", "root", "parent", "collection", "item", "items", "child"}


def _absolute(href: str, base: Path) -> str:
    """``href`` resolved against the folder ``base`` (URLs and absolute paths stay as they are)."""
    if "://" in href or posixpath.isabs(href):
        return href
    return os.path.normpath(base / href)


def item_document(item: dict[str, Any], folder: Path) -> dict[str, Any]:
    """An item as pgstac keeps it: asset and link hrefs absolute (``folder`` holds the item's files),
    the static catalog's structural links left out."""
    out = dict(item)
    out["assets"] = {key: {**asset, "href": _absolute(asset["href"], folder)} for key, asset in item.get("assets", {}).items()}
    out["links"] = [{**link, "href": _absolute(link["href"], folder)} for link in item.get("links", [])
                    if link.get("rel") not in STRUCTURAL_RELS]
    return out


def collection_document(collection: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A collection as pgstac keeps it (see :func:`item_document`)."""
    out = {k: v for k, v in collection.items() if k != "assets"}
    out["links"] = [{**link, "href": _absolute(link["href"], folder)} for link in collection.get("links", [])
                    if link.get("rel") not in STRUCTURAL_RELS]
    if collection.get("assets"):
        out["assets"] = {key: {**asset, "href": _absolute(asset["href"], folder)} for key, asset in collection["assets"].items()}
    return out


def load(dsn: str, collections: Sequence[dict[str, Any]], items: Iterable[dict[str, Any]],
         replace_collections: bool = True) -> int:
    """Upsert ``collections`` (or only insert the new ones) and ``items`` in one transaction; each
    touched collection's extent is then recomputed from all its items in the database. Returns the
    database's new version."""
    connect(dsn).close()  # one-line errors for a DSN that does not answer or has no known pgstac
    db = PgstacDB(dsn=dsn)
    try:
        conn = db.connect()
        loader = Loader(db)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
            conn.execute(STATE_DDL)
            loader.load_collections(iter(collections), Methods.upsert if replace_collections else Methods.ignore)
            loader.load_items(iter(items), Methods.upsert)
            conn.execute("""UPDATE collections SET content = jsonb_set(content, '{extent}', collection_extent(id, true))
                            WHERE id = ANY(%s) AND EXISTS (SELECT 1 FROM items WHERE collection = collections.id)""",
                         ([c["id"] for c in collections],))
            version = conn.execute(BUMP).fetchone()[0]
    finally:
        db.close()
    log.info("pgstac: loaded %d collection(s), version %d", len(collections), version)
    return version
