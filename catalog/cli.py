"""``devscore validate``: check a published static catalog and exit non-zero on any fault."""

from __future__ import annotations

from pathlib import Path

import click

from catalog.validate import validate_catalog
from publisher.cli_types import NonEmptyPath


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("catalog_dir", type=NonEmptyPath(path_type=Path, file_okay=False))
@click.option("--schemas", "schema_dir", type=NonEmptyPath(path_type=Path, file_okay=False), default=None,
              help="Folder of STAC extension schemas laid out as <extension>/<version>/schema.json, for "
                   "offline validation. Without it the schemas are fetched from stac-extensions.github.io.")
def validate(catalog_dir: Path, schema_dir: Path | None) -> None:
    """Validate every object, asset and COG of the static catalog in CATALOG_DIR.

    Checks the catalog, collections and items against the STAC JSON schemas (extensions included),
    that every asset file exists with the size and checksum its item states, and that every COG
    passes rio-cogeo's validation. Prints one line per problem; exits 1 if there is any.
    """
    problems = validate_catalog(catalog_dir, schema_dir)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {catalog_dir}")
    click.echo(f"{catalog_dir}: valid")
