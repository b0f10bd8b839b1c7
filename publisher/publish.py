"""Publish one granule-year: paint its chip scores, write the COG, thumbnail, chips table and Item."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pystac

from publisher.cog import write_score_cog
from publisher.chips_table import write_chips_tables
from publisher.constants import (CHIPS_ASSET, CHIPS_FLATGEOBUF_ASSET, SCORE_ASSET, THUMBNAIL_ASSET, UNCERTAINTY_ASSET,
                                 UNCERTAINTY_BAND_DESCRIPTION)
from publisher.scores import GranuleYear
from publisher.stac import SceneSource, create_item
from publisher.thumbnail import write_thumbnail

log = logging.getLogger(__name__)

#: File names of an item's assets inside its folder.
ASSET_FILES = {SCORE_ASSET: "score.tif", THUMBNAIL_ASSET: "thumbnail.png", CHIPS_ASSET: "chips.parquet",
               CHIPS_FLATGEOBUF_ASSET: "chips.fgb", UNCERTAINTY_ASSET: "uncertainty.tif"}


@dataclass(frozen=True)
class Published:
    """One staged granule-year: its Item (assets in ``folder``) and how long it took."""

    item: pystac.Item
    folder: Path
    seconds: float


def publish_granule_year(
    granule: GranuleYear, staging_dir: Path, device: str = "auto", threads: int | None = None,
    source: SceneSource = SceneSource(),
) -> Published:
    """Write the assets and Item of one granule-year into ``staging_dir/<item id>/``.

    ``threads`` caps the COG writer's threads (see :func:`publisher.cog.write_score_cog`); ``source`` says
    where the scenes came from (:func:`publisher.stac.record_source`).
    """
    start = time.perf_counter()
    folder = Path(staging_dir) / granule.id
    folder.mkdir(parents=True, exist_ok=True)
    score = write_score_cog(granule.scores, granule.chip_grid, folder / ASSET_FILES[SCORE_ASSET], device=device,
                            threads=threads)
    uncertainty = None
    if granule.uncertainty is not None:  # the ensemble's spread, painted like the scores
        uncertainty = write_score_cog(granule.uncertainty, granule.chip_grid, folder / ASSET_FILES[UNCERTAINTY_ASSET],
                                      device=device, threads=threads, description=UNCERTAINTY_BAND_DESCRIPTION,
                                      units="share of the granule-year's chips (percentile rank), 0 to 1")
    thumbnail = write_thumbnail(granule.scores, folder / ASSET_FILES[THUMBNAIL_ASSET])
    chips, chips_fgb = write_chips_tables(granule, folder / ASSET_FILES[CHIPS_ASSET],
                                          folder / ASSET_FILES[CHIPS_FLATGEOBUF_ASSET])
    item = create_item(granule, granule.grid, score, thumbnail, chips, chips_fgb, source=source,
                       uncertainty_path=uncertainty)
    seconds = time.perf_counter() - start
    log.debug("staged %s in %.2f s", granule.id, seconds)
    return Published(item=item, folder=folder, seconds=seconds)
