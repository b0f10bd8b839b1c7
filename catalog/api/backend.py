"""The backend seam of the STAC API: what the stac-fastapi client needs from a store of items.

``SearchBackend`` is all the client calls. ``StaticCatalogBackend`` implements it with the embedded
SQLite index, rebuilt from the static catalog whenever a collection file changes (a publish
finished). For catalogs that outgrow one machine, a pgstac backend implements the same four
methods over PostgreSQL (pgstac's ``search()`` SQL function takes the same bbox/intersects/
datetime/query parameters), or stac-fastapi-pgstac's own client replaces ``catalog.api.client``
wholesale; ``catalog.api.app.create_stac_api`` takes any client.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from catalog.api.index import SearchPage, SearchQuery, SQLiteIndex
from catalog.reader import StaticCatalog


class SearchBackend(Protocol):
    """Read access to collections and items, and item search."""

    def collections(self) -> list[dict[str, Any]]:
        """All collection documents."""

    def collection(self, collection_id: str) -> dict[str, Any] | None:
        """One collection document or None."""

    def item(self, collection_id: str, item_id: str) -> tuple[dict[str, Any], str | None] | None:
        """One item document with the catalog-relative path of its JSON file, or None."""

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of items matching ``query``."""


class StaticCatalogBackend:
    """SearchBackend over a static catalog, indexed in SQLite and kept in step with the files."""

    def __init__(self, catalog: StaticCatalog, index: SQLiteIndex | None = None) -> None:
        self.catalog = catalog
        self.index = index or SQLiteIndex()
        self._version: tuple | None = None
        self._lock = threading.Lock()

    def _sync(self) -> SQLiteIndex:
        """Rebuild the index when the catalog's collections changed since the last build."""
        ids = self.catalog.collection_ids()
        version = tuple((cid, self.catalog.collection(cid).mtime) for cid in ids)
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self.index.clear()
                    for cid in ids:
                        self.index.add_collection(self.catalog.collection(cid).collection)
                        self.index.add_items((r.item, r.href) for r in self.catalog.items(cid))
                    self._version = version
        return self.index

    def collections(self) -> list[dict[str, Any]]:
        return self._sync().collections()

    def collection(self, collection_id: str) -> dict[str, Any] | None:
        return self._sync().collection(collection_id)

    def item(self, collection_id: str, item_id: str) -> tuple[dict[str, Any], str | None] | None:
        return self._sync().item(collection_id, item_id)

    def search(self, query: SearchQuery) -> SearchPage:
        return self._sync().search(query)
