"""Read and check a chip-score table (CSV or Parquet) and split it into granule-years.

One granule-year is one MGRS tile and the calendar year of its scene's datetime; it holds a
32 x 32 grid of chip scores where chips absent from the table are NaN (nodata, not zero).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from publisher.constants import CHIPS_PER_SIDE, SCORE_MAX, SCORE_MIN
from publisher.errors import DevscoreError
from publisher.grid import TileGrid, TileIdError

REQUIRED_COLUMNS = ("tile", "datetime", "row", "col", "score")
OPTIONAL_COLUMNS = ("scene_id", "chip_scene")
#: How many offending rows an error message lists before it says "and N more".
MAX_ROWS_IN_MESSAGE = 8


class ScoreTableError(DevscoreError, ValueError):
    """A chip-score table that cannot be published as it is."""


@dataclass(frozen=True, eq=False)
class GranuleYear:
    """The chip scores of one MGRS tile in one calendar year, from one source scene."""

    tile: str
    year: int
    datetime: dt.datetime
    scene_id: str | None
    scores: np.ndarray = field(repr=False)
    #: (32, 32) scene id of each chip where gaps were filled from other scenes of the year (None: all ``scene_id``).
    chip_scenes: np.ndarray | None = field(default=None, repr=False)

    @property
    def coverage(self) -> float:
        """Share of the granule's chips with a score."""
        return float(np.mean(~np.isnan(self.scores)))

    @property
    def id(self) -> str:
        """STAC Item id, ``{tile}-{year}``."""
        return f"{self.tile}-{self.year}"

    @property
    def grid(self) -> TileGrid:
        """The granule's 10 m grid."""
        return TileGrid.from_tile_id(self.tile)


def _load(path: Path) -> tuple[pd.DataFrame, str]:
    """Load the table; returns it and the word that numbers its rows in messages."""
    if not path.exists():
        raise ScoreTableError(f"chip-score table {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq", ".geoparquet"):
            return pd.read_parquet(path), "row"
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path, dtype={"tile": str, "scene_id": str}), "line"
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ScoreTableError(f"cannot read chip-score table {path}: {exc}") from exc
    raise ScoreTableError(f"chip-score table {path} must be .csv or .parquet, not {suffix!r}")


def _rows(mask: pd.Series, unit: str) -> str:
    """Human row numbers of the True entries: CSV line numbers (header is line 1) or Parquet rows."""
    idx = np.flatnonzero(mask.to_numpy())
    numbers = idx + 2 if unit == "line" else idx
    shown = ", ".join(str(n) for n in numbers[:MAX_ROWS_IN_MESSAGE])
    more = len(numbers) - MAX_ROWS_IN_MESSAGE
    return f"{unit}{'s' if len(numbers) > 1 else ''} {shown}" + (f" and {more} more" if more > 0 else "")


def _check_columns(df: pd.DataFrame, path: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ScoreTableError(
            f"{path.name}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (need {', '.join(REQUIRED_COLUMNS)}; optional scene_id)"
        )
    if df.empty:
        raise ScoreTableError(f"{path.name}: the table has no rows")


def _parse(df: pd.DataFrame, path: Path, unit: str) -> pd.DataFrame:
    """Normalise types and reject bad values, naming the offending rows."""
    out = pd.DataFrame(index=df.index)
    out["tile"] = df["tile"].astype(str).str.strip().str.upper().str.removeprefix("T")
    times = pd.to_datetime(df["datetime"], errors="coerce", utc=True, format="ISO8601")
    bad = times.isna()
    if bad.any():
        raise ScoreTableError(f"{path.name}: datetime is not an ISO date or datetime at {_rows(bad, unit)}")
    out["datetime"] = times
    for name in ("row", "col"):
        values = pd.to_numeric(df[name], errors="coerce")
        bad = values.isna() | (values % 1 != 0) | (values < 0) | (values >= CHIPS_PER_SIDE)
        if bad.any():
            raise ScoreTableError(
                f"{path.name}: {name} must be an integer in 0..{CHIPS_PER_SIDE - 1} at {_rows(bad, unit)}"
            )
        out[name] = values.astype(int)
    score = pd.to_numeric(df["score"], errors="coerce")
    bad = score.isna() | (score < SCORE_MIN) | (score > SCORE_MAX)
    if bad.any():
        raise ScoreTableError(
            f"{path.name}: score must be a number in [{SCORE_MIN:g}, {SCORE_MAX:g}] "
            f"(not NaN) at {_rows(bad, unit)}"
        )
    out["score"] = score.astype(np.float32)
    if "scene_id" in df.columns:
        out["scene_id"] = df["scene_id"].astype(object).where(df["scene_id"].notna(), None)
    else:
        out["scene_id"] = None
    if "chip_scene" in df.columns:
        out["chip_scene"] = df["chip_scene"].astype(object).where(df["chip_scene"].notna(), None)
    for tile in out["tile"].unique():
        try:
            TileGrid.from_tile_id(tile)
        except TileIdError as exc:
            raise ScoreTableError(f"{path.name}: {exc} at {_rows(out['tile'] == tile, unit)}") from exc
    out["year"] = out["datetime"].dt.year
    return out


def _check_consistency(df: pd.DataFrame, path: Path, unit: str) -> None:
    dup = df.duplicated(["tile", "year", "row", "col"], keep=False)
    if dup.any():
        raise ScoreTableError(f"{path.name}: duplicate chips (same tile, year, row, col) at {_rows(dup, unit)}")
    scene_key = df["datetime"].astype("int64").astype(str) + "|" + df["scene_id"].map(lambda v: v or "")
    n_scenes = scene_key.groupby([df["tile"], df["year"]]).transform("nunique")
    mixed = n_scenes > 1
    if mixed.any():
        first = df[mixed].iloc[0]
        raise ScoreTableError(
            f"{path.name}: granule-year {first['tile']}-{first['year']} mixes scenes "
            f"(different datetime or scene_id) at {_rows(mixed, unit)}; one granule-year needs one scene"
        )


def read_chip_scores(path: str | Path) -> list[GranuleYear]:
    """Read a chip-score table and return its granule-years, sorted by id."""
    path = Path(path)
    raw, unit = _load(path)
    _check_columns(raw, path)
    df = _parse(raw.reset_index(drop=True), path, unit)
    _check_consistency(df, path, unit)
    granules = []
    for (tile, year), group in df.groupby(["tile", "year"], sort=True):
        scores = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), np.nan, dtype=np.float32)
        scores[group["row"].to_numpy(), group["col"].to_numpy()] = group["score"].to_numpy()
        first = group.iloc[0]
        chip_scenes = None
        if "chip_scene" in group.columns and group["chip_scene"].notna().any():
            chip_scenes = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), None, dtype=object)
            chip_scenes[group["row"].to_numpy(), group["col"].to_numpy()] = group["chip_scene"].to_numpy()
        granules.append(
            GranuleYear(
                tile=str(tile),
                year=int(year),
                datetime=first["datetime"].to_pydatetime(),
                scene_id=None if first["scene_id"] is None else str(first["scene_id"]),
                scores=scores,
                chip_scenes=chip_scenes,
            )
        )
    return granules


def scores_to_table(granules: list[GranuleYear]) -> pd.DataFrame:
    """The inverse of :func:`read_chip_scores`: one row per scored chip (used by demo and tests)."""
    frames = []
    for g in granules:
        rows, cols = np.nonzero(~np.isnan(g.scores))
        frames.append(
            pd.DataFrame(
                {
                    "tile": g.tile,
                    "datetime": g.datetime.isoformat().replace("+00:00", "Z"),
                    "row": rows,
                    "col": cols,
                    "score": g.scores[rows, cols],
                    "scene_id": g.scene_id,
                    **({"chip_scene": g.chip_scenes[rows, cols]} if g.chip_scenes is not None else {}),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
