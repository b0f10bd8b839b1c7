"""Command-line options shared by the imagery commands (synth, acquire, chips)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from publisher.imagery.acquire import DEFAULT_MAX_CLOUD, PLANETARY_COMPUTER


def comma_list(kind: type) -> Callable[[click.Context, click.Parameter, str], list]:
    """A click callback turning ``"a,b"`` into ``[kind(a), kind(b)]``, a usage error naming the value else."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> list:
        try:
            return [kind(v.strip()) for v in value.split(",") if v.strip()]
        except ValueError as exc:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of {kind.__name__} values") from exc

    return parse


def _one_source(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and ctx.params.get("stac_api"):
        raise click.UsageError("give --stac-api or --source-catalog, not both")
    return value


def search_options(command: Callable) -> Callable:
    """--stac-api, --source-catalog and --max-cloud: where to search for scenes and which to keep."""
    for option in reversed([
        click.option("--stac-api", default=None, is_eager=True,
                     help=f"STAC API URL (default: Planetary Computer, {PLANETARY_COMPUTER})."),
        click.option("--source-catalog", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
                     callback=_one_source, help="Search a local static catalog instead of a STAC API."),
        click.option("--max-cloud", default=DEFAULT_MAX_CLOUD, show_default=True, type=click.FloatRange(0, 100),
                     help="Keep scenes with eo:cloud_cover below this percentage."),
    ]):
        command = option(command)
    return command
