"""Training data: the ranking folder's clusters and targets joined to the chips, a seeded 80/20 split by
chip, and batches balanced over every level and every cluster of the POG (tie groups included)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from publisher.constants import DEFAULT_BANDS, GRAY_CACHE_MB
from publisher.errors import DevscoreError
from publisher.imagery.chipfiles import chips_fingerprint, list_chip_files
from publisher.scoring.chipsource import ChipSource


class RankingError(DevscoreError):
    """A ranking folder that cannot supervise these chips."""


@dataclass(frozen=True)
class Ranking:
    """What `devscore rank` decided: the POG, its levels (most developed first) and each cluster's target."""

    pog: str
    levels: list[list[int]]
    targets: dict[int, float]
    chips_fingerprint: str
    clusters: pd.DataFrame  # tile, year, row, col, cluster (usable chips only)


def load_ranking(folder: str | Path) -> Ranking:
    """Read ``clusters.parquet`` and ``targets.json`` and check that they agree with each other."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "targets.json").read_text())
        clusters = pd.read_parquet(folder / "clusters.parquet", columns=["tile", "year", "row", "col", "cluster"])
    except FileNotFoundError as exc:
        raise RankingError(f"ranking folder {folder} lacks {Path(exc.filename).name} (run `devscore rank` first)") from None
    except (ValueError, OSError, KeyError) as exc:
        raise RankingError(f"ranking folder {folder}: unreadable ({str(exc).splitlines()[0][:150]})") from None
    try:
        levels = [[int(c) for c in level] for level in meta["levels"]]
        targets = {int(k): float(v) for k, v in meta["targets"].items()}
        ranking = Ranking(str(meta["pog"]), levels, targets, str(meta["chips_fingerprint"]), clusters)
    except (KeyError, TypeError, ValueError) as exc:
        raise RankingError(f"{folder / 'targets.json'}: missing or malformed field ({exc})") from None
    on_levels = {c for level in levels for c in level}
    if len(levels) < 2:
        raise RankingError(f"{folder / 'targets.json'}: the POG has {len(levels)} level(s); training needs at least 2")
    if on_levels != set(targets):
        raise RankingError(f"{folder / 'targets.json'}: levels and targets name different clusters")
    unknown = sorted(set(clusters["cluster"].astype(int)) - on_levels)
    if unknown:
        raise RankingError(f"{folder / 'clusters.parquet'}: clusters {unknown[:5]} are on no level of the POG")
    empty = sorted(on_levels - set(clusters["cluster"].astype(int)))
    if empty:
        raise RankingError(f"{folder / 'clusters.parquet'}: POG clusters {empty[:5]} have no chip")
    return ranking


@dataclass
class ChipData:
    """Every ranked chip with its cluster, level and target; the pixels stay in the chip files and are read a
    batch at a time (:meth:`images`)."""

    source: ChipSource
    cluster: np.ndarray  # (n,) int
    level: np.ndarray  # (n,) int, 0 = most developed
    target: np.ndarray  # (n,) float32
    keys: pd.DataFrame  # tile, year, row, col

    def images(self, idx: np.ndarray) -> torch.Tensor:
        """uint8 chips at the model's input side: (len(idx), S, S) grayscale or (len(idx), 3, S, S) RGB."""
        return self.source.images(idx)


def load_training_chips(ranking: Ranking, chips_dir: str | Path, input_size: int,
                        cache_mb: float = GRAY_CACHE_MB, bands: str = DEFAULT_BANDS) -> ChipData:
    """The chips the ranking clustered, refused when the ranking was made from other chips. Only their flags
    and positions are read here; ``cache_mb`` bounds the converted chips kept between batches; ``bands``:
    the scorer's input (publisher.constants.BANDS)."""
    fingerprint = chips_fingerprint(chips_dir)
    if fingerprint != ranking.chips_fingerprint:
        raise RankingError(f"the ranking was made from other chips than {chips_dir} (chips fingerprint "
                           f"{ranking.chips_fingerprint[:12]} in targets.json, {fingerprint[:12]} here)")
    level_of = {c: i for i, level in enumerate(ranking.levels) for c in level}
    wanted = ranking.clusters.copy()
    wanted["year"] = wanted["year"].astype(int)
    readers, file_of, in_file, parts = [], [], [], []
    for chip_file in list_chip_files(chips_dir):
        rows = wanted[(wanted["tile"] == chip_file.tile) & (wanted["year"] == chip_file.year)]
        if rows.empty:
            continue
        chips = chip_file.load(lazy=True)
        index = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(chips.rows, chips.cols))}
        try:
            picks = np.array([index[(int(r), int(c))] for r, c in zip(rows["row"], rows["col"])])
        except KeyError as exc:
            raise RankingError(f"clusters.parquet names chip {exc.args[0]} of {chip_file.id}, which is not there") from None
        if (chips.flags[picks] != 0).any():
            raise RankingError(f"clusters.parquet names flagged chips of {chip_file.id}")
        file_of.append(np.full(len(picks), len(readers)))
        in_file.append(picks)
        readers.append(chips.chips)
        parts.append(rows)
    if not parts:
        raise RankingError(f"no chip of {chips_dir} is in the ranking")
    keys = pd.concat(parts, ignore_index=True)
    cluster = keys["cluster"].to_numpy(dtype=np.int64)
    return ChipData(
        source=ChipSource(readers, np.concatenate(file_of), np.concatenate(in_file), input_size, cache_mb, bands),
        cluster=cluster, level=np.array([level_of[c] for c in cluster], dtype=np.int64),
        target=np.array([ranking.targets[c] for c in cluster], dtype=np.float32),
        keys=keys[["tile", "year", "row", "col"]],
    )


def split_by_chip(levels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) chip indices, stratified by POG level: ``val_fraction`` of each level's chips
    held out (a seeded permutation), at least one chip on each side of every level that has two, so a
    small level is neither untrained nor unvalidated."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for level in np.unique(levels):
        members = rng.permutation(np.flatnonzero(levels == level))
        n_val = int(round(len(members) * val_fraction))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


class BalancedSampler:
    """Draws chip indices level first, then cluster within the level, then chip within the cluster, so every
    level and every cluster of a tie group is seen equally often whatever their sizes."""

    def __init__(self, chips: ChipData, subset: np.ndarray, n_levels: int) -> None:
        self.n_levels = n_levels
        by_level: list[list[np.ndarray]] = [[] for _ in range(n_levels)]
        for cluster in np.unique(chips.cluster[subset]):
            members = subset[chips.cluster[subset] == cluster]
            by_level[int(chips.level[members[0]])].append(members)
        missing = [i for i, clusters in enumerate(by_level) if not clusters]
        if missing:
            raise RankingError(f"level(s) {missing} of the POG have no chip in this split; too few chips to train")
        self.by_level = by_level

    def level_batch(self, level: int, size: int, generator: torch.Generator) -> np.ndarray:
        """``size`` chips of one level, its clusters drawn uniformly."""
        clusters = self.by_level[level]
        which = torch.randint(len(clusters), (size,), generator=generator).numpy()
        picks = torch.rand(size, generator=generator).numpy()
        return np.array([clusters[c][int(p * len(clusters[c]))] for c, p in zip(which, picks)], dtype=np.int64)

    def mixed_batch(self, size: int, generator: torch.Generator) -> np.ndarray:
        """``size`` chips over all levels (levels drawn uniformly)."""
        levels = torch.randint(self.n_levels, (size,), generator=generator).numpy()
        return np.concatenate([self.level_batch(int(lv), 1, generator) for lv in levels])

    def path_batch(self, size: int, generator: torch.Generator) -> np.ndarray:
        """(levels, size) chips: one batch per level along the POG path, least developed level first."""
        return np.stack([self.level_batch(lv, size, generator) for lv in reversed(range(self.n_levels))])


def augment(chips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random 90-degree rotation and horizontal flip of each (S, S) or (C, S, S) chip (training only)."""
    turns = torch.randint(4, (chips.shape[0],), generator=generator)
    flips = torch.randint(2, (chips.shape[0],), generator=generator)
    out = torch.empty_like(chips)
    for i in range(chips.shape[0]):
        chip = torch.rot90(chips[i], int(turns[i]), dims=(-2, -1))
        out[i] = chip.flip(-1) if flips[i] else chip
    return out
