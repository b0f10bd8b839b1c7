"""A read-only view of a static catalog for servers: collections, items, years and asset files.

Ids from requests are only ever looked up in this index, never joined into paths, so a server built
on it can open the catalog's own assets and nothing else. The index reloads itself when a
collection file changes (a publish finished), so a running server sees new items.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.errors import DevscoreError


class NotFoundError(DevscoreError, LookupError):
    """An id that names no collection, item, asset or year of the catalog."""


class CatalogUnavailable(DevscoreError):
    """The catalog cannot be read now (its database does not answer)."""


@dataclass(frozen=True)
class ItemRecord:
    """One item: its JSON (as published), the absolute paths of its asset files and its own file's
    path relative to the catalog root (``href``)."""

    collection_id: str
    item: dict[str, Any]
    assets: dict[str, Path]
    href: str

    @property
    def id(self) -> str:
        """Item id."""
        return self.item["id"]

    @property
    def years(self) -> range:
        """Calendar years the item covers (start to end datetime)."""
        props = self.item["properties"]
        start = props.get("start_datetime") or props["datetime"]
        end = props.get("end_datetime") or props["datetime"]
        return range(int(start[:4]), int(end[:4]) + 1)


@dataclass
class CollectionRecord:
    """One collection: its JSON and its items by id."""

    collection: dict[str, Any]
    path: Path
    items: dict[str, ItemRecord] = field(default_factory=dict)
    mtime: float = 0.0
    #: Items per year, sorted by id, computed once per record (a publish replaces the record).
    by_year: dict[int, list[ItemRecord]] = field(default_factory=dict, repr=False, compare=False)


class InvalidCatalogError(DevscoreError):
    """A catalog file that is not the STAC JSON devscore wrote (a one-line error naming the file)."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidCatalogError(f"{path} is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise InvalidCatalogError(f"{path} is not a JSON object")
    return doc


def _child_paths(doc: dict[str, Any], base: Path, rel: str) -> list[Path]:
    return [(base.parent / link["href"]).resolve() for link in doc.get("links", []) if link.get("rel") == rel]


class StaticCatalog:
    """Index of a self-contained static catalog (catalog.json -> collections -> items)."""

    def __init__(self, catalog_dir: str | Path) -> None:
        self.root = Path(catalog_dir).resolve()
        self.root_file = self.root / "catalog.json"
        if not self.root_file.is_file():
            raise NotFoundError(f"no catalog.json in {self.root}")
        self._lock = threading.Lock()
        self._collections: dict[str, CollectionRecord] = {}
        self._root_mtime = 0.0
        self._refresh()

    def _inside(self, path: Path) -> bool:
        return path.is_relative_to(self.root)

    def _load_collection(self, path: Path) -> CollectionRecord:
        doc = _read_json(path)
        record = CollectionRecord(collection=doc, path=path, mtime=path.stat().st_mtime)
        for item_path in _child_paths(doc, path, "item"):
            if not self._inside(item_path) or not item_path.is_file():
                continue
            item = _read_json(item_path)
            assets = {}
            for key, asset in item.get("assets", {}).items():
                asset_path = (item_path.parent / asset["href"]).resolve()
                if self._inside(asset_path):
                    assets[key] = asset_path
            record.items[item["id"]] = ItemRecord(collection_id=doc["id"], item=item, assets=assets,
                                                  href=item_path.relative_to(self.root).as_posix())
        return record

    def _refresh(self) -> None:
        """Re-read the catalog where a collection file (or the root) changed since the last look."""
        with self._lock:
            root_mtime = self.root_file.stat().st_mtime
            try:
                paths = _child_paths(_read_json(self.root_file), self.root_file, "child")
            except (KeyError, TypeError, AttributeError) as exc:
                raise InvalidCatalogError(f"{self.root_file} is not a STAC catalog devscore can read "
                                          f"({type(exc).__name__}: {exc})") from None
            fresh: dict[str, CollectionRecord] = {}
            for path in paths:
                if not self._inside(path) or not path.is_file():
                    continue
                known = next((c for c in self._collections.values() if c.path == path), None)
                if known is not None and known.mtime == path.stat().st_mtime and root_mtime == self._root_mtime:
                    fresh[known.collection["id"]] = known
                    continue
                try:
                    record = self._load_collection(path)
                    fresh[record.collection["id"]] = record
                except (KeyError, TypeError, AttributeError) as exc:
                    raise InvalidCatalogError(f"{path} is not a STAC collection devscore can read "
                                              f"({type(exc).__name__}: {exc})") from None
            self._collections = fresh
            self._root_mtime = root_mtime

    def _current(self) -> dict[str, CollectionRecord]:
        stale = self.root_file.stat().st_mtime != self._root_mtime or any(
            c.path.stat().st_mtime != c.mtime for c in self._collections.values()
        )
        if stale:
            self._refresh()
        return self._collections

    def version(self) -> tuple:
        """A token that changes whenever the catalog does (a publish rewrote the root or a collection):
        what caches of anything derived from the catalog key on."""
        collections = self._current()
        return (self._root_mtime, *sorted((cid, record.mtime) for cid, record in collections.items()))

    def collection_ids(self) -> list[str]:
        """Ids of all collections."""
        return sorted(self._current())

    def collection(self, collection_id: str) -> CollectionRecord:
        """The collection ``collection_id`` or NotFoundError."""
        try:
            return self._current()[collection_id]
        except KeyError:
            raise NotFoundError(f"unknown collection {collection_id!r}") from None

    def item(self, collection_id: str, item_id: str) -> ItemRecord:
        """The item ``item_id`` of ``collection_id`` or NotFoundError."""
        try:
            return self.collection(collection_id).items[item_id]
        except KeyError:
            raise NotFoundError(f"unknown item {item_id!r} in collection {collection_id!r}") from None

    def asset_path(self, collection_id: str, item_id: str, asset: str) -> Path:
        """Path of an item's asset file inside the catalog, or NotFoundError."""
        record = self.item(collection_id, item_id)
        try:
            return record.assets[asset]
        except KeyError:
            raise NotFoundError(f"item {item_id!r} has no asset {asset!r}") from None

    def items(self, collection_id: str) -> list[ItemRecord]:
        """All items of a collection, sorted by id."""
        return [self.collection(collection_id).items[k] for k in sorted(self.collection(collection_id).items)]

    def years(self, collection_id: str) -> list[int]:
        """Years for which the collection has items."""
        return sorted({y for record in self.items(collection_id) for y in record.years})

    def items_for_year(self, collection_id: str, year: int) -> list[ItemRecord]:
        """Items of a collection that cover ``year``, or NotFoundError when there are none."""
        collection = self.collection(collection_id)
        if year not in collection.by_year:  # every year-mosaic request asks: not a scan of every item each time
            collection.by_year[year] = [collection.items[k] for k in sorted(collection.items)
                                        if year in collection.items[k].years]
        found = collection.by_year[year]
        if not found:
            raise NotFoundError(f"collection {collection_id!r} has no items for year {year}")
        return found
