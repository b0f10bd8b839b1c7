"""`devscore rank` as a function: chips -> categories -> clusters per category -> M POGs -> the
aggregated POG, levels and target scores, written as the ranking folder (every file by rename,
all of them only after every step has succeeded)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from publisher.progress import tqdm

from publisher import __version__
from publisher.atomic import atomic_path, atomic_write_text
from publisher.ranking.chipstore import THUMB, ChipStore
from publisher.ranking.clusters import CATEGORIES, CategoryClusters, cluster_category, global_ids
from publisher.ranking.indices import chip_indices, index_features
from publisher.ranking.plots import contact_sheet, silhouette_plot
from publisher.ranking.aggregate import aggregate
from publisher.ranking.rankers import Ranker, RankingError

log = logging.getLogger(__name__)


@dataclass
class RankOptions:
    """Everything `devscore rank` can be told besides the chips, the output and the ranker."""

    pogs: int = 10
    seed: int = 0
    category_sample: int = 200
    k_min: int = 3
    k_max: int = 20
    features: str = "auto"  # resnet | indices | auto (resnet for the VLM, indices otherwise)
    epochs: int = 8
    input_size: int = THUMB  # side of the network's input (64 px on a CPU; larger on a GPU)
    deepcluster_rounds: int = 0
    weights: str | None = None
    levels: int = 7
    weighting: str | None = None  # None: aggregate()'s default
    tie_window: float = 10.0
    progress: bool = True


@dataclass
class Ranking:
    """What one run produced (also what the files hold)."""

    store: ChipStore
    category: np.ndarray
    cluster: np.ndarray
    distance: np.ndarray
    per_category: list[CategoryClusters]
    pogs: list
    result: object  # publisher.ranking.pog.Aggregate
    features: str
    provenance: dict = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(self.cluster.max()) + 1


def run_rank(chips_dir: str | Path, ranker: Ranker, options: RankOptions) -> Ranking:
    """Compute a ranking without writing anything (see :func:`write_ranking`)."""
    rng = np.random.default_rng(options.seed)
    store = ChipStore.open(chips_dir, chip_indices, progress=options.progress)
    log.info("%d usable chips in %d granule-years (%d flagged left out)", len(store), len(store.files), store.flagged)
    features = options.features if options.features != "auto" else ("resnet" if ranker.name == "vlm" else "indices")
    if features not in ("resnet", "indices"):
        raise RankingError(f"unknown feature kind {features!r} (resnet, indices or auto)")
    if options.deepcluster_rounds and features != "resnet":
        raise RankingError("--deepcluster-rounds retrains the ResNet-18 features: it needs --features resnet")
    sample = np.sort(rng.choice(len(store), size=min(options.category_sample, len(store)), replace=False))
    shares = ranker.category_shares(store, sample)  # first, so that a bad endpoint fails before any training
    backbone = inputs = None
    if features == "resnet" or shares is not None:  # torch only where a network is used
        from publisher.ranking import backbone as bb

        inputs = bb.to_input(store.thumbs, options.input_size)
        backbone = bb.build_backbone(options.weights, seed=options.seed)
    category = ranker.categories(store) if shares is None else _classify(backbone, inputs, sample, shares, options)
    counts = {name: int((category == i).sum()) for i, name in enumerate(CATEGORIES)}
    log.info("categories: %s", counts)

    per_category, cluster, distance = _cluster(store, category, backbone, inputs, features, options)
    for round_ in range(options.deepcluster_rounds):
        import torch

        targets = torch.nn.functional.one_hot(torch.from_numpy(cluster), int(cluster.max()) + 1).float()
        bb.fit_head(backbone, inputs, targets, options.epochs, seed=options.seed + 1 + round_,
                    desc=f"DeepCluster round {round_ + 1}")
        per_category, cluster, distance = _cluster(store, category, backbone, inputs, features, options)
    n_clusters = int(cluster.max()) + 1
    log.info("%d clusters: %s", n_clusters, {c.category: c.k for c in per_category})

    pogs = ranker.pogs(store, cluster, n_clusters, options.pogs, rng, options.tie_window)
    kwargs = {"weighting": options.weighting} if options.weighting else {}
    # a person's POG is the final word: its levels are kept as they are, not regrouped
    levels = len(pogs[0].levels) if ranker.name == "file" else options.levels
    result = aggregate(pogs, n_clusters, levels=levels, **kwargs)
    provenance = {
        "ranker": ranker.name,
        "chips_fingerprint": store.fingerprint,
        "granule_years": [f.id for f in store.files],
        "usable_chips": len(store),
        "flagged_chips": store.flagged,
        "categories": counts,
        "clusters_per_category": {c.category: c.k for c in per_category},
        "features": features,
        "weights": str(options.weights) if options.weights else None,
        **ranker.provenance(),
        "options": {k: v for k, v in asdict(options).items() if k != "progress"},
        "aggregation": {"weighting": result.weighting, "levels": int(result.level_of.max()) + 1,
                        "iterations": result.iterations, "converged": result.converged},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "software_version": __version__,
    }
    return Ranking(store, category, cluster, distance, per_category, pogs, result, features, provenance)


def _classify(backbone, inputs, sample: np.ndarray, shares: np.ndarray, options: RankOptions) -> np.ndarray:
    """Train the ResNet-18 on the sample's soft category labels; the category of every chip."""
    import torch

    from publisher.ranking import backbone as bb
    answered = np.isfinite(shares).all(axis=1)
    totals = shares[answered].sum(axis=1, keepdims=True)
    labels = shares[answered] / np.where(totals > 0, totals, 1.0)
    keep = sample[answered][totals[:, 0] > 0]
    labels = labels[totals[:, 0] > 0]
    if len(keep) < 2:
        raise RankingError(f"only {len(keep)} sample chips have category answers: too few to train the classifier")
    log.info("training the category classifier on %d soft labels", len(keep))
    head = bb.fit_head(backbone, inputs[keep], torch.from_numpy(labels).float(), options.epochs, seed=options.seed,
                       desc="category classifier")
    return bb.predict(backbone, head, inputs).argmax(axis=1)


def _cluster(store: ChipStore, category: np.ndarray, backbone, inputs, features: str,
             options: RankOptions) -> tuple[list[CategoryClusters], np.ndarray, np.ndarray]:
    """K-means within each category on ResNet-18 or index features; global ids and distances."""
    if features == "resnet":
        from publisher.ranking import backbone as bb

        vectors, whitened = bb.embed(backbone, inputs), True
    else:
        vectors, whitened = index_features(store.indices), False
    per_category = []
    for index, name in enumerate(tqdm(CATEGORIES, desc="clustering", unit="category", disable=not options.progress,
                                      leave=False)):
        members = np.flatnonzero(category == index)
        if len(members):
            per_category.append(cluster_category(name, vectors[members], (options.k_min, options.k_max),
                                                 options.seed, whitened=whitened))
    cluster, distance = global_ids(per_category, category)
    return per_category, cluster, distance


def write_ranking(ranking: Ranking, out: str | Path) -> Path:
    """Write the ranking folder: plots, clusters.parquet, pogs.txt, pog.txt, targets.json and
    provenance.json last; each file to a temporary name, then renamed."""
    out = Path(out)
    store, result = ranking.store, ranking.result
    for c in ranking.per_category:
        silhouette_plot(c.category, c.silhouette, c.k, int((ranking.category == CATEGORIES.index(c.category)).sum()),
                        out / "silhouette" / f"{c.category}.png")
    for k in range(ranking.n_clusters):
        members = np.flatnonzero(ranking.cluster == k)
        contact_sheet(store.thumbs[members], ranking.distance[members], out / "contact_sheets" / f"cluster_{k:03d}.png")
    table = pd.DataFrame({
        "tile": store.tile.astype(str), "year": store.year.astype(np.int64), "row": store.row.astype(np.int64),
        "col": store.col.astype(np.int64), "category": np.asarray(CATEGORIES)[ranking.category],
        "cluster": ranking.cluster.astype(np.int64), "distance": ranking.distance.astype(np.float64)})
    with atomic_path(out / "clusters.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    atomic_write_text(out / "pogs.txt", "".join(p.to_string() + "\n" for p in ranking.pogs))
    final = result.pog.to_string()
    atomic_write_text(out / "pog.txt", final + "\n")
    level_of = np.asarray(result.level_of)
    n_levels = int(level_of.max()) + 1
    targets = np.asarray(result.targets, dtype=float)
    document = {
        "pog": final,
        "levels": [[int(c) for c in np.flatnonzero(level_of == i)] for i in range(n_levels)],
        "targets": {str(c): float(targets[c]) for c in range(ranking.n_clusters)},
        "consensus": [float(v) for v in np.asarray(result.consensus)],
        "weighting": result.weighting,
        "chips_fingerprint": store.fingerprint,
    }
    atomic_write_text(out / "targets.json", json.dumps(document, indent=1) + "\n")
    atomic_write_text(out / "provenance.json", json.dumps(ranking.provenance, indent=1, default=str) + "\n")
    return out


def rank_chips(chips_dir: str | Path, out: str | Path, ranker: str = "heuristic", pog_file: str | Path | None = None,
               vlm: dict | None = None, progress: bool = True, **options: object) -> Ranking:
    """`devscore rank` as one call (the pipeline's rank stage): build the ranker, rank, write the folder."""
    from publisher.ranking.rankers import build_ranker

    chosen = build_ranker(ranker, pog_file=pog_file, vlm={"cache_dir": Path(out) / ".vlm-cache", **(vlm or {})},
                          progress=progress)
    if ranker == "file":
        options.setdefault("pogs", 1)
    ranking = run_rank(chips_dir, chosen, RankOptions(progress=progress, **options))
    write_ranking(ranking, out)
    if ranker == "vlm":
        log.info("%s", chosen.client.stats.summary())
    return ranking
