"""Partial order graphs (POGs) of clusters: parse and write both file forms, fractional ranks, targets.

A POG orders clusters by development with ties, as levels, most developed first. The string form is
``0>1>4=3`` (one line); the edge-list form has one relation a line (``1<0``: 1 is less developed than
0; ``4=3=6``: a tie), as the reference's ``graph_config`` files are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from publisher.errors import DevscoreError

_ID = re.compile(r"\d+")
_OPS = re.compile(r"\s*([<>=])\s*")


class POGError(DevscoreError):
    """A POG text that is not one consistent order (its message names the relation at fault)."""


@dataclass(frozen=True)
class POG:
    """Clusters ordered by development as levels (tuples of cluster ids), most developed first."""

    levels: tuple[tuple[int, ...], ...]

    # ----------------------------------------------------------------- reading
    @classmethod
    def parse(cls, text: str, n_clusters: int | None = None) -> "POG":
        """Read either form; with ``n_clusters`` every id 0..n-1 must appear, else ids must be 0..max.

        A single line without ``<`` is the string form (each cluster once); anything else is an edge
        list, whose incomparable clusters land on the level their longest chain from the top gives.
        """
        lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines:
            raise POGError("empty POG: no relation found")
        if len(lines) == 1 and "<" not in lines[0]:
            pog = cls._parse_string(lines[0])
        else:
            pog = cls._parse_edges(lines)
        pog._check_ids(n_clusters)
        return pog

    @classmethod
    def _parse_string(cls, line: str) -> "POG":
        levels, seen = [], set()
        for group in line.split(">"):
            ids = []
            for token in group.split("="):
                cid = _cluster_id(token, line)
                if cid in seen:
                    raise POGError(f"cluster {cid} appears twice in {line!r}")
                seen.add(cid)
                ids.append(cid)
            levels.append(tuple(ids))
        return cls(tuple(levels))

    @classmethod
    def _parse_edges(cls, lines: list[str]) -> "POG":
        order = _OrderBuilder()
        for number, line in enumerate(lines, start=1):
            parts = _OPS.split(line)
            ids = [_cluster_id(tok, line) for tok in parts[0::2]]
            for a, op, b in zip(ids, parts[1::2], ids[1:]):
                where = f"relation '{a}{op}{b}' (line {number}: {line!r})"
                if op == "=":
                    order.tie(a, b, where)
                elif op == "<":
                    order.above(b, a, where)
                else:
                    order.above(a, b, where)
        return cls(order.levels())

    def _check_ids(self, n_clusters: int | None) -> None:
        ids = [c for level in self.levels for c in level]
        n = max(ids) + 1 if n_clusters is None else n_clusters
        unknown = sorted(c for c in ids if c >= n)
        if unknown:
            raise POGError(f"unknown cluster id {unknown[0]} in POG {self.to_string()!r} (clusters are 0..{n - 1})")
        missing = sorted(set(range(n)) - set(ids))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise POGError(f"cluster(s) {shown} missing from POG {self.to_string()[:200]!r} (clusters are 0..{n - 1})")

    @classmethod
    def from_scores(cls, scores: Mapping[int, float], tie_window: float = 10.0) -> "POG":
        """METHOD.md's grouping: clusters sorted by score, highest first; a cluster within ``tie_window``
        points of its group's first score joins the group, else it starts the next level."""
        if not scores:
            raise POGError("no cluster scores to order")
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        levels: list[list[int]] = []
        first = None
        for cid, score in ranked:
            if first is not None and first - score <= tie_window:
                levels[-1].append(int(cid))
            else:
                levels.append([int(cid)])
                first = score
        return cls(tuple(tuple(level) for level in levels))

    @classmethod
    def from_levels(cls, level_of: Iterable[int]) -> "POG":
        """The POG whose level k holds the clusters ``c`` with ``level_of[c] == k`` (0 most developed)."""
        level_of = np.asarray(list(level_of) if not isinstance(level_of, np.ndarray) else level_of, dtype=np.int64)
        return cls(tuple(tuple(int(c) for c in np.flatnonzero(level_of == k)) for k in np.unique(level_of)))

    # ----------------------------------------------------------------- writing
    @property
    def n_clusters(self) -> int:
        """Number of clusters the POG orders."""
        return sum(len(level) for level in self.levels)

    def to_string(self) -> str:
        """The string form, most developed first: ``0>1>4=3``."""
        return ">".join("=".join(map(str, level)) for level in self.levels)

    def to_edges(self) -> str:
        """The edge-list form: one ``a=b=c`` line per tie group, one ``lower<upper`` line per level step."""
        lines = ["=".join(map(str, level)) for level in self.levels if len(level) > 1]
        lines += [f"{lower[0]}<{upper[0]}" for upper, lower in zip(self.levels, self.levels[1:])]
        return "\n".join(lines) + "\n"

    # ----------------------------------------------------------------- numbers
    def fractional_ranks(self, n: int | None = None) -> np.ndarray:
        """Rank per cluster id (1 = most developed): competition rank + 0.5 x the others tied with it,
        the standard fractional rank (ties share the mean of the positions they occupy)."""
        n = self.n_clusters if n is None else n
        ranks = np.full(n, np.nan)
        position = 1
        for level in self.levels:
            ranks[list(level)] = position + 0.5 * (len(level) - 1)
            position += len(level)
        if np.isnan(ranks).any():
            raise POGError(f"POG over {self.n_clusters} clusters does not rank all {n}")
        return ranks

    def level_of(self) -> dict[int, int]:
        """Cluster id -> level index (0 = most developed)."""
        return {c: i for i, level in enumerate(self.levels) for c in level}

    def targets(self) -> dict[int, float]:
        """Target score per cluster: level i of L gets 1 - i / (L - 1). A single level carries no order,
        so every cluster gets the neutral 0.5 (neither end of the scale)."""
        n_levels = len(self.levels)
        return {c: (0.5 if n_levels == 1 else 1.0 - i / (n_levels - 1)) for c, i in self.level_of().items()}


def _cluster_id(token: str, line: str) -> int:
    token = token.strip()
    if not _ID.fullmatch(token):
        raise POGError(f"{token!r} in {line!r} is not a cluster id (a non-negative integer)")
    return int(token)


class _OrderBuilder:
    """Relations added one by one (ties merged by union-find, 'above' edges between tie groups); each is
    checked against those before it, so the error names the first relation that breaks the order."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.below: dict[int, set[int]] = {}

    def find(self, c: int) -> int:
        self.parent.setdefault(c, c)
        self.below.setdefault(c, set())
        root = c
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[c] != root:
            self.parent[c], c = root, self.parent[c]
        return root

    def reaches(self, start: int, goal: int) -> bool:
        """Whether tie group ``goal`` lies below group ``start`` (both roots)."""
        stack, seen = [start], {start}
        while stack:
            for nxt in {self.find(c) for c in self.below[stack.pop()]}:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def tie(self, a: int, b: int, where: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.reaches(ra, rb) or self.reaches(rb, ra):
            raise POGError(f"{where} contradicts an order between {a} and {b} given before")
        self.parent[rb] = ra
        self.below[ra] |= self.below.pop(rb)

    def above(self, upper: int, lower: int, where: str) -> None:
        ru, rl = self.find(upper), self.find(lower)
        if ru == rl:
            raise POGError(f"{where} contradicts a tie between {upper} and {lower} given before")
        if self.reaches(rl, ru):
            raise POGError(f"{where} closes a cycle: {lower} is already above {upper}")
        self.below[ru].add(rl)

    def levels(self) -> tuple[tuple[int, ...], ...]:
        roots = {c: self.find(c) for c in list(self.parent)}
        groups: dict[int, list[int]] = {}
        for c, r in roots.items():
            groups.setdefault(r, []).append(c)
        children = {r: {self.find(c) for c in self.below[r]} for r in groups}
        indegree = {r: 0 for r in groups}
        for r in groups:
            for c in children[r]:
                indegree[c] += 1
        depth = {r: 0 for r in groups}
        ready = [r for r in groups if indegree[r] == 0]
        while ready:  # longest path from the top, in topological order
            r = ready.pop()
            for c in children[r]:
                depth[c] = max(depth[c], depth[r] + 1)
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
        by_depth: dict[int, list[int]] = {}
        for r, members in groups.items():
            by_depth.setdefault(depth[r], []).extend(members)
        return tuple(tuple(sorted(by_depth[d])) for d in sorted(by_depth))
