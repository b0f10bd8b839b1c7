"""The self-contained static catalog: add or replace granule-year Items, keep the Collection current.

Every file lands by rename: assets first, then the Item JSON, then the Collection and the root
Catalog, so a run interrupted at any point leaves the previous catalog readable and consistent.
One writer at a time holds an exclusive lock on ``<catalog>/.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pystac

from catalog.stac import create_collection
from publisher.atomic import AtomicStacIO
from publisher.constants import COLLECTION_ID
from publisher.errors import DevscoreError

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
CATALOG_ID = "devscore"
CATALOG_DESCRIPTION = "Economic-development score layers published by devscore."
STAGING_DIR = ".staging"
LOCK_FILE = ".lock"


class CatalogError(DevscoreError):
    """A catalog folder that cannot be opened or updated."""


@dataclass(frozen=True)
class StagedItem:
    """An Item whose asset files wait in ``folder`` to be moved into the catalog."""

    item: pystac.Item
    folder: Path


@dataclass(frozen=True)
class PublishResult:
    """What a publish changed."""

    added: list[str]
    replaced: list[str]
    total_items: int


@contextlib.contextmanager
def catalog_lock(catalog_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the catalog folder so two publishers never interleave."""
    catalog_dir.mkdir(parents=True, exist_ok=True)
    with open(catalog_dir / LOCK_FILE, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CatalogError(f"catalog {catalog_dir} is being written by another process") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def staging_area(catalog_dir: Path) -> Iterator[Path]:
    """A fresh folder inside the catalog (same file system, so moves are renames), removed after."""
    path = Path(catalog_dir) / STAGING_DIR / uuid.uuid4().hex
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def open_catalog(catalog_dir: Path) -> tuple[pystac.Catalog, pystac.Collection]:
    """Open the root Catalog and the score Collection, creating both when the folder is new."""
    root_file = Path(catalog_dir) / CATALOG_FILE
    if root_file.exists():
        try:
            root = pystac.Catalog.from_file(str(root_file))
        except Exception as exc:  # pystac raises many types for bad JSON
            raise CatalogError(f"cannot read catalog {root_file}: {exc}") from exc
        collection = root.get_child(COLLECTION_ID)
        if not isinstance(collection, pystac.Collection):
            raise CatalogError(f"catalog {root_file} has no collection {COLLECTION_ID!r}")
    else:
        root = pystac.Catalog(id=CATALOG_ID, description=CATALOG_DESCRIPTION, title="devscore")
        collection = create_collection()
        root.add_child(collection)
    root.catalog_type = pystac.CatalogType.SELF_CONTAINED
    root.set_self_href(str(root_file.resolve()))
    collection.set_self_href(str(root_file.parent.resolve() / COLLECTION_ID / "collection.json"))
    return root, collection


def _install(staged: StagedItem, item_dir: Path, stac_io: AtomicStacIO) -> None:
    """Move an Item's asset files into its folder, then write its JSON (the commit point)."""
    item = staged.item
    item_dir.mkdir(parents=True, exist_ok=True)
    moves = []
    for asset in item.assets.values():
        source = Path(asset.get_absolute_href() or "")
        if source.parent.resolve() != staged.folder.resolve():
            raise CatalogError(f"asset {source} of item {item.id} is not in its staging folder")
        moves.append((asset, source))
    for asset, source in moves:
        os.replace(source, item_dir / source.name)
        asset.href = f"./{source.name}"
    item.set_self_href(str(item_dir / f"{item.id}.json"))
    item.save_object(include_self_link=False, stac_io=stac_io)


def publish(catalog_dir: str | Path, staged: Sequence[StagedItem]) -> PublishResult:
    """Add or replace ``staged`` items in the static catalog at ``catalog_dir``.

    Items not named in ``staged`` are left as they are; the Collection's extent and summaries are
    recomputed from all its items. Re-publishing the same input gives the same catalog.
    """
    catalog_dir = Path(catalog_dir).resolve()
    stac_io = AtomicStacIO()
    root, collection = open_catalog(catalog_dir)
    collection_dir = Path(collection.get_self_href()).parent
    current = {item.id: item for item in collection.get_items()}
    new = {entry.item.id: entry for entry in staged}
    added = sorted(set(new) - set(current))
    replaced = sorted(set(new) & set(current))
    current.update({item_id: entry.item for item_id, entry in new.items()})
    items = [current[item_id] for item_id in sorted(current)]
    collection.clear_items()
    for item in items:
        collection.add_item(item)
        item.set_self_href(str(collection_dir / item.id / f"{item.id}.json"))
    for item_id in sorted(new):
        _install(new[item_id], collection_dir / item_id, stac_io)
    refresh_collection(collection, items)
    collection.save_object(include_self_link=False, stac_io=stac_io)
    root.save_object(include_self_link=False, stac_io=stac_io)
    log.info(
        "catalog %s: %d added, %d replaced, %d items in %s",
        catalog_dir, len(added), len(replaced), len(items), COLLECTION_ID,
    )
    return PublishResult(added=added, replaced=replaced, total_items=len(items))


def refresh_collection(collection: pystac.Collection, items: Sequence[pystac.Item]) -> None:
    """Recompute the Collection's extent (and summaries) from its items."""
    fresh = create_collection(items)
    collection.extent = fresh.extent
    collection.summaries = fresh.summaries
