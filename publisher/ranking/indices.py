"""Transparent pixel indices of chips, and the heuristic categories and development score built
from them (the offline stand-in for a VLM; the formulas are stated in the README).

- built-up share ``B``: :func:`publisher.imagery.builtup.builtup_share`, the share of roof and
  paved pixels.
- vegetation ``V``: mean excess-green index ``(2G - R - B) / (R + G + B)`` (Woebbecke et al. 1995).
- texture ``T``: mean absolute luminance difference between neighbouring pixels, / 255.
- brightness ``L``: mean luminance ``0.299 R + 0.587 G + 0.114 B``, / 255.
"""

from __future__ import annotations

import numpy as np

from publisher.imagery.builtup import builtup_share

#: Column order of :func:`chip_indices`.
INDEX_NAMES = ("builtup", "vegetation", "texture", "brightness")
#: Heuristic category thresholds (see :func:`heuristic_categories`).
URBAN_BUILTUP = 0.25
FOREST_VEGETATION, FOREST_BRIGHTNESS = 0.10, 0.35
BARE_VEGETATION = 0.02


def chip_indices(chips: np.ndarray) -> np.ndarray:
    """(n, 4) float64 indices (builtup, vegetation, texture, brightness) of (n, s, s, 3) uint8 chips."""
    out = np.zeros((len(chips), len(INDEX_NAMES)))
    for i in range(0, len(chips), 128):
        block = chips[i:i + 128].astype(np.float32)
        r, g, b = block[..., 0], block[..., 1], block[..., 2]
        luminance = 0.299 * r + 0.587 * g + 0.114 * b
        exg = (2 * g - r - b) / np.maximum(r + g + b, 1.0)
        texture = (np.abs(np.diff(luminance, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(luminance, axis=2)).mean(axis=(1, 2))) / 2
        out[i:i + 128, 1] = exg.mean(axis=(1, 2))
        out[i:i + 128, 2] = texture / 255.0
        out[i:i + 128, 3] = luminance.mean(axis=(1, 2)) / 255.0
    out[:, 0] = builtup_share(chips)
    return out


def heuristic_categories(indices: np.ndarray) -> np.ndarray:
    """Category index (0 urban, 1 rural, 2 mountain, 3 highland) of every chip by fixed rules:
    urban when ``B >= URBAN_BUILTUP``; else mountain (forest) when ``V >= FOREST_VEGETATION`` and
    ``L < FOREST_BRIGHTNESS``; else highland (bare rock, snow) when ``V < BARE_VEGETATION``; else rural."""
    builtup, vegetation, _, brightness = indices.T
    return np.select(
        [builtup >= URBAN_BUILTUP,
         (vegetation >= FOREST_VEGETATION) & (brightness < FOREST_BRIGHTNESS),
         vegetation < BARE_VEGETATION],
        [0, 2, 3], default=1)


def heuristic_development(indices: np.ndarray) -> np.ndarray:
    """Heuristic development score in [0, 100] of every chip: ``100 * B``."""
    return 100.0 * np.clip(indices[:, 0], 0.0, 1.0)


def index_features(indices: np.ndarray) -> np.ndarray:
    """Indices standardised to zero mean and unit variance per column (what K-means clusters on
    when ``--features indices``)."""
    std = indices.std(axis=0)
    return (indices - indices.mean(axis=0)) / np.where(std > 0, std, 1.0)
