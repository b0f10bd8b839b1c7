"""A catalog shaped like the demo's, built in seconds: score items of two granules (2023) linked to a
model item in ``devscore-models`` (an untrained ResNet-18 checkpoint: the links, not the weights, are
under test), night lights ingested and compared (items, report). The session fixture ``demo_served``
(tests/conftest.py) serves it with a real `devscore serve`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

TILES, YEAR = ("48RVU", "48RUU"), 2023


def build_demo_like(folder: Path) -> Path:
    """Publish the demo-like catalog under ``folder/catalog``; returns its path."""
    import pystac

    from catalog.ingest import publish_table
    from catalog.models import model_item_href, publish_model
    from catalog.nightlights.compare import compare_catalog
    from catalog.nightlights.ingest import ingest
    from publisher import __version__
    from publisher.scores import GranuleYear, scores_to_table
    from publisher.scoring.model import Scorer, save_checkpoint
    from publisher.scoring.stac import create_model_item, score_provenance
    from publisher.scoring.train import TrainConfig
    from tests.nightlights_fixtures import field_scores, write_vnl_like

    checkpoint = save_checkpoint(folder / "model.pt", Scorer(32), {
        "config": {**dataclasses.asdict(TrainConfig()), "input_size": 32}, "pog": "0>1", "ranker": "heuristic",
        "chips_fingerprint": "0" * 64, "granules": [f"{t}-{YEAR}" for t in TILES], "software_version": __version__,
        "created": dt.datetime(YEAR, 6, 1, tzinfo=dt.timezone.utc).isoformat()})
    model_item = create_model_item(checkpoint)
    provenance = score_provenance(checkpoint)

    def decorate(item: pystac.Item) -> None:  # as devscore run does
        item.add_link(pystac.Link("derived_from", model_item_href(model_item), media_type=pystac.MediaType.GEOJSON,
                                  title="Scoring model (devscore-models)"))
        item.properties.update(provenance)

    when = dt.datetime(YEAR, 4, 1, tzinfo=dt.timezone.utc)
    granules = [GranuleYear(tile, YEAR, when, None, field_scores(tile, YEAR)) for tile in TILES]
    scores_to_table(granules).to_csv(folder / "scores.csv", index=False)
    catalog = folder / "catalog"
    publish_table(folder / "scores.csv", catalog, device="cpu", progress=False, decorate=decorate)
    publish_model(catalog, model_item, checkpoint)
    ingest([write_vnl_like(folder / f"VNL_npp_{YEAR}_global.average.dat.tif", (102.8, 29.5, 105.35, 31.0), YEAR)],
           YEAR, catalog)
    compare_catalog(catalog)
    return catalog
