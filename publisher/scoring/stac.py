"""The trained scorer as a STAC Item of the ``devscore-models`` collection (Machine Learning Model
extension, mlm v1.5.2; stactools style: ``create_models_collection()`` / ``create_model_item()``), and the
links and provenance that tie every score Item to the model that made it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pystac
import torch
from pystac.extensions.file import FileExtension
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from publisher import __version__
from publisher.grid import TileGrid
from publisher.runstate import file_sha256
from publisher.scoring.model import BETA, IMAGENET_MEAN, IMAGENET_STD, load_scorer
from publisher.stac import PROCESSING_SCHEMA, multihash_sha256

MODELS_COLLECTION_ID = "devscore-models"
MLM_SCHEMA = "https://stac-extensions.github.io/mlm/v1.5.2/schema.json"
WEIGHTS_ASSET = "weights"
#: How a checkpoint is opened: ``torch.load(href, weights_only=True)["model"]`` into ``publisher.scoring.model.Scorer``.
WEIGHTS_MEDIA_TYPE = "application/octet-stream; framework=pytorch; profile=pytorch"
LICENSE = "CC-BY-4.0"


def create_models_collection(items: list[pystac.Item] | None = None) -> pystac.Collection:
    """The ``devscore-models`` collection: the scorers that made the score layers, one Item each."""
    items = items or []
    extent = pystac.Extent.from_items(items) if items else pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]), pystac.TemporalExtent([[None, None]]))
    collection = pystac.Collection(
        id=MODELS_COLLECTION_ID, title="devscore scoring models",
        description="ResNet-18 scorers trained on a partial order of chip clusters ranked by a vision-language "
                    "model, by devscore's offline pixel-index heuristic or by a person's POG (each Item's "
                    "devscore:ranker says which); each Item's weights asset is the checkpoint the score layers "
                    "of the devscore-scores collection were computed with.",
        extent=extent, license=LICENSE, keywords=["machine learning", "ResNet-18", "economic development"],
    )
    return collection


def model_item_id(checkpoint_path: str | Path) -> str:
    """``scorer-<first 12 hex of the checkpoint's SHA-256>``: a new training is a new Item."""
    return f"scorer-{file_sha256(checkpoint_path)[:12]}"


def _footprint(granules: list[str]) -> dict[str, Any] | None:
    tiles = sorted({g.rsplit("-", 1)[0] for g in granules})
    if not tiles:
        return None
    return mapping(unary_union([shape(TileGrid.from_tile_id(t).footprint) for t in tiles]))


def create_model_item(checkpoint_path: str | Path, weights_href: str | None = None) -> pystac.Item:
    """The Item of one trained checkpoint: mlm fields (architecture, input, output, hyperparameters), the
    training's POG and data fingerprint, and the weights asset with size and checksum."""
    checkpoint_path = Path(checkpoint_path)
    model, meta = load_scorer(checkpoint_path)
    config, size = meta["config"], int(meta["input_size"])
    rgb = model.bands == "rgb"  # the method's grayscale keeps the names it always had
    granules = list(meta.get("granules", []))
    geometry = _footprint(granules)
    years = sorted({int(g.rsplit("-", 1)[1]) for g in granules}) or [dt.datetime.now(dt.timezone.utc).year]
    created = dt.datetime.fromisoformat(meta["created"]) if meta.get("created") else dt.datetime.now(dt.timezone.utc)
    item = pystac.Item(
        id=model_item_id(checkpoint_path), geometry=geometry,
        bbox=list(shape(geometry).bounds) if geometry else None, datetime=None,
        start_datetime=dt.datetime(years[0], 1, 1, tzinfo=dt.timezone.utc),
        end_datetime=dt.datetime(years[-1], 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc),
        collection=MODELS_COLLECTION_ID,
        properties={
            "title": f"devscore scorer ({config['loss']} loss, {size} px{', RGB' if rgb else ''})",
            "description": "ResNet-18 with one output squashed by sigmoid(5 x): the development score of a "
                           "3.43 km Sentinel-2 chip, trained on the POG targets of its ranking.",
            "created": created.isoformat(),
            "mlm:name": f"devscore-scorer-{config['loss']}-{size}px{'-rgb' if rgb else ''}",
            "mlm:architecture": "ResNet-18",
            "mlm:tasks": ["regression"],
            "mlm:framework": "pytorch",
            "mlm:framework_version": torch.__version__.split("+")[0],
            "mlm:memory_size": checkpoint_path.stat().st_size,
            "mlm:total_parameters": sum(p.numel() for p in model.parameters()),
            "mlm:pretrained": bool(config.get("weights")),
            "mlm:accelerator": "cuda",
            "mlm:accelerator_constrained": False,
            "mlm:batch_size_suggestion": 256,
            "mlm:input": [_input(size, model.bands)],
            "mlm:output": [_output()],
            "mlm:hyperparameters": {k: v for k, v in config.items() if v is not None}
                                   | {"beta": BETA, "best_epoch": meta.get("best_epoch"),
                                      "epochs_run": meta.get("epochs_run")},
            "devscore:pog": meta["pog"],
            "devscore:ranker": meta.get("ranker"),
            "devscore:chips_fingerprint": meta["chips_fingerprint"],
            "devscore:granules": granules,
            "devscore:best_val_loss": meta.get("best_val_loss"),
            "processing:software": {"devscore": meta.get("software_version", __version__)},
        },
    )
    if config.get("weights"):
        item.properties["mlm:pretrained_source"] = Path(config["weights"]).name
    item.stac_extensions += [MLM_SCHEMA, PROCESSING_SCHEMA]
    asset = pystac.Asset(href=weights_href or str(checkpoint_path), media_type=WEIGHTS_MEDIA_TYPE,
                         title="Scorer weights (torch.save; load with weights_only=True, strictly)",
                         roles=["mlm:model", "mlm:weights", "data"],
                         extra_fields={"mlm:artifact_type": "torch.save"})
    item.add_asset(WEIGHTS_ASSET, asset)
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.size = checkpoint_path.stat().st_size
    file_ext.checksum = multihash_sha256(checkpoint_path)
    return item


def _input(size: int, bands: str) -> dict[str, Any]:
    source = "A 343 x 343 px chip of the Sentinel-2 L2A visual (TCI) asset"
    if bands == "gray":
        name, description, function = ("grayscale chip", f"{source}, reduced to luma (0.299 R + 0.587 G + 0.114 B), "
                                       f"resampled to {size} px and replicated to 3 channels.", "to_gray")
    else:
        name, description, function = ("RGB chip", f"{source}, its red, green and blue channels resampled to {size} px.",
                                       "to_rgb")
    return {
        "name": name,
        "description": description,
        "bands": [],
        "input": {"shape": [-1, 3, size, size], "dim_order": ["batch", "channel", "height", "width"],
                  "data_type": "float32"},
        "value_scaling": [{"type": "z-score", "mean": 255 * m, "stddev": 255 * s}
                          for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
        "pre_processing_function": {"format": "python", "expression": f"publisher.scoring.model:{function}"},
    }


def _output() -> dict[str, Any]:
    return {
        "name": "development score",
        "description": "Score in [0, 1]: 1 the most developed level of the POG, 0 the least.",
        "tasks": ["regression"],
        "result": {"shape": [-1, 1], "dim_order": ["batch", "score"], "data_type": "float32"},
        "post_processing_function": None,
    }


def score_provenance(checkpoint_path: str | Path) -> dict[str, Any]:
    """Properties a score Item records about the model behind it: POG, ranker, checkpoint hash, version."""
    model, meta = load_scorer(checkpoint_path)
    return {"devscore:model": model_item_id(checkpoint_path), "devscore:checkpoint_sha256": file_sha256(checkpoint_path),
            "devscore:pog": meta["pog"], "devscore:ranker": meta.get("ranker"),
            "devscore:loss": meta["config"]["loss"], "devscore:bands": model.bands,
            "devscore:software_version": meta.get("software_version")}


def link_score_item(score_item: pystac.Item, model_item: pystac.Item, checkpoint_path: str | Path) -> None:
    """Tie a score Item to its model: a ``derived_from`` link to the model Item and the model's provenance."""
    score_item.add_link(pystac.Link("derived_from", model_item, media_type=pystac.MediaType.GEOJSON,
                                    title="Scoring model (devscore-models)"))
    score_item.properties.update(score_provenance(checkpoint_path))
