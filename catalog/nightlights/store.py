"""Write the ``viirs-nightlights`` collection into the static catalog beside the score collection.

Items are installed by ``catalog.store.publish``, under its guarantee: asset files get immutable
content names (``nightlights-<sha12>.tif``), one rename of the Item JSON switches an item from wholly
old to wholly new, files no item names are removed after the collection is written. Score items gain
a link to their night lights and the ``devscore:viirs`` correlations; the comparison report lives in
the collection's ``report/`` folder. Every function here writes: call it holding ``catalog.store``'s
``catalog_lock``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import pystac

from catalog.store import CATALOG_FILE, CatalogError, PublishResult, StagedItem, publish
from publisher.atomic import atomic_write_text
from publisher.nightlights.stac import COLLECTION_ID, create_collection

#: Marks links this module owns, so re-running replaces them instead of piling them up.
LINK_MARK = "devscore:nightlights"
#: The score item property holding the correlations with the night lights (``devscore compare``).
VIIRS_PROPERTY = "devscore:viirs"
#: Folder of the comparison report inside the collection (not an item: kept by the garbage collection).
REPORT_DIR = "report"


def collection_dir(catalog_dir: str | Path) -> Path:
    """Folder of the night-light collection inside the catalog."""
    return Path(catalog_dir).resolve() / COLLECTION_ID


def item_file(catalog_dir: str | Path, item_id: str) -> Path:
    """Where the night-light item ``item_id`` lives in the catalog."""
    return collection_dir(catalog_dir) / item_id / f"{item_id}.json"


def _refresh(collection: pystac.Collection, items: Sequence[pystac.Item]) -> None:
    """The collection's extent, summaries and descriptive fields, recomputed from its items."""
    fresh = create_collection(items)
    collection.extent, collection.summaries = fresh.extent, fresh.summaries
    collection.description, collection.providers = fresh.description, fresh.providers
    collection.stac_extensions, collection.extra_fields = fresh.stac_extensions, fresh.extra_fields


def install_items(catalog_dir: str | Path, staged: Sequence[StagedItem]) -> PublishResult:
    """Add or replace ``staged`` night-light items, their asset files moved from their staging folders
    under content names. Call it holding ``catalog_lock``, with ``staged`` in its ``staging_area``."""
    catalog_dir = Path(catalog_dir).resolve()
    if not (catalog_dir / CATALOG_FILE).is_file():
        raise CatalogError(f"no catalog at {catalog_dir} (publish the scores first)")
    return publish(catalog_dir, staged, collection_id=COLLECTION_ID, factory=create_collection,
                   keep_dirs=(REPORT_DIR,), refresh=_refresh)


def _update_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def _relative(from_file: Path, to_file: Path) -> str:
    href = os.path.relpath(to_file, from_file.parent)
    return href if href.startswith(".") else f"./{href}"


def _replace_links(doc: dict[str, Any], links: Sequence[dict[str, Any]]) -> None:
    doc["links"] = [link for link in doc.get("links", []) if not link.get(LINK_MARK)] + list(links)


def score_link(score_item_file: Path, nightlights_item_file: Path) -> dict[str, Any]:
    """The link (as JSON) from a score item to its night-light item."""
    return {"rel": "related", "href": _relative(score_item_file, nightlights_item_file),
            "type": pystac.MediaType.GEOJSON, "title": "Night lights of the same year", LINK_MARK: True}


def nightlights_link(nightlights_item_file: Path, score_item_file: Path) -> dict[str, Any]:
    """The link (as JSON) from a night-light item back to its score item."""
    return {"rel": "related", "href": _relative(nightlights_item_file, score_item_file),
            "type": pystac.MediaType.GEOJSON, "title": "Development scores of the same year", LINK_MARK: True}


def set_links(item: pystac.Item, links: Sequence[dict[str, Any]]) -> None:
    """Replace this module's links of an Item object (before it is installed) with ``links``."""
    item.links = [link for link in item.links if not link.extra_fields.get(LINK_MARK)]
    for link in links:
        item.add_link(pystac.Link.from_dict(link))


def update_score_item(score_item_file: Path, nightlights_item_file: Path | None,
                      viirs: dict[str, Any] | None) -> None:
    """Rewrite a published score item (atomically): its link to ``nightlights_item_file`` (none when
    None) and its ``devscore:viirs`` (removed when None). Call it holding ``catalog_lock``."""
    def change(doc: dict[str, Any]) -> None:
        _replace_links(doc, [] if nightlights_item_file is None else [score_link(score_item_file, nightlights_item_file)])
        if viirs is None:
            doc["properties"].pop(VIIRS_PROPERTY, None)
        else:
            doc["properties"][VIIRS_PROPERTY] = viirs

    _update_json(score_item_file, change)


def update_nightlights_item(nightlights_item_file: Path, score_item_file: Path) -> None:
    """Rewrite a published night-light item's link back to its score item (atomically). Holding the lock."""
    _update_json(nightlights_item_file,
                 lambda doc: _replace_links(doc, [nightlights_link(nightlights_item_file, score_item_file)]))


def has_link(item_file: Path, link: dict[str, Any]) -> bool:
    """Whether the item JSON at ``item_file`` has ``link`` (same rel and href)."""
    doc = json.loads(item_file.read_text(encoding="utf-8"))
    return any(l.get("rel") == link["rel"] and l.get("href") == link["href"] for l in doc.get("links", []))


def link_items(score_item_file: Path, nightlights_item_file: Path, viirs: dict[str, Any] | None = None) -> None:
    """Link a score item and its night-light item both ways (rel ``related``); with ``viirs``, store
    it in the score item as ``devscore:viirs`` (without, the score item keeps what it has)."""
    def score(doc: dict[str, Any]) -> None:
        _replace_links(doc, [score_link(score_item_file, nightlights_item_file)])
        if viirs is not None:
            doc["properties"][VIIRS_PROPERTY] = viirs

    _update_json(score_item_file, score)
    update_nightlights_item(nightlights_item_file, score_item_file)


def link_report(catalog_dir: str | Path, files: Sequence[tuple[Path, str, str, str]]) -> None:
    """Replace the collection's report links with ``files`` (path, rel, media type, title)."""
    collection_file = collection_dir(catalog_dir) / "collection.json"
    _update_json(collection_file, lambda doc: _replace_links(doc, [
        {"rel": rel, "href": _relative(collection_file, path), "type": media_type, "title": title, LINK_MARK: True}
        for path, rel, media_type, title in files]))
