"""Command-line options shared by the imagery commands (synth, acquire, chips)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import click

from publisher.cli_types import NonEmptyPath
from publisher.constants import DEFAULT_MAX_CLOUD, FIRST_YEAR, LAST_YEAR, PLANETARY_COMPUTER

#: A calendar year the imagery commands accept.
YEAR = click.IntRange(FIRST_YEAR, LAST_YEAR)


def comma_list(kind: type | click.ParamType, name: str | None = None
               ) -> Callable[[click.Context, click.Parameter, str], list]:
    """A click callback turning ``"a,b"`` into ``[kind(a), kind(b)]`` (repeats dropped), a usage error
    naming the value when one does not convert or when there is none at all (``name``: what a value is)."""
    param_type = click.types.convert_type(kind)
    name = name or getattr(kind, "__name__", param_type.name)

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> list:
        parts = [v.strip() for v in value.split(",") if v.strip()]
        if not parts:
            raise click.BadParameter(f"{value!r} gives no value; expected a comma-separated list of {name} values")
        try:
            values = [param_type.convert(v, param, ctx) for v in parts]
        except click.BadParameter as exc:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of {name} values "
                                     f"({exc.message})") from exc
        return list(dict.fromkeys(values))

    return parse


def _url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("an empty URL is not allowed (leave the option out for Planetary Computer)")
    return value


def _one_source(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and ctx.params.get("stac_api"):
        raise click.UsageError("give --stac-api or --source-catalog, not both")
    return value


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if math.isnan(value):
        raise click.BadParameter("must be a number from 0 to 100, not nan")
    return value


def search_options(command: Callable) -> Callable:
    """--stac-api, --source-catalog and --max-cloud: where to search for scenes and which to keep."""
    for option in reversed([
        click.option("--stac-api", default=None, is_eager=True, callback=_url,
                     help=f"STAC API URL (default: Planetary Computer, {PLANETARY_COMPUTER})."),
        click.option("--source-catalog", type=NonEmptyPath(path_type=Path, file_okay=False, exists=True), default=None,
                     callback=_one_source, help="Search a local static catalog instead of a STAC API."),
        click.option("--max-cloud", default=DEFAULT_MAX_CLOUD, show_default=True, type=click.FloatRange(0, 100),
                     callback=_finite, help="Keep scenes with eo:cloud_cover below this percentage."),
    ]):
        command = option(command)
    return command
