"""Pictures a person judges the clusters by: a contact sheet per cluster, a silhouette curve per category."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from publisher.atomic import atomic_path

#: Chips on a contact sheet (a square grid), the nearest to the cluster's centre first.
SHEET_CHIPS = 36


def contact_sheet(thumbs: np.ndarray, distance: np.ndarray, path: Path, gap: int = 2) -> Path:
    """A grid of up to SHEET_CHIPS thumbnails of one cluster (nearest the centre first), as PNG."""
    order = np.argsort(distance, kind="stable")[:SHEET_CHIPS]
    side = int(np.ceil(np.sqrt(len(order))))
    size = thumbs.shape[1]
    rows = int(np.ceil(len(order) / side))
    sheet = np.full((rows * (size + gap) + gap, side * (size + gap) + gap, 3), 255, np.uint8)
    for slot, chip in enumerate(order):
        y, x = gap + (slot // side) * (size + gap), gap + (slot % side) * (size + gap)
        sheet[y:y + size, x:x + size] = thumbs[chip]
    with atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")
    return path


def silhouette_plot(category: str, curve: dict[int, float], chosen: int, n_chips: int, path: Path) -> Path:
    """Silhouette score against K for one category, the chosen K marked, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    if curve:
        ks = sorted(curve)
        ax.plot(ks, [curve[k] for k in ks], marker="o")
        ax.axvline(chosen, color="tab:red", linestyle="--", label=f"chosen K = {chosen}")
        ax.legend()
    else:
        ax.text(0.5, 0.5, f"{n_chips} chips: one cluster, no K search", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("K (clusters)")
    ax.set_ylabel("silhouette score")
    ax.set_title(f"{category}: {n_chips} chips")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
