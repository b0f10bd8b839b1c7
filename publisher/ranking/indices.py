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
SMOOTH_TEXTURE = 0.045
FOREST_VEGETATION = 0.25
#: Built-up share at which the heuristic's development scale is logarithmic rather than linear: shares
#: well above it are judged by their ratios (2 % -> 4 % -> 8 % built-up are equal steps), as a person
#: judges settlement density.
BUILTUP_SCALE = 0.01


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
    urban when ``B >= URBAN_BUILTUP``; else, where the land is smooth at the pixel scale
    (``T < SMOOTH_TEXTURE``: no field mosaic, no roofs), mountain when it is forested
    (``V >= FOREST_VEGETATION``) and highland (bare rock, snow) when not; else rural."""
    builtup, vegetation, texture, _ = indices.T
    smooth = texture < SMOOTH_TEXTURE
    return np.select(
        [builtup >= URBAN_BUILTUP, smooth & (vegetation >= FOREST_VEGETATION), smooth],
        [0, 2, 3], default=1)


def heuristic_development(indices: np.ndarray) -> np.ndarray:
    """Heuristic development score in [0, 100] of every chip, ``100 ln(1 + B / b) / ln(1 + 1 / b)`` with
    b = ``BUILTUP_SCALE``: 0 for no roofs, 100 for a chip of roofs. A linear ``100 B`` would put every
    village and field (B of 2-8 %) within the POG rule's 10-point tie window, so the countryside
    would become one tie group; an annotator spreads those over the scale, and so does the log."""
    share = np.clip(indices[:, 0], 0.0, 1.0)
    return 100.0 * np.log1p(share / BUILTUP_SCALE) / np.log1p(1.0 / BUILTUP_SCALE)


def index_features(indices: np.ndarray) -> np.ndarray:
    """Indices standardised to zero mean and unit variance per column (what K-means clusters on
    when ``--features indices``), the built-up share first taken as ``ln(B + b)``: it is heavy-tailed
    (most chips 2-8 %, towns up to 100 %), and standardised as it is, the towns' spread would leave
    the villages' differences too small for K-means to split on."""
    features = indices.astype(np.float64, copy=True)
    features[:, 0] = np.log(np.clip(features[:, 0], 0.0, 1.0) + BUILTUP_SCALE)
    std = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)
