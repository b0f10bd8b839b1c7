"""The ``devscore-models`` collection of the static catalog: the scorers the score layers were made with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pystac

from catalog.store import PublishResult, StagedItem, catalog_lock, publish, staging_area
from publisher.scoring.stac import MODELS_COLLECTION_ID, WEIGHTS_ASSET, create_models_collection


def publish_model(catalog_dir: str | Path, model_item: pystac.Item, checkpoint: str | Path) -> PublishResult:
    """Add (or replace) ``model_item`` in ``devscore-models`` with a copy of ``checkpoint`` as its weights
    asset, installed like every item: content-named file, one rename of the item JSON."""
    catalog_dir = Path(catalog_dir).resolve()
    with catalog_lock(catalog_dir), staging_area(catalog_dir) as staging:
        folder = staging / model_item.id
        folder.mkdir(parents=True)
        weights = folder / "model.pt"
        shutil.copyfile(checkpoint, weights)
        item = model_item.clone()
        item.assets[WEIGHTS_ASSET].href = str(weights)
        return publish(catalog_dir, [StagedItem(item, folder)], collection_id=MODELS_COLLECTION_ID,
                       factory=create_models_collection)


def model_item_href(model_item: pystac.Item) -> str:
    """Where a score Item (``<collection>/<id>/<id>.json``) finds ``model_item`` in the static catalog."""
    return f"../../{MODELS_COLLECTION_ID}/{model_item.id}/{model_item.id}.json"
