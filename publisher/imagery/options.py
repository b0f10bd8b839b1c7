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

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> list | None:
        if value is None:  # an optional list left out
            return None
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


class YearList(click.ParamType):
    """Calendar years as users write them: ``2021``, ``2020,2022`` or ranges ``2020-2024`` (mixed freely);
    sorted, repeats dropped, each within FIRST_YEAR..LAST_YEAR."""

    name = "years"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        years: set[int] = set()
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        if not parts:
            self.fail(f"{value!r} gives no value; expected years like 2021, 2020,2022 or 2020-2024", param, ctx)
        for part in parts:
            first, _, last = part.partition("-")
            try:
                lo, hi = int(first), int(last or first)
            except ValueError:
                self.fail(f"{part!r} is not a year or a range of years like 2020-2024", param, ctx)
            if lo > hi:
                self.fail(f"{part!r} runs backwards; write the earlier year first ({hi}-{lo})", param, ctx)
            for year in (lo, hi):
                if not FIRST_YEAR <= year <= LAST_YEAR:
                    self.fail(f"{year} is not in the range {FIRST_YEAR}<=x<={LAST_YEAR}", param, ctx)
            years.update(range(lo, hi + 1))
        return sorted(years)


#: Year lists with ranges, for every option that takes several years.
YEARS = YearList()


class BBoxType(click.ParamType):
    """``W,S,E,N`` in WGS84 degrees (``publisher.regions.BBox``)."""

    name = "W,S,E,N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from publisher.regions import BBox, BBoxError

        if isinstance(value, BBox):
            return value
        try:
            return BBox.parse(str(value))
        except BBoxError as exc:
            self.fail(str(exc), param, ctx)


def bbox_option(command: Callable) -> Callable:
    """--bbox W,S,E,N: the MGRS tiles covering a WGS84 box, instead of naming them."""
    return click.option("--bbox", type=BBoxType(), default=None,
                        help="WGS84 box W,S,E,N in degrees; its covering MGRS tiles are used "
                             "(list them with `devscore tiles --bbox`).")(command)


def tiles_of(tiles: list[str] | None, bbox: Any, tile_option: str = "--tiles") -> list[str]:
    """The tiles named, or those covering ``bbox``: exactly one of the two (a usage error otherwise)."""
    if tiles and bbox is not None:
        raise click.UsageError(f"give {tile_option} or --bbox, not both")
    if bbox is not None:
        from publisher.regions import tiles_for_bbox

        return tiles_for_bbox(bbox)
    if not tiles:
        raise click.UsageError(f"give {tile_option} (MGRS tiles) or --bbox W,S,E,N")
    return [t.upper() for t in tiles]


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
