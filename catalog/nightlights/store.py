"""Write the ``viirs-nightlights`` collection into the static catalog beside the score collection:
items and assets land by rename, then the collection, then the root; score items gain a link to
their night lights and the ``devscore:viirs`` correlations. Same lock as ``catalog.store``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import pystac

from catalog.store import CATALOG_FILE, CatalogError, StagedItem, catalog_lock
from publisher.atomic import AtomicStacIO, atomic_write_text
from publisher.nightlights.stac import COLLECTION_ID, create_collection

#: Marks links this module owns, so re-running replaces them instead of piling them up.
LINK_MARK = "devscore:nightlights"


def _open(catalog_dir: Path) -> tuple[pystac.Catalog, pystac.Collection]:
    root_file = catalog_dir / CATALOG_FILE
    if not root_file.is_file():
        raise CatalogError(f"no catalog at {catalog_dir} (publish the scores first)")
    root = pystac.Catalog.from_file(str(root_file))
    root.catalog_type = pystac.CatalogType.SELF_CONTAINED
    root.set_self_href(str(root_file))
    collection = next((c for c in root.get_children() if c.id == COLLECTION_ID), None)
    if collection is None:
        collection = create_collection()
        root.add_child(collection)
    collection.set_self_href(str(catalog_dir / COLLECTION_ID / "collection.json"))
    return root, collection


def collection_dir(catalog_dir: str | Path) -> Path:
    """Folder of the night-light collection inside the catalog."""
    return Path(catalog_dir).resolve() / COLLECTION_ID


def install_items(catalog_dir: str | Path, staged: Sequence[StagedItem]) -> list[pystac.Item]:
    """Add or replace ``staged`` night-light items (asset files moved from their staging folders)."""
    catalog_dir = Path(catalog_dir).resolve()
    stac_io = AtomicStacIO()
    with catalog_lock(catalog_dir):
        root, collection = _open(catalog_dir)
        items = {item.id: item for item in collection.get_items()}
        items.update({entry.item.id: entry.item for entry in staged})
        collection.clear_items()
        base = collection_dir(catalog_dir)
        for item_id in sorted(items):
            collection.add_item(items[item_id])
            items[item_id].set_self_href(str(base / item_id / f"{item_id}.json"))
        for entry in staged:
            item_dir = base / entry.item.id
            item_dir.mkdir(parents=True, exist_ok=True)
            for asset in entry.item.assets.values():
                source = Path(asset.get_absolute_href() or "")
                if source.parent.resolve() != entry.folder.resolve():
                    raise CatalogError(f"asset {source} of item {entry.item.id} is not in its staging folder")
                os.replace(source, item_dir / source.name)
                asset.href = f"./{source.name}"
            entry.item.save_object(include_self_link=False, stac_io=stac_io)
        fresh = create_collection(list(items.values()))
        collection.extent, collection.summaries = fresh.extent, fresh.summaries
        collection.description, collection.providers = fresh.description, fresh.providers
        collection.stac_extensions, collection.extra_fields = fresh.stac_extensions, fresh.extra_fields
        collection.save_object(include_self_link=False, stac_io=stac_io)
        root.save_object(include_self_link=False, stac_io=stac_io)
    return [items[i] for i in sorted(items)]


def _update_json(path: Path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def _relative(from_file: Path, to_file: Path) -> str:
    href = os.path.relpath(to_file, from_file.parent)
    return href if href.startswith(".") else f"./{href}"


def _replace_links(doc: dict[str, Any], links: Sequence[dict[str, Any]]) -> None:
    doc["links"] = [link for link in doc.get("links", []) if not link.get(LINK_MARK)] + list(links)


def link_items(catalog_dir: str | Path, score_item_file: Path, nightlights_item_file: Path,
               viirs: dict[str, Any] | None = None) -> None:
    """Link a score item and its night-light item both ways (rel ``related``); with ``viirs``, store
    it in the score item as ``devscore:viirs``."""
    with catalog_lock(Path(catalog_dir).resolve()):
        def score(doc: dict[str, Any]) -> None:
            _replace_links(doc, [{"rel": "related", "href": _relative(score_item_file, nightlights_item_file),
                                  "type": pystac.MediaType.GEOJSON, "title": "Night lights of the same year",
                                  LINK_MARK: True}])
            if viirs is not None:
                doc["properties"]["devscore:viirs"] = viirs

        def lights(doc: dict[str, Any]) -> None:
            _replace_links(doc, [{"rel": "related", "href": _relative(nightlights_item_file, score_item_file),
                                  "type": pystac.MediaType.GEOJSON, "title": "Development scores of the same year",
                                  LINK_MARK: True}])

        _update_json(score_item_file, score)
        _update_json(nightlights_item_file, lights)


def link_report(catalog_dir: str | Path, files: Sequence[tuple[Path, str, str, str]]) -> None:
    """Replace the collection's report links with ``files`` (path, rel, media type, title)."""
    catalog_dir = Path(catalog_dir).resolve()
    collection_file = collection_dir(catalog_dir) / "collection.json"
    with catalog_lock(catalog_dir):
        _update_json(collection_file, lambda doc: _replace_links(doc, [
            {"rel": rel, "href": _relative(collection_file, path), "type": media_type, "title": title, LINK_MARK: True}
            for path, rel, media_type, title in files]))
