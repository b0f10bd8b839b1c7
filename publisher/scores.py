"""Read and check a chip-score table (CSV or Parquet) and split it into granule-years.

One granule-year is one MGRS tile and the calendar year of its scene's datetime; it holds a
32 x 32 grid of chip scores where chips absent from the table are NaN (nodata, not zero), and the grid
its chips were cut from: the optional columns ``epsg``, ``chip_transform`` (the chips file's affine of
the 32 x 32 chip grid, six numbers) and ``chip_px`` (chip side in source pixels), which ``devscore score``
writes. A table without them is on the method's layout: the 10 m grid, 343 px chips. The optional
``uncertainty`` column (the scorer ensemble's spread, ``publisher/scoring/ensemble.py``) is kept per chip.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine

from publisher.constants import CHIPS_PER_SIDE, FIRST_YEAR, LAST_YEAR, SCORE_MAX, SCORE_MIN, SERVED_YEARS
from publisher.errors import DevscoreError
from publisher.grid import ChipGrid, ChipGridError, TileGrid, TileIdError

REQUIRED_COLUMNS = ("tile", "datetime", "row", "col", "score")
#: Where the chips were cut: all three or none.
GEOMETRY_COLUMNS = ("epsg", "chip_transform", "chip_px")
#: Each chip's spread over the scorer ensemble (score units, >= 0; NaN where unknown).
UNCERTAINTY_COLUMN = "uncertainty"
OPTIONAL_COLUMNS = ("scene_id", "chip_scene", UNCERTAINTY_COLUMN, *GEOMETRY_COLUMNS)
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
    #: The grid the chips were cut from; None means the method's 10 m layout (``grid.chips``).
    cut: ChipGrid | None = field(default=None, repr=False)
    #: (32, 32) scene id of each chip where gaps were filled from other scenes of the year (None: all ``scene_id``).
    chip_scenes: np.ndarray | None = field(default=None, repr=False)
    #: (32, 32) spread of each chip's score over the scorer ensemble (NaN where unknown); None without one.
    uncertainty: np.ndarray | None = field(default=None, repr=False)

    @property
    def coverage(self) -> float:
        """Share of the granule's chips with a score."""
        return float(np.mean(~np.isnan(self.scores)))

    @property
    def id(self) -> str:
        """STAC Item id, ``{tile}-{year}``."""
        return f"{self.tile}-{self.year}"

    @property
    def chip_grid(self) -> ChipGrid:
        """The grid the chips were cut from: what the COG is painted on and every chip footprint comes from."""
        return self.cut if self.cut is not None else self.grid.chips

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
    if UNCERTAINTY_COLUMN in df.columns:
        spread = pd.to_numeric(df[UNCERTAINTY_COLUMN], errors="coerce")
        bad = (df[UNCERTAINTY_COLUMN].notna() & spread.isna()) | (spread < 0) | np.isinf(spread)
        if bad.any():
            raise ScoreTableError(f"{path.name}: uncertainty must be a number >= 0 or empty at {_rows(bad, unit)}")
        out[UNCERTAINTY_COLUMN] = spread.astype(np.float32)
    for tile in out["tile"].unique():
        try:
            TileGrid.from_tile_id(tile)
        except TileIdError as exc:
            raise ScoreTableError(f"{path.name}: {exc} at {_rows(out['tile'] == tile, unit)}") from exc
    out["year"] = out["datetime"].dt.year
    _parse_geometry(df, out, path, unit)
    return out


def format_chip_transform(chip_transform: Affine) -> str:
    """The ``chip_transform`` column: the six affine coefficients a, b, c, d, e, f, space separated, exact."""
    return " ".join(repr(float(v)) for v in tuple(chip_transform)[:6])


def geometry_columns(epsg: int, chip_transform: Affine, chip_px: int) -> dict:
    """The geometry columns of one granule-year's rows (what ``devscore score`` writes beside the scores)."""
    return {"epsg": int(epsg), "chip_transform": format_chip_transform(chip_transform), "chip_px": int(chip_px)}


def _parse_geometry(df: pd.DataFrame, out: pd.DataFrame, path: Path, unit: str) -> None:
    """Check the geometry columns (all three or none, complete) and copy them into ``out``."""
    present = [c for c in GEOMETRY_COLUMNS if c in df.columns]
    if not present:
        return
    if len(present) < len(GEOMETRY_COLUMNS):
        missing = ", ".join(c for c in GEOMETRY_COLUMNS if c not in present)
        raise ScoreTableError(f"{path.name}: the chip-grid columns come together ({', '.join(GEOMETRY_COLUMNS)}); "
                              f"missing {missing}")
    absent = df[list(GEOMETRY_COLUMNS)].isna().all(axis=1)  # rows of chips files that recorded no grid
    epsg = pd.to_numeric(df["epsg"], errors="coerce")
    chip_px = pd.to_numeric(df["chip_px"], errors="coerce")
    coefficients = df["chip_transform"].map(_coefficients)
    bad = ~absent & (epsg.isna() | (epsg % 1 != 0) | chip_px.isna() | (chip_px % 1 != 0) | (chip_px < 1)
                     | coefficients.isna())
    if bad.any():
        raise ScoreTableError(f"{path.name}: epsg and chip_px must be integers and chip_transform six numbers "
                              f"(a b c d e f) at {_rows(bad, unit)}")
    out["epsg"] = epsg.where(~absent, -1).astype(int)
    out["chip_px"] = chip_px.where(~absent, -1).astype(int)
    out["chip_transform"] = coefficients.where(~absent, None)


def _coefficients(text: object) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in str(text).replace(",", " ").split())
    except ValueError:
        return None
    return values if len(values) == 6 and all(np.isfinite(values)) else None


def _chip_grid(tile: str, year: int, group: pd.DataFrame, path: Path, unit: str, mask: pd.Series) -> ChipGrid | None:
    """The one chip grid of a granule-year's rows (None when the table records none)."""
    if "chip_px" not in group.columns:
        return None
    keys = group[list(GEOMETRY_COLUMNS)].drop_duplicates()
    if len(keys) > 1:
        raise ScoreTableError(f"{path.name}: granule-year {tile}-{year} mixes chip grids ({', '.join(GEOMETRY_COLUMNS)}) "
                              f"at {_rows(mask, unit)}; one granule-year is cut from one grid")
    epsg, coefficients, chip_px = keys.iloc[0]
    if chip_px < 0:
        return None
    tile_grid = TileGrid.from_tile_id(tile)
    if epsg != tile_grid.epsg:
        raise ScoreTableError(f"{path.name}: the chips of {tile}-{year} are said to be cut on EPSG:{epsg}, but tile "
                              f"{tile} is in EPSG:{tile_grid.epsg} at {_rows(mask, unit)}")
    try:
        return ChipGrid.from_chip_transform(tile_grid, Affine(*coefficients), int(chip_px))
    except ChipGridError as exc:
        raise ScoreTableError(f"{path.name}: {tile}-{year}: {exc} at {_rows(mask, unit)}") from None


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


def _check_years(df: pd.DataFrame, path: Path, unit: str, any_year: bool) -> None:
    """Refuse scene years outside Sentinel-2's era (FIRST_YEAR..LAST_YEAR) unless ``any_year``, and
    always outside SERVED_YEARS (the server could not serve them)."""
    low, high = SERVED_YEARS if any_year else (FIRST_YEAR, LAST_YEAR)
    bad = (df["year"] < low) | (df["year"] > high)
    if bad.any():
        hint = "" if any_year else " (Sentinel-2's era; --any-year publishes other years on purpose)"
        raise ScoreTableError(f"{path.name}: the datetime's year must be in {low}..{high}{hint} at {_rows(bad, unit)}")


def read_chip_scores(path: str | Path, any_year: bool = False) -> list[GranuleYear]:
    """Read a chip-score table and return its granule-years, sorted by id (years outside Sentinel-2's
    era are refused unless ``any_year``)."""
    path = Path(path)
    raw, unit = _load(path)
    _check_columns(raw, path)
    df = _parse(raw.reset_index(drop=True), path, unit)
    _check_years(df, path, unit, any_year)
    _check_consistency(df, path, unit)
    granules = []
    for (tile, year), group in df.groupby(["tile", "year"], sort=True):
        scores = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), np.nan, dtype=np.float32)
        scores[group["row"].to_numpy(), group["col"].to_numpy()] = group["score"].to_numpy()
        first = group.iloc[0]
        mask = (df["tile"] == tile) & (df["year"] == year)
        chip_scenes = None
        if "chip_scene" in group.columns and group["chip_scene"].notna().any():
            chip_scenes = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), None, dtype=object)
            chip_scenes[group["row"].to_numpy(), group["col"].to_numpy()] = group["chip_scene"].to_numpy()
        spread = None
        if UNCERTAINTY_COLUMN in group.columns and group[UNCERTAINTY_COLUMN].notna().any():
            spread = np.full((CHIPS_PER_SIDE, CHIPS_PER_SIDE), np.nan, dtype=np.float32)
            spread[group["row"].to_numpy(), group["col"].to_numpy()] = group[UNCERTAINTY_COLUMN].to_numpy()
        granules.append(
            GranuleYear(
                tile=str(tile),
                year=int(year),
                datetime=first["datetime"].to_pydatetime(),
                scene_id=None if first["scene_id"] is None else str(first["scene_id"]),
                scores=scores,
                cut=_chip_grid(str(tile), int(year), group, path, unit, mask),
                chip_scenes=chip_scenes,
                uncertainty=spread,
            )
        )
    return granules


def scores_to_table(granules: list[GranuleYear]) -> pd.DataFrame:
    """The inverse of :func:`read_chip_scores`: one row per scored chip (used by demo and tests)."""
    frames = []
    for g in granules:
        rows, cols = np.nonzero(~np.isnan(g.scores))
        geometry = {} if g.cut is None else geometry_columns(g.cut.epsg, g.cut.chip_transform, g.cut.chip_px)
        frames.append(
            pd.DataFrame(
                {
                    "tile": g.tile,
                    "datetime": g.datetime.isoformat().replace("+00:00", "Z"),
                    "row": rows,
                    "col": cols,
                    "score": g.scores[rows, cols],
                    "scene_id": g.scene_id,
                    **geometry,
                    **({"chip_scene": g.chip_scenes[rows, cols]} if g.chip_scenes is not None else {}),
                    **({UNCERTAINTY_COLUMN: g.uncertainty[rows, cols]} if g.uncertainty is not None else {}),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
