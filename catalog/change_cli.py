"""``devscore change``: publish the change items of a catalog (the work is in catalog.change, imported
only when the command runs, so `devscore change --help` stays fast)."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath
from publisher.constants import CHANGE_COLLECTION_ID
from publisher.errors import DevscoreError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--catalog", "catalog_dir", required=True, type=NonEmptyPath(path_type=Path, file_okay=False),
              help="Static catalog with the score items; the change items are published into it.")
def change(catalog_dir: Path) -> None:
    """Score change between years: per granule, each consecutive pair of years and first to last."""
    from catalog.change import publish_changes

    result = publish_changes(catalog_dir)
    if result is None:
        raise DevscoreError(f"no granule of {catalog_dir} has scores for two years: no change to publish")
    click.echo(f"{CHANGE_COLLECTION_ID}: {len(result.added)} added, {len(result.replaced)} replaced, "
               f"{result.total_items} items")
