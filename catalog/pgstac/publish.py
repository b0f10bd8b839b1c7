"""Publish into pgstac: beside the static catalog (its items mirrored after it was written) or
instead of it (asset files installed where the static catalog would put them, items only in pgstac).

Either way the items of one publish reach the database in one transaction (``catalog.pgstac.load``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator, Sequence

from catalog.pgstac.load import collection_document, item_document, load
from catalog.reader import StaticCatalog
from catalog.store import CATALOG_FILE, STAGING_DIR, CatalogError, StagedItem, content_name
from catalog.stac import create_collection
from publisher.constants import COLLECTION_ID
from publisher.stac import multihash_sha256


def mirror_catalog(dsn: str, catalog_dir: str | Path, collection_ids: Sequence[str] | None = None,
                   item_ids: Sequence[str] | None = None) -> int:
    """Load collections of the static catalog at ``catalog_dir`` (all when None) and their items (only
    ``item_ids`` when given) into pgstac in one transaction; returns the database version."""
    catalog = StaticCatalog(catalog_dir)
    wanted = set(item_ids) if item_ids is not None else None
    collections, items = [], []
    for cid in collection_ids or catalog.collection_ids():
        record = catalog.collection(cid)
        collections.append(collection_document(record.collection, record.path.parent))
        items += [item_document(r.item, (catalog.root / r.href).parent) for r in catalog.items(cid)
                  if wanted is None or r.id in wanted]
    return load(dsn, collections, items)


@contextlib.contextmanager
def own_staging(assets_dir: Path) -> Iterator[Path]:
    """A staging folder of this publish inside ``assets_dir`` (same file system: moves are renames).
    Other publishers may be staging beside it, so no other folder is touched."""
    path = assets_dir / STAGING_DIR / uuid.uuid4().hex
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def check_assets_dir(assets_dir: Path) -> None:
    """Refuse a folder holding a static catalog: its next publish would remove asset files that only
    pgstac names."""
    if (assets_dir / CATALOG_FILE).exists():
        raise CatalogError(f"{assets_dir} holds a static catalog; publish --no-static into another folder "
                           "(the static catalog's publish removes asset files no static item names)")


def install_assets(assets_dir: Path, staged: Sequence[StagedItem], collection_id: str = COLLECTION_ID) -> list[dict]:
    """Move each staged item's assets to ``<assets_dir>/<collection>/<item>/<content name>`` (immutable
    names: a file another item version names is never overwritten) and return the items as pgstac keeps
    them. Older asset files stay: a database version may still name them."""
    documents = []
    for entry in staged:
        item = entry.item
        item_dir = assets_dir / collection_id / item.id
        item_dir.mkdir(parents=True, exist_ok=True)
        for asset in item.assets.values():
            source = Path(asset.get_absolute_href() or "")
            name = content_name(source, multihash_sha256(source))
            os.replace(source, item_dir / name)
            asset.href = str(item_dir / name)
        doc = item.to_dict(include_self_link=False, transform_hrefs=False)
        doc["collection"] = collection_id
        documents.append(item_document(doc, item_dir))
    return documents


def publish_items_only(dsn: str, assets_dir: Path, staged: Sequence[StagedItem]) -> int:
    """Install ``staged`` score items' assets under ``assets_dir`` and load them into pgstac in one
    transaction; the collection is created when new (its extent is recomputed from the database)."""
    documents = install_assets(assets_dir, staged)
    collection = collection_document(create_collection([s.item for s in staged]).to_dict(include_self_link=False),
                                     assets_dir / COLLECTION_ID)
    return load(dsn, [collection], documents, replace_collections=False)
