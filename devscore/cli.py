"""``devscore`` console script: a lazy click group, so ``--help`` stays fast and each package owns its commands."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from publisher import __version__
from publisher.errors import DevscoreError

#: command name -> "module:attribute" of a click command; imported only when the command runs.
COMMANDS: dict[str, str] = {
    "publish": "devscore.publish:publish",
    "validate": "catalog.cli:validate",
    "serve": "tiler_app.cli:serve",
    "synth": "publisher.imagery.cli:synth",
    "acquire": "publisher.imagery.acquire_cli:acquire",
    "chips": "publisher.imagery.acquire_cli:chips",
    "rank": "publisher.ranking.cli:rank",
    "pog": "publisher.ranking.pog_cli:pog",
    "train": "publisher.scoring.cli:train",
    "score": "publisher.scoring.cli:score",
    "viirs": "catalog.nightlights.cli:viirs",
    "compare": "catalog.nightlights.cli:compare",
    "run": "devscore.run:run",
    "zonal": "catalog.zonal.cli:zonal",
    "change": "catalog.change:change",
}


class LazyGroup(click.Group):
    """Click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devscore")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Publish economic-development score layers from Sentinel-2 imagery.

    Chip scores of Sentinel-2 granule-years become Cloud-Optimized GeoTIFFs and STAC Items in a
    static catalog, which `devscore serve` publishes as XYZ/WMTS tiles and a STAC API.
    """
    level = logging.WARNING - 10 * verbose if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Run the CLI; a user error is one line on stderr and exit code 1, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DevscoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
