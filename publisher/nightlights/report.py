"""The comparison report: a table like METHOD.md's (Markdown and CSV), a scatter plot per
granule-year and a side-by-side map of chip scores and chip night lights."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from publisher.atomic import atomic_path, atomic_write_text  # noqa: E402
from publisher.nightlights.correlate import Correlation  # noqa: E402

COLUMNS = ("item", "tile", "year", "pearson", "pearson_log1p", "spearman", "n", "nightlights_item",
           "truth_spearman", "builtup_spearman")


@dataclass(frozen=True)
class Row:
    """One granule-year of the report; ``truth_spearman`` (the ceiling: truth vs lights, where a synthetic
    truth is known) and ``builtup_spearman`` (the ranker's built-up share vs lights) when measured."""

    item: str
    tile: str
    year: int
    correlation: Correlation
    nightlights_item: str
    truth_spearman: float | None = None
    builtup_spearman: float | None = None

    def values(self) -> list:
        """Cells in COLUMNS order (empty where a reference was not measured)."""
        c = self.correlation
        optional = ["" if v is None else round(v, 4) for v in (self.truth_spearman, self.builtup_spearman)]
        return [self.item, self.tile, self.year, round(c.pearson, 4), round(c.pearson_log1p, 4),
                round(c.spearman, 4), c.n, self.nightlights_item, *optional]


def markdown_table(rows: Sequence[Row]) -> str:
    """The table as METHOD.md's: granule, year, Pearson, Pearson log1p, Spearman, chips; then, where
    measured, the ceiling (truth vs lights) and the built-up baseline (the ranker's index vs lights)."""
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| granule | year | Pearson | Pearson log1p | Spearman | chips | ceiling: truth Spearman | "
             "baseline: built-up Spearman |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.tile} | {r.year} | {r.correlation.pearson:.2f} | {r.correlation.pearson_log1p:.2f} | "
              f"{r.correlation.spearman:.2f} | {r.correlation.n} | {fmt(r.truth_spearman)} | "
              f"{fmt(r.builtup_spearman)} |" for r in rows]
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[Row], markdown: Path, table_csv: Path, title: str) -> None:
    """Write the Markdown report (title, table, figure links) and the CSV, each atomically."""
    figures = "".join(f"\n![{r.item}](scatter-{r.item}.png) ![{r.item} maps](maps-{r.item}.png)\n" for r in rows)
    atomic_write_text(markdown, f"# {title}\n\n{markdown_table(rows)}{figures}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(r.values() for r in rows)
    atomic_write_text(table_csv, buffer.getvalue())


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def scatter_png(scores: np.ndarray, radiance: np.ndarray, row: Row, path: Path) -> Path:
    """Scatter of chip radiance (log axis) against chip score, with the correlations in the title."""
    keep = np.isfinite(scores) & np.isfinite(radiance)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(scores[keep], np.maximum(radiance[keep], 1e-2), s=6, alpha=0.5, color="#3b528b", linewidths=0)
    ax.set_yscale("log")
    ax.set_xlabel("development score (chip)")
    ax.set_ylabel("night-light radiance, nW/cm2/sr (chip mean)")
    c = row.correlation
    ax.set_title(f"{row.item}: Pearson {c.pearson:.2f}, log1p {c.pearson_log1p:.2f}, Spearman {c.spearman:.2f}, "
                 f"n={c.n}", fontsize=8)
    return _save(fig, path)


def maps_png(scores: np.ndarray, radiance: np.ndarray, row: Row, path: Path) -> Path:
    """Chip scores (RdYlGn_r, 0 to 1) beside chip night lights (magma, log scale), same chip grid."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
    im = left.imshow(np.ma.masked_invalid(scores), cmap="RdYlGn_r",
                     vmin=0, vmax=1)
    left.set_title(f"scores {row.item}")
    fig.colorbar(im, ax=left, shrink=0.8)
    positive = np.where(np.isfinite(radiance), np.maximum(radiance, 1e-2), np.nan)
    vmax = max(float(np.nanmax(positive)) if np.isfinite(positive).any() else 1.0, 1.0)
    im = right.imshow(np.ma.masked_invalid(positive), cmap="magma", norm=LogNorm(vmin=1e-1, vmax=vmax))
    right.set_title("night lights, nW/cm2/sr (log scale)")
    fig.colorbar(im, ax=right, shrink=0.8)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)
