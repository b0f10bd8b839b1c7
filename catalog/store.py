"""The self-contained static catalog: add or replace granule-year Items, keep the Collection current.

Asset files are immutable and named by their content (``score-<sha256[:12]>.tif``), so moving a new
version into an item's folder never touches a file the item's current JSON names; the one rename of
the Item JSON then switches the item from wholly old to wholly new. The Collection and the root
Catalog follow, and only then are files no item names any more removed. A run interrupted at any
point leaves every item wholly old or wholly new and the catalog valid; its leftovers (staging
folders, temporary files, unreferenced assets) are removed by the next publish. One writer at a time
holds an exclusive lock on ``<catalog>/.lock``.
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
from typing import Callable, Iterator, Sequence

import pystac

from catalog.stac import create_collection
from publisher.atomic import AtomicStacIO
from publisher.constants import COLLECTION_ID
from publisher.errors import DevscoreError
from publisher.stac import multihash_sha256

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
CATALOG_ID = "devscore"
CATALOG_DESCRIPTION = "Economic-development score layers published by devscore."
STAGING_DIR = ".staging"
LOCK_FILE = ".lock"
#: Hex digits of an asset file's sha256 in its name.
NAME_DIGEST_LENGTH = 12


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


def check_unlocked(catalog_dir: Path) -> None:
    """Raise CatalogError now if another process is writing the catalog (so a second writer is told at
    once, not after the reads and staging it would do before taking ``catalog_lock``)."""
    lock = catalog_dir / LOCK_FILE
    if not lock.is_file():
        return
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogError(f"catalog {catalog_dir} is being written by another process") from None
        fcntl.flock(fh, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    """Remove a file or a folder tree; what cannot be removed stays for the next publish."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def staging_area(catalog_dir: Path) -> Iterator[Path]:
    """A fresh folder inside the catalog (same file system, so moves are renames), removed after.

    Enter it holding :func:`catalog_lock`: staging folders left by killed runs are removed first.
    """
    staging_root = Path(catalog_dir) / STAGING_DIR
    if staging_root.is_dir():
        for stale in sorted(staging_root.iterdir()):
            log.info("removing %s, left by an interrupted publish", stale)
            _remove(stale)
    path = staging_root / uuid.uuid4().hex
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def open_catalog(catalog_dir: Path, collection_id: str = COLLECTION_ID,
                 factory: Callable[..., pystac.Collection] = create_collection) -> tuple[pystac.Catalog, pystac.Collection]:
    """Open the root Catalog and one of its Collections (the scores by default), creating the root when the
    folder is new and a Collection other than the scores' (``factory()``) when the root lacks it."""
    root_file = Path(catalog_dir) / CATALOG_FILE
    if root_file.exists():
        try:
            root = pystac.Catalog.from_file(str(root_file))
        except Exception as exc:  # pystac raises many types for bad JSON
            raise CatalogError(f"cannot read catalog {root_file}: {exc}") from exc
        collection = root.get_child(collection_id)
        if collection is None and collection_id != COLLECTION_ID:
            collection = factory()
            root.add_child(collection)
        if not isinstance(collection, pystac.Collection):
            raise CatalogError(f"catalog {root_file} has no collection {collection_id!r}")
    else:
        root = pystac.Catalog(id=CATALOG_ID, description=CATALOG_DESCRIPTION, title="devscore")
        collection = factory()
        root.add_child(collection)
    root.catalog_type = pystac.CatalogType.SELF_CONTAINED
    root.set_self_href(str(root_file.resolve()))
    collection.set_self_href(str(root_file.parent.resolve() / collection_id / "collection.json"))
    return root, collection


def content_name(path: Path, checksum: str) -> str:
    """The immutable file name of an asset: ``score.tif`` whose multihash is ``1220ab12...`` becomes
    ``score-ab12....tif`` (the first 12 hex digits of its sha256)."""
    digest = checksum.removeprefix("1220")
    return f"{path.stem}-{digest[:NAME_DIGEST_LENGTH]}{path.suffix}"


def _install(staged: StagedItem, item_dir: Path, stac_io: AtomicStacIO) -> None:
    """Move an Item's asset files into its folder under their content names, then rename its JSON
    into place: that one rename is the switch from the old item to the new one."""
    item = staged.item
    item_dir.mkdir(parents=True, exist_ok=True)
    moves = []
    for key, asset in item.assets.items():
        source = Path(asset.get_absolute_href() or "")
        if source.parent.resolve() != staged.folder.resolve():
            raise CatalogError(f"asset {source} of item {item.id} is not in its staging folder")
        checksum = multihash_sha256(source)
        if asset.extra_fields.get("file:checksum", checksum) != checksum:
            raise CatalogError(f"asset {key!r} of item {item.id} changed after its checksum was taken")
        moves.append((asset, source, content_name(source, checksum)))
    for asset, source, name in moves:
        os.replace(source, item_dir / name)  # a new name, or the same bytes under their own name
        asset.href = f"./{name}"
    item.set_self_href(str(item_dir / f"{item.id}.json"))
    item.save_object(include_self_link=False, stac_io=stac_io)


def _is_temporary(path: Path) -> bool:
    """A file that :func:`publisher.atomic.atomic_path` left behind when its run was killed."""
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def remove_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files that writers killed mid-write left in ``folder`` (outside a publish:
    a rewrite of an item JSON in place). Call it holding the lock: then no writer is using them."""
    leftovers = [p for p in sorted(folder.iterdir()) if _is_temporary(p)] if folder.is_dir() else []
    for path in leftovers:
        log.info("removing %s, left by an interrupted write", path)
        _remove(path)
    return leftovers


def collect_garbage(catalog_dir: Path, collection_dir: Path, items: Sequence[pystac.Item],
                    keep_dirs: Sequence[str] = ()) -> list[Path]:
    """Remove what no published object names: older asset files, folders of items never linked,
    temporary files of killed runs. ``keep_dirs`` are folders of the collection that hold no item (a
    report the collection links to) and stay. Call it holding the lock, after the Collection was written."""
    keep: dict[str, set[str]] = {}
    for item in items:
        names = keep.setdefault(item.id, {f"{item.id}.json"})
        names.update(Path(asset.get_absolute_href() or "").name for asset in item.assets.values())
    garbage = [p for p in (*catalog_dir.iterdir(), *collection_dir.iterdir()) if _is_temporary(p)]
    for child in sorted(collection_dir.iterdir()):
        if child.is_dir() and child.name in keep_dirs:
            continue
        if child.is_dir() and child.name not in keep:
            garbage.append(child)
        elif child.is_dir():
            garbage += [p for p in sorted(child.iterdir()) if p.name not in keep[child.name]]
    for path in garbage:
        log.debug("removing %s: no item names it", path)
        _remove(path)
    return garbage


def publish(catalog_dir: str | Path, staged: Sequence[StagedItem], collection_id: str = COLLECTION_ID,
            factory: Callable[..., pystac.Collection] = create_collection, keep_dirs: Sequence[str] = (),
            refresh: Callable[..., None] | None = None) -> PublishResult:
    """Add or replace ``staged`` items in one Collection (the scores by default; ``factory(items)`` makes
    another with its extent) of the static catalog at ``catalog_dir``.

    Items not named in ``staged`` are left as they are; the Collection's extent and summaries are
    recomputed from all its items (``refresh(collection, items)`` instead, when given). Folders of the
    collection named in ``keep_dirs`` are not items and are kept. Re-publishing the same input gives
    the same catalog. Call it holding :func:`catalog_lock`.
    """
    catalog_dir = Path(catalog_dir).resolve()
    stac_io = AtomicStacIO()
    root, collection = open_catalog(catalog_dir, collection_id, factory)
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
    if refresh is None:
        refresh_collection(collection, items, factory)
    else:
        refresh(collection, items)
    collection.save_object(include_self_link=False, stac_io=stac_io)
    root.save_object(include_self_link=False, stac_io=stac_io)
    removed = collect_garbage(catalog_dir, collection_dir, items, keep_dirs)
    if removed:
        log.info("removed %d file(s) or folder(s) no item names any more", len(removed))
    log.info(
        "catalog %s: %d added, %d replaced, %d items in %s",
        catalog_dir, len(added), len(replaced), len(items), collection_id,
    )
    return PublishResult(added=added, replaced=replaced, total_items=len(items))


def refresh_collection(collection: pystac.Collection, items: Sequence[pystac.Item],
                       factory: Callable[..., pystac.Collection] = create_collection) -> None:
    """Recompute the Collection's extent (and summaries) from its items."""
    fresh = factory(items)
    collection.extent = fresh.extent
    collection.summaries = fresh.summaries
    collection.description = fresh.description  # says how the items it now holds were made
