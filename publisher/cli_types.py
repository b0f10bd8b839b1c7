"""Click parameter types every devscore command shares: paths that refuse an empty string, numbers that
refuse nan and infinity."""

from __future__ import annotations

import math
from typing import Any

import click


class NonEmptyPath(click.Path):
    """``click.Path`` that refuses ``''``: an empty argument is a mistake (an unset shell variable),
    not the current folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path is not allowed", param, ctx)
        return super().convert(value, param, ctx)


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Click callback refusing nan and infinity (FloatRange lets both through)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, not {value}")
    return value
