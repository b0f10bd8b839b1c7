"""``devscore validate``: check a published static catalog and exit non-zero on any fault."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.constants import SCHEMA_LAYOUT, SCHEMAS_ENV
from publisher.cli_types import NonEmptyPath


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("catalog_dir", type=NonEmptyPath(path_type=Path, file_okay=False))
@click.option("--schemas", "schema_dir", type=NonEmptyPath(path_type=Path, file_okay=False), default=None,
              help=f"Folder of STAC extension schemas laid out as {SCHEMA_LAYOUT} (offline). "
                   f"[default: ${SCHEMAS_ENV}, else ../shared/stac-schemas beside the repository]")
@click.option("--remote-schemas", is_flag=True, default=False,
              help="Fetch the extension schemas from stac-extensions.github.io instead (needs the internet).")
def validate(catalog_dir: Path, schema_dir: Path | None, remote_schemas: bool) -> None:
    """Validate every object, asset and COG of the static catalog in CATALOG_DIR.

    Checks the catalog, collections and items against the STAC JSON schemas (extensions included),
    that every asset file exists with the size and checksum its item states, and that every COG
    passes rio-cogeo's validation. Prints one line per problem; exits 1 if there is any. The schemas
    are read from a local folder; without one (and without --remote-schemas) it stops with one line.
    """
    if remote_schemas and schema_dir is not None:
        raise click.UsageError("--schemas and --remote-schemas exclude each other")
    from catalog.validate import validate_catalog

    problems = validate_catalog(catalog_dir, schema_dir, remote_schemas=remote_schemas)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {catalog_dir}")
    click.echo(f"{catalog_dir}: valid")
