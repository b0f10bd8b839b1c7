"""Publish a chip-score table into the static catalog, on one process or spread over MPI ranks.

Every rank stages the granule-years of its share (paint, COG, thumbnail, chips, Item) into a
folder inside the catalog; rank 0 gathers the Items and is the only writer of the catalog. A
re-published granule-year keeps its link to its night lights, with its comparison recomputed
(``catalog.nightlights.carry``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import pystac

from publisher.progress import tqdm

from catalog.nightlights.carry import publish_scores
from catalog.store import PublishResult, StagedItem, catalog_lock, open_catalog, staging_area
from publisher.constants import COLLECTION_ID
from publisher.errors import DevscoreError
from publisher.mpi import Communicator, map_gather, my_share, world
from publisher.paint import resolve_device
from publisher.publish import Published, publish_granule_year
from publisher.scores import GranuleYear, read_chip_scores
from publisher.stac import SceneSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    """What one publish run did, for the CLI summary."""

    result: PublishResult
    published: list[Published]
    ranks: int
    seconds: float


def _stage(granule: GranuleYear, staging: Path, device: str, threads: int | None, bar: tqdm | None,
           decorate: Callable[[pystac.Item], None] | None, source: SceneSource) -> Published:
    published = publish_granule_year(granule, staging, device=device, threads=threads, source=source)
    if decorate is not None:
        decorate(published.item)
    if bar is not None:
        bar.update()
    return published


def publish_table(
    table: str | Path,
    catalog_dir: str | Path,
    device: str = "auto",
    comm: Communicator | None = None,
    progress: bool = True,
    decorate: Callable[[pystac.Item], None] | None = None,
    static: bool = True,
    pgstac: str | None = None,
    any_year: bool = False,
    source: SceneSource = SceneSource(),
) -> IngestReport | None:
    """Publish every granule-year of ``table`` into ``catalog_dir``; returns the report on rank 0.

    ``decorate(item)`` adds to each staged Item what the table does not know (the model and provenance
    of a `devscore run`) before anything is installed. With ``pgstac`` (a DSN) the items are loaded
    into that database too, in one transaction; ``static=False`` writes no static catalog: the asset
    files land under ``catalog_dir`` and the items in pgstac only. ``any_year`` publishes years outside Sentinel-2's era.
    ``source`` says where the table's scenes came from: an item links its scenes only where it gives them an address."""
    if not static and pgstac is None:
        raise DevscoreError("without the static catalog (--no-static) give a pgstac database (--pgstac DSN)")
    if pgstac is not None:  # psycopg and pypgstac (the pgstac extra) only when asked for
        from catalog.pgstac.db import connect
        from catalog.pgstac.publish import check_assets_dir, mirror_catalog, own_staging, publish_items_only
    start = time.perf_counter()
    comm = comm or world()
    catalog_dir = Path(catalog_dir).resolve()
    device = resolve_device(device)
    granules = read_chip_scores(table, any_year=any_year)  # every rank reads and checks the same table
    with contextlib.ExitStack() as stack:
        staging, failure = None, None
        if comm.is_root:
            try:
                if pgstac is not None:  # a database that cannot be used fails before any painting
                    connect(pgstac).close()
                if static:
                    stack.enter_context(catalog_lock(catalog_dir))
                    open_catalog(catalog_dir)  # a catalog that cannot be updated fails before any painting
                    staging = stack.enter_context(staging_area(catalog_dir))
                else:
                    check_assets_dir(catalog_dir)
                    staging = stack.enter_context(own_staging(catalog_dir))
            except DevscoreError as exc:
                failure = exc
        staging, failure = comm.bcast((staging, failure))
        if failure is not None:
            raise failure
        label = f"publishing (rank 0 of {comm.size})" if comm.size > 1 else "publishing"
        with tqdm(total=len(my_share(granules, comm)), desc=label, unit="granule-year",
                  disable=not (progress and comm.is_root)) as bar:
            threads = None if comm.size == 1 else max(1, (os.cpu_count() or 1) // comm.size)
            stage = partial(_stage, staging=staging, device=device, threads=threads, bar=bar, decorate=decorate,
                            source=source)
            gathered = map_gather(stage, granules, comm)
        if gathered is None:  # not rank 0: rank 0 alone writes the catalog
            return None
        published, errors = gathered
        if errors:
            raise DevscoreError("; ".join(errors) + " (catalog left unchanged)")
        staged = [StagedItem(p.item, p.folder) for p in published]
        if static:
            result = publish_scores(catalog_dir, staged)
            if pgstac is not None:
                mirror_catalog(pgstac, catalog_dir, [COLLECTION_ID], [s.item.id for s in staged])
        else:
            publish_items_only(pgstac, catalog_dir, staged)
            ids = sorted(s.item.id for s in staged)
            result = PublishResult(added=ids, replaced=[], total_items=len(ids))
    report = IngestReport(result=result, published=sorted(published, key=lambda p: p.item.id),
                          ranks=comm.size, seconds=time.perf_counter() - start)
    log.info("published %d granule-years on %d rank(s) in %.1f s", len(published), comm.size, report.seconds)
    return report
