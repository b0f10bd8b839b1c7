"""``devscore`` console script: a lazy click group, so ``--help`` stays fast and each package owns its commands."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

import click

from devscore.logs import LEVELS, configure_logging
from publisher import __version__
from publisher.errors import DevscoreError, Interrupted

@dataclass(frozen=True)
class CommandEntry:
    """Where a command lives and the one-line help the command list shows without importing it."""

    target: str  # "module:attribute" of a click command
    summary: str


#: command name -> its entry; a command's module is imported only when that command runs or shows its help.
COMMANDS: dict[str, CommandEntry] = {
    "run": CommandEntry("devscore.run:run", "Every stage, from scenes to a validated catalog, resumable."),
    "tiles": CommandEntry("publisher.tiles_cli:tiles", "MGRS tiles covering a bounding box, with footprints."),
    "synth": CommandEntry("publisher.imagery.cli:synth", "Generate a synthetic Sentinel-2 region with its truth."),
    "acquire": CommandEntry("publisher.imagery.acquire_cli:acquire", "Choose the best scene of granule-years."),
    "chips": CommandEntry("publisher.imagery.acquire_cli:chips", "Cut granule-years into 32 x 32 chips."),
    "rank": CommandEntry("publisher.ranking.cli:rank", "Cluster the chips and order the clusters (POGs)."),
    "pog": CommandEntry("publisher.ranking.pog_cli:pog", "Check, aggregate and convert partial order graphs."),
    "train": CommandEntry("publisher.scoring.cli:train", "Train the ResNet-18 scorer on a ranking."),
    "score": CommandEntry("publisher.scoring.cli:score", "Score every usable chip with a trained scorer."),
    "publish": CommandEntry("devscore.publish:publish", "Publish a chip-score table into a STAC catalog."),
    "validate": CommandEntry("catalog.cli:validate", "Validate a static catalog: schemas, assets, COGs."),
    "serve": CommandEntry("tiler_app.cli:serve", "Serve score layers as XYZ/WMTS tiles and a STAC API."),
    "viirs": CommandEntry("catalog.nightlights.cli:viirs", "Ingest VIIRS night lights beside the score layers."),
    "compare": CommandEntry("catalog.nightlights.cli:compare", "Correlate chip scores with night lights."),
    "zonal": CommandEntry("catalog.zonal.cli:zonal", "Figures per place: area-weighted scores per zone and year."),
    "change": CommandEntry("catalog.change_cli:change", "Publish change layers between the years of each granule."),
}


class LazyGroup(click.Group):
    """Click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module, attr = entry.target.split(":")
        command = getattr(importlib.import_module(module), attr)
        command.short_help = entry.summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: no command module is imported to show it."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devscore")
@click.option("-v", "--verbose", count=True, help="More log output (-v: info, the default; -vv: debug).")
@click.option("--log-level", type=click.Choice(LEVELS), default=None,
              help="devscore's messages from this level; libraries log warnings only, unless debug.  [default: info]")
def cli(verbose: int, log_level: str | None) -> None:
    """Publish economic-development score layers from Sentinel-2 imagery.

    Chip scores of Sentinel-2 granule-years become Cloud-Optimized GeoTIFFs and STAC Items in a
    static catalog, which `devscore serve` publishes as XYZ/WMTS tiles and a STAC API.
    """
    configure_logging(log_level or ("debug" if verbose >= 2 else "info"))


#: How to go on after Ctrl-C, per command; every writer lands its files by rename, so nothing half-written
#: is left behind.
RESUME_HINTS: dict[str, str] = {
    "run": "run the same command again to continue: finished stages are skipped and training resumes "
           "from its last saved epoch",
    "train": "run the same command with --resume added to continue from the last saved epoch",
    "rank": "run the same command again (VLM answers already received are reused when --cache is given)",
}
DEFAULT_RESUME_HINT = "run the same command again; finished files are kept and nothing half-written is left"


def resume_hint(argv: list[str]) -> str:
    """What to do after interrupting ``devscore ARGV``."""
    command = next((arg for arg in argv if arg in COMMANDS), None)
    return RESUME_HINTS.get(command or "", DEFAULT_RESUME_HINT)


def main() -> None:
    """Run the CLI; a user error is one line on stderr and exit code 1, never a traceback; Ctrl-C is one
    line saying how to continue, exit code 130."""
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt, Interrupted) as exc:
        what = f"{exc}; " if isinstance(exc, Interrupted) else ""
        click.echo(f"Interrupted: {what}{resume_hint(sys.argv[1:])}.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DevscoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
