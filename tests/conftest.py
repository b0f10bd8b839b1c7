"""Shared fixtures: the offline STAC schema folder and small, seeded chip-score grids."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: The STAC extension schemas shipped beside the repository for offline validation.
SCHEMA_DIR = Path(os.environ.get("DEVSCORE_STAC_SCHEMAS", Path(__file__).resolve().parents[2] / "shared" / "stac-schemas"))


@pytest.fixture(scope="session")
def schema_dir() -> Path:
    """Folder of STAC extension schemas (``<extension>/<version>/schema.json``)."""
    if not (SCHEMA_DIR / "README.md").exists():
        pytest.fail(f"STAC extension schemas not found at {SCHEMA_DIR}; set DEVSCORE_STAC_SCHEMAS")
    return SCHEMA_DIR


@pytest.fixture
def chip_scores() -> np.ndarray:
    """A 32 x 32 float32 score grid in [0, 1] with a few chips missing (NaN)."""
    rng = np.random.default_rng(7)
    scores = rng.random((32, 32), dtype=np.float32)
    scores[0, 5] = scores[31, 31] = scores[10, 0] = np.nan
    return scores
