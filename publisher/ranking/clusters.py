"""Clusters within each category, DeepCluster style: PCA-whitened, L2-normalised features, seeded
K-means, K chosen by the silhouette score on a bounded sample; ids made global across categories."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

#: Category names in the fixed order that global cluster ids follow.
CATEGORIES = ("urban", "rural", "mountain", "highland")
#: Whitened dimensions kept (DeepCluster keeps 256 of 4096; 512-d ResNet-18 features keep 64).
PCA_DIMS = 64
#: Chips the silhouette score looks at per K (sklearn's sample_size).
SILHOUETTE_SAMPLE = 2000
#: Below this many chips K-means runs on one OpenMP thread: on small inputs thread start-up and
#: spinning cost more than they save (measured: 18 K values on 478 chips, 15 s on 2 busy cores, 1.4 s on one).
SINGLE_THREAD_BELOW = 20000


@dataclass
class CategoryClusters:
    """The K-means result of one category: labels (local 0..k-1), distances, the silhouette curve."""

    category: str
    labels: np.ndarray
    distance: np.ndarray
    k: int
    silhouette: dict[int, float] = field(default_factory=dict)


def whiten(features: np.ndarray, dims: int = PCA_DIMS, seed: int = 0) -> np.ndarray:
    """PCA-whitening to at most ``dims`` dimensions, then L2 normalisation of every row."""
    n, d = features.shape
    keep = max(1, min(dims, d, n - 1))
    if n < 3:
        reduced = features - features.mean(axis=0)
    else:
        reduced = PCA(n_components=keep, whiten=True, random_state=seed).fit_transform(features)
    norm = np.linalg.norm(reduced, axis=1, keepdims=True)
    return (reduced / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def cluster_category(category: str, features: np.ndarray, k_range: tuple[int, int], seed: int,
                     whitened: bool = True) -> CategoryClusters:
    """K-means of one category's chips with K from ``k_range`` (inclusive) chosen by the silhouette
    score; a category with too few chips for the smallest K (K + 1 chips per cluster pair) gets one cluster."""
    n = len(features)
    x = whiten(features, seed=seed) if whitened else features.astype(np.float32)
    k_min, k_max = k_range
    k_max = min(k_max, n - 1)
    if n == 0:
        return CategoryClusters(category, np.zeros(0, int), np.zeros(0), 0)
    if k_max < k_min or n < 2 * k_min:
        centre = x.mean(axis=0)
        return CategoryClusters(category, np.zeros(n, int), np.linalg.norm(x - centre, axis=1), 1)
    curve, fits = {}, {}
    with threadpool_limits(limits=1 if n < SINGLE_THREAD_BELOW else None, user_api="openmp"):
        for k in range(k_min, k_max + 1):
            model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x)
            if len(np.unique(model.labels_)) < 2:
                continue
            curve[k] = float(silhouette_score(x, model.labels_, sample_size=min(n, SILHOUETTE_SAMPLE), random_state=seed))
            fits[k] = model
    if not curve:
        centre = x.mean(axis=0)
        return CategoryClusters(category, np.zeros(n, int), np.linalg.norm(x - centre, axis=1), 1)
    best = max(curve, key=lambda k: (curve[k], -k))
    model = fits[best]
    distance = np.linalg.norm(x - model.cluster_centers_[model.labels_], axis=1)
    return CategoryClusters(category, model.labels_.astype(int), distance, best, curve)


def global_ids(per_category: list[CategoryClusters], category_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global cluster id and distance of every chip: categories in ``CATEGORIES`` order, local ids
    offset by the clusters of the categories before. ``category_of`` holds each chip's category index."""
    cluster = np.full(len(category_of), -1, dtype=np.int64)
    distance = np.zeros(len(category_of))
    offset = 0
    by_name = {c.category: c for c in per_category}
    for index, name in enumerate(CATEGORIES):
        members = np.flatnonzero(category_of == index)
        result = by_name.get(name)
        if result is None or not len(members):
            continue
        cluster[members] = result.labels + offset
        distance[members] = result.distance
        offset += result.k
    assert (cluster >= 0).all(), "every chip belongs to a cluster"
    return cluster, distance
