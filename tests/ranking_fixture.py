"""A ranking folder laid out exactly as `devscore rank` writes it, built from a synthetic region's known
truth: the usable chips clustered by their mean truth, clusters ordered into levels with tie groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from publisher.imagery.chipfiles import chips_fingerprint
from publisher.imagery.truth import chip_truth_table

#: Clusters per level, most developed level first: 8 clusters on 6 levels, two of them tie groups.
DEFAULT_LEVEL_SIZES = (1, 2, 1, 2, 1, 1)


def build_ranking(region: Path, chips_dir: Path, out: Path, level_sizes: tuple[int, ...] = DEFAULT_LEVEL_SIZES,
                  shuffle_seed: int | None = None) -> pd.DataFrame:
    """Write clusters.parquet, pog.txt, pogs.txt, targets.json and provenance.json into ``out``; clusters are
    a 1-D K-means of the chips' mean truth (cluster 0 the most developed). With ``shuffle_seed`` the chips are
    dealt to the clusters at random (a control whose targets carry no information). Returns the truth table."""
    table = chip_truth_table(region, chips_dir, usable_only=True)
    n_clusters = sum(level_sizes)
    # 1-D K-means on the truth (seeded), so chips of equal truth share a cluster; cluster 0 the highest centre
    kmeans = KMeans(n_clusters, n_init=10, random_state=0).fit(table[["truth"]].to_numpy())
    relabel = np.argsort(np.argsort(-kmeans.cluster_centers_[:, 0]))
    table["cluster"] = relabel[kmeans.labels_]
    levels, start = [], 0
    for size in level_sizes:
        levels.append(list(range(start, start + size)))
        start += size
    if shuffle_seed is not None:
        table["cluster"] = np.random.default_rng(shuffle_seed).permutation(table["cluster"].to_numpy())
    n_levels = len(levels)
    targets = {str(c): 1 - i / (n_levels - 1) for i, level in enumerate(levels) for c in level}
    pog = ">".join("=".join(str(c) for c in level) for level in levels)
    categories = np.where(table["plain"], np.where(table["truth"] > 0.3, "urban", "rural"), "mountain")
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"tile": table["tile"].astype(str), "year": table["year"].astype(int), "row": table["row"],
                  "col": table["col"], "category": categories, "cluster": table["cluster"],
                  "distance": (table["truth"] - table.groupby("cluster")["truth"].transform("mean")).abs()}
                 ).to_parquet(out / "clusters.parquet", index=False)
    fingerprint = chips_fingerprint(chips_dir)
    (out / "pog.txt").write_text(pog + "\n")
    (out / "pogs.txt").write_text(pog + "\n")
    (out / "targets.json").write_text(json.dumps({
        "pog": pog, "levels": levels, "targets": targets, "consensus": [float(c) for c in range(n_clusters)],
        "weighting": "fixture", "chips_fingerprint": fingerprint}))
    (out / "provenance.json").write_text(json.dumps({"ranker": "truth-fixture", "chips_fingerprint": fingerprint}))
    return table


def spearman_against_truth(scores_path: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Spearman of the chip scores against the chips' mean truth, over all scored chips and over the plain's."""
    from scipy.stats import spearmanr

    scores = pd.read_parquet(scores_path) if scores_path.suffix == ".parquet" else pd.read_csv(scores_path)
    joined = scores.merge(truth, on=["tile", "row", "col"])
    plain = joined[joined["plain"]]
    return {"overall": float(spearmanr(joined["score"], joined["truth"]).statistic),
            "plain": float(spearmanr(plain["score"], plain["truth"]).statistic) if len(plain) > 2 else float("nan"),
            "chips": len(joined), "plain_chips": len(plain)}
