"""Aggregate M POGs over N clusters into one: METHOD.md's reweighted mean of fractional ranks, then an
exact one-dimensional K-means on the consensus that turns it into levels and target scores."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from publisher.errors import DevscoreError
from publisher.ranking.pog import POG, POGError

log = logging.getLogger(__name__)
#: Up to this many distinct values the 1-D K-means runs the dense O(K n^2) recurrence.
_DENSE_MAX = 256

Weighting = Literal["published", "robust"]
WEIGHTINGS: tuple[str, ...] = ("robust", "published")
#: The weighting the experiment (publisher/ranking/experiment.py, README) found to recover a known order best.
DEFAULT_WEIGHTING: Weighting = "robust"


@dataclass(frozen=True)
class Aggregate:
    """The aggregation of M POGs: consensus rank per cluster (1 = most developed), level per cluster
    (0 = most developed), the final POG and the target score per cluster (1 - level / (L - 1))."""

    consensus: np.ndarray
    level_of: np.ndarray
    pog: POG
    targets: np.ndarray
    weighting: str
    iterations: int
    converged: bool


def rank_matrix(pogs: Sequence[POG], n_clusters: int) -> np.ndarray:
    """(M, N) fractional ranks, one row per POG (Fortran order, the layout :func:`consensus_ranks`
    streams); every POG must rank every cluster 0..N-1."""
    if not pogs:
        raise POGError("no POGs to aggregate")
    rows = np.empty((len(pogs), n_clusters), order="F")
    for m, pog in enumerate(pogs):
        if pog.n_clusters != n_clusters:
            raise POGError(f"POG {m + 1} orders {pog.n_clusters} clusters, expected {n_clusters}")
        rows[m] = pog.fractional_ranks(n_clusters)
    return rows


def _single_thread_blas():
    """Context in which BLAS runs on one thread."""
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def consensus_ranks(
    ranks: np.ndarray,
    weighting: Weighting = DEFAULT_WEIGHTING,
    sigma: float = 10.0,
    epsilon: float = 1e-5,
    max_iter: int = 1000,
) -> tuple[np.ndarray, int, bool]:
    """METHOD.md's iteration from the mean rank vector: weights from each POG's squared distance d2 to the
    consensus, ``published`` 1 - exp(-d2/sigma^2) or ``robust`` exp(-d2/sigma^2) (Welsch), until the
    consensus moves less than ``epsilon``. Returns (consensus, iterations, converged).

    d2 comes from |R_m|^2 - 2 R_m.R* + |R*|^2 (two matrix-vector products per iteration); robust weights
    are shifted by the smallest d2 before exponentiating (same normalised weights, no underflow to 0/0);
    when every published weight is 0 every POG already equals the consensus, which is then final.
    """
    if weighting not in WEIGHTINGS:
        raise DevscoreError(f"unknown weighting {weighting!r}: use one of {', '.join(WEIGHTINGS)}")
    # clusters x POGs, C-contiguous: both matrix-vector products stream it once. Free for the
    # Fortran-ordered matrix rank_matrix() builds; a copy for a C-ordered one.
    by_cluster = np.ascontiguousarray(np.asarray(ranks, dtype=np.float64).T)
    inv_s2 = 1.0 / (sigma * sigma)
    with _single_thread_blas():  # memory-bound matrix-vector products: extra BLAS threads only contend
        row_sq = np.einsum("ij,ij->j", by_cluster, by_cluster)
        current = by_cluster @ np.full(by_cluster.shape[1], 1.0 / by_cluster.shape[1])
        for iteration in range(1, max_iter + 1):
            d2 = current @ by_cluster
            d2 *= -2.0
            d2 += row_sq
            d2 += current @ current
            np.maximum(d2, 0.0, out=d2)
            if weighting == "robust":
                d2 -= d2.min()
                d2 *= -inv_s2
                alpha = np.exp(d2, out=d2)
            else:
                d2 *= -inv_s2
                alpha = np.expm1(d2, out=d2)
                np.negative(alpha, out=alpha)
            total = alpha.sum()
            if total <= 0.0:
                return current, iteration, True
            alpha /= total
            new = by_cluster @ alpha
            step = float(np.linalg.norm(new - current))
            current = new
            if step < epsilon:
                return current, iteration, True
    log.warning("POG aggregation stopped after %d iterations without converging (last step above %g)", max_iter, epsilon)
    return current, max_iter, False


def kmeans_1d(values: np.ndarray, k: int) -> np.ndarray:
    """Exact one-dimensional K-means (least squares; dynamic programming over the sorted distinct values
    weighted by their counts, as Ckmeans.1d.dp does). Returns a label per value, 0 for the smallest group; K is capped by the number of distinct values, and equal
    values always share a label."""
    values = np.asarray(values, dtype=np.float64)
    distinct, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    n = len(distinct)
    k = max(1, min(int(k), n))
    w = counts.astype(np.float64)
    s0 = np.concatenate([[0.0], np.cumsum(w)])
    s1 = np.concatenate([[0.0], np.cumsum(w * distinct)])
    s2 = np.concatenate([[0.0], np.cumsum(w * distinct * distinct)])

    def cost(j: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Weighted sum of squares of distinct[j..i] (inclusive)."""
        sw = s0[i + 1] - s0[j]
        sx = s1[i + 1] - s1[j]
        return np.maximum(s2[i + 1] - s2[j] - sx * sx / sw, 0.0)

    if n <= _DENSE_MAX:
        starts = _dp_dense(cost, n, k)
    else:
        starts = _dp_divide_and_conquer(cost, n, k)
    labels = np.empty(n, dtype=np.int64)
    end = n - 1
    for g in range(k - 1, -1, -1):
        start = starts[g, end] if g else 0
        labels[start : end + 1] = g
        end = start - 1
    return labels[inverse]


def _dp_dense(cost, n: int, k: int) -> np.ndarray:
    """starts[g, i]: first index of the last of g + 1 groups over 0..i, by the full O(K n^2) recurrence."""
    j, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    valid = j <= i
    segment = np.where(valid, cost(j, np.maximum(i, j)), np.inf)  # segment[j, i]: SSE of j..i
    best = segment[0].copy()
    starts = np.zeros((k, n), dtype=np.int64)
    for g in range(1, k):
        cand = np.full((n, n), np.inf)
        cand[g:] = best[g - 1 : n - 1, None] + segment[g:]
        starts[g] = np.argmin(cand, axis=0)
        best = cand[starts[g], np.arange(n)]
    return starts


def _dp_divide_and_conquer(cost, n: int, k: int) -> np.ndarray:
    """Same as :func:`_dp_dense` in O(K n log n): the best start is monotone in i, so each step's optima
    are found by divide and conquer, all segments of one recursion depth at once."""
    idx = np.arange(n)
    best = cost(np.zeros(n, dtype=np.int64), idx)  # best[i]: SSE of distinct[0..i] in the groups so far
    starts = np.zeros((k, n), dtype=np.int64)  # starts[g, i]: first index of the last group
    for g in range(1, k):
        new_best = np.full(n, np.inf)
        # segments of positions i (i_lo..i_hi) whose optimal start lies in j_lo..j_hi, one depth at a time
        i_lo, i_hi = np.array([g]), np.array([n - 1])
        j_lo, j_hi = np.array([g]), np.array([n - 1])
        while len(i_lo):
            mid = (i_lo + i_hi) // 2
            hi = np.minimum(j_hi, mid)
            sizes = hi - j_lo + 1
            seg = np.repeat(np.arange(len(mid)), sizes)
            offsets = np.cumsum(sizes) - sizes
            j = j_lo[seg] + (np.arange(sizes.sum()) - offsets[seg])
            cand = best[j - 1] + cost(j, mid[seg])
            low = np.minimum.reduceat(cand, offsets)
            hits = np.flatnonzero(cand <= low[seg])
            first = hits[np.concatenate([[True], seg[hits][1:] != seg[hits][:-1]])]
            opt = j[first]
            new_best[mid] = low
            starts[g, mid] = opt
            left = i_lo <= mid - 1
            right = mid + 1 <= i_hi
            i_lo, i_hi, j_lo, j_hi = (
                np.concatenate([i_lo[left], mid[right] + 1]),
                np.concatenate([mid[left] - 1, i_hi[right]]),
                np.concatenate([j_lo[left], opt[right]]),
                np.concatenate([opt[left], j_hi[right]]),
            )
        best = new_best
    return starts


def levels_from_consensus(consensus: np.ndarray, levels: int) -> np.ndarray:
    """Level per cluster (0 = most developed = smallest consensus rank) by exact 1-D K-means."""
    return kmeans_1d(consensus, levels)


def aggregate(
    pogs: Sequence[POG] | np.ndarray,
    n_clusters: int | None = None,
    weighting: Weighting = DEFAULT_WEIGHTING,
    levels: int = 7,
    sigma: float = 10.0,
    epsilon: float = 1e-5,
    max_iter: int = 1000,
) -> Aggregate:
    """Aggregate POGs (or an (M, N) matrix of their fractional ranks) into a final POG of at most
    ``levels`` levels with a target score per cluster."""
    if isinstance(pogs, np.ndarray):
        ranks = pogs
    else:
        if n_clusters is None:
            n_clusters = pogs[0].n_clusters if pogs else 0
        ranks = rank_matrix(pogs, n_clusters)
    if ranks.ndim != 2 or ranks.shape[0] == 0 or ranks.shape[1] == 0:
        raise POGError(f"nothing to aggregate: rank matrix of shape {ranks.shape}")
    if levels < 1:
        raise DevscoreError(f"--levels must be at least 1, got {levels}")
    consensus, iterations, converged = consensus_ranks(ranks, weighting, sigma, epsilon, max_iter)
    level_of = levels_from_consensus(consensus, levels)
    n_levels = int(level_of.max()) + 1
    targets = np.full(len(level_of), 0.5) if n_levels == 1 else 1.0 - level_of / (n_levels - 1)
    return Aggregate(consensus, level_of, POG.from_levels(level_of), targets, weighting, iterations, converged)
