"""``devscore pog``: aggregate POGs written one per line, and show a POG with its levels' target scores."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from publisher.atomic import atomic_write_text
from publisher.cli_types import NonEmptyPath, finite
from publisher.ranking.aggregate import DEFAULT_WEIGHTING, WEIGHTINGS, aggregate
from publisher.ranking.pog import POG, POGError

log = logging.getLogger(__name__)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise POGError(f"cannot read {path}: {exc}") from None


def read_pog_lines(path: Path) -> list[POG]:
    """One POG string per line (blank lines and ``#`` comments skipped), all over clusters 0..N-1."""
    lines = [(n, ln.split("#", 1)[0].strip()) for n, ln in enumerate(_read(path).splitlines(), start=1)]
    lines = [(n, ln) for n, ln in lines if ln]
    if not lines:
        raise POGError(f"{path} holds no POG")
    pogs = []
    for number, line in lines:
        if "<" in line:
            raise POGError(f"{path} line {number}: expected a POG string like 0>1>4=3, got {line!r}")
        try:
            pogs.append(POG.parse(line))
        except POGError as exc:
            raise POGError(f"{path} line {number}: {exc}") from None
    n = max(p.n_clusters for p in pogs)
    for (number, _), pog in zip(lines, pogs):
        if pog.n_clusters != n:
            raise POGError(f"{path} line {number}: orders clusters 0..{pog.n_clusters - 1}, other lines 0..{n - 1}")
    return pogs


@click.group()
def pog() -> None:
    """Partial order graphs (POGs) of clusters, most developed first: 0>1>4=3 ('>' more developed
    than, '=' tied), or an edge list with one relation a line (1<0, 4=3=6)."""


#: Sigmas the weights can be computed with: 1/sigma^2 underflows to 0 and overflows below and above.
SIGMA_RANGE = (1e-3, 1e6)


@pog.command("aggregate")
@click.argument("file", type=NonEmptyPath(path_type=Path, dir_okay=False))
@click.option("--weighting", type=click.Choice(WEIGHTINGS), default=DEFAULT_WEIGHTING, show_default=True,
              help="robust: POGs far from the consensus weigh less (exp(-d^2/sigma^2)); published: METHOD.md's "
                   "formula, where they weigh more (1 - exp(-d^2/sigma^2)). The README's experiment compares them.")
@click.option("--levels", "n_levels", type=click.IntRange(min=1), default=7, show_default=True,
              help="Levels of the final POG (1-D K-means groups of the consensus; fewer if fewer distinct values).")
@click.option("--sigma", type=click.FloatRange(min=SIGMA_RANGE[0], max=SIGMA_RANGE[1]), default=10.0,
              show_default=True, callback=finite, help="Distance scale of the weights, in rank units.")
@click.option("--json", "json_out", type=NonEmptyPath(path_type=Path, dir_okay=False),
              help="Also write {consensus, levels, pog, targets} here.")
def aggregate_cmd(file: Path, weighting: str, n_levels: int, sigma: float, json_out: Path | None) -> None:
    """Aggregate the POGs in FILE (one POG string per line, over clusters 0..N-1) into one and print it.

    Each POG becomes fractional ranks; their weighted mean is iterated to a consensus (METHOD.md), which an
    exact 1-D K-means cuts into levels; level i of L gets the target score 1 - i/(L-1).
    """
    pogs = read_pog_lines(file)
    result = aggregate(pogs, pogs[0].n_clusters, weighting=weighting, levels=n_levels, sigma=sigma)
    log.info("aggregated %d POGs over %d clusters (%s weighting, %s after %d iterations): %d levels",
             len(pogs), pogs[0].n_clusters, weighting, "converged" if result.converged else "NOT converged",
             result.iterations, len(result.pog.levels))
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({
            "consensus": [round(float(v), 6) for v in result.consensus],
            "levels": [list(level) for level in result.pog.levels],
            "pog": result.pog.to_string(),
            "targets": [float(t) for t in result.targets],
            "weighting": weighting,
            "iterations": result.iterations,
        }) + "\n")
    click.echo(result.pog.to_string())


@pog.command("show")
@click.argument("file", type=NonEmptyPath(path_type=Path, dir_okay=False))
@click.option("--edges", is_flag=True, help="Also print the edge-list form (one relation a line).")
def show_cmd(file: Path, edges: bool) -> None:
    """Print the POG in FILE (string or edge-list form) and each level's clusters and target score."""
    graph = POG.parse(_read(file))
    levels = graph.levels
    click.echo(f"{graph.to_string()}")
    click.echo(f"{graph.n_clusters} clusters in {len(levels)} levels, most developed first:")
    targets = graph.targets()
    for i, level in enumerate(levels):
        click.echo(f"  level {i}: target {targets[level[0]]:.3f}  clusters {', '.join(map(str, level))}")
    if edges:
        click.echo(graph.to_edges(), nl=False)
