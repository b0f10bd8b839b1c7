"""``devscore validate``: check a published static catalog and exit non-zero on any fault."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.constants import SCHEMA_LAYOUT, SCHEMAS_ENV
from publisher.cli_types import NonEmptyPath


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("catalog_dir", type=NonEmptyPath(path_type=Path, file_okay=False), required=False)
@click.option("--schemas", "schema_dir", type=NonEmptyPath(path_type=Path, file_okay=False), default=None,
              help=f"Folder of STAC extension schemas laid out as {SCHEMA_LAYOUT} (offline). "
                   f"[default: ${SCHEMAS_ENV}, else ../shared/stac-schemas beside the repository]")
@click.option("--remote-schemas", is_flag=True, default=False,
              help="Fetch the extension schemas from stac-extensions.github.io instead (needs the internet).")
@click.option("--links", "links", default=None, metavar="URL-OR-DIR",
              help="Instead: walk every link and asset of a served catalog (a STAC API or catalog.json URL, "
                   "requested with a real HTTP client, each must answer 200) or of a catalog folder.")
def validate(catalog_dir: Path | None, schema_dir: Path | None, remote_schemas: bool, links: str | None) -> None:
    """Validate every object, asset and COG of the static catalog in CATALOG_DIR.

    Checks the catalog, collections and items against the STAC JSON schemas (extensions included),
    that every asset file exists with the size and checksum its item states, and that every COG
    passes rio-cogeo's validation. Prints one line per problem; exits 1 if there is any. The schemas
    are read from a local folder; without one (and without --remote-schemas) it stops with one line.
    With --links, checks instead that every link and asset resolves, wherever the catalog is read.
    """
    if links is not None:
        _check_links(links, catalog_dir)
        return
    if catalog_dir is None:
        raise click.UsageError("give CATALOG_DIR, or --links URL-OR-DIR")
    if remote_schemas and schema_dir is not None:
        raise click.UsageError("--schemas and --remote-schemas exclude each other")
    from catalog.validate import validate_catalog

    problems = validate_catalog(catalog_dir, schema_dir, remote_schemas=remote_schemas)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {catalog_dir}")
    click.echo(f"{catalog_dir}: valid")


def _check_links(target: str, catalog_dir: Path | None) -> None:
    import httpx

    from catalog.linkcheck import check_links

    if catalog_dir is not None:
        raise click.UsageError("--links takes the catalog itself: give no CATALOG_DIR with it")
    if not target.startswith(("http://", "https://")) and not (Path(target) / "catalog.json").is_file():
        raise click.BadParameter(f"{target!r} is neither an http(s) URL nor a folder with catalog.json",
                                 param_hint="--links")
    try:
        report = check_links(target)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"{target}: {exc.__class__.__name__}: {str(exc)[:120]}") from None
    for problem in report.problems:
        click.echo(problem)
    click.echo(report.summary())
    if report.problems:
        raise click.ClickException(f"{len(report.problems)} broken link(s) in {target}")
