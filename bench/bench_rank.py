"""Features and clustering of one granule-year (1024 chips) on this machine: pixel indices,
thumbnails, ResNet-18 features (64 px, CPU or CUDA) and the per-category K search (K 3..20, silhouette
on a bounded sample), the K search timed with one OpenMP thread (what `devscore rank` does on small
inputs) against the library's default thread count, in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import WORK, synthetic_region, table

REPEATS = 3


def _chips(size: int) -> np.ndarray:
    """All 1024 chips (flags ignored: every chip is timed) of the synthetic 48RVU-2023 at ``size`` px."""
    from publisher.imagery.chipfiles import list_chip_files

    region = synthetic_region(size=size)
    out = WORK / f"chips-48RVU-2023-{size}"
    if not list(out.glob("*.npz")):
        subprocess.run([str(Path(sys.executable).parent / "devscore"), "chips", "--tile", "48RVU", "--year", "2023",
                        "--source-catalog", str(region / "source"), "--max-cloud", "100", "--out", str(out)],
                       check=True, capture_output=True)
    return list_chip_files(out)[0].load().chips


def _median(func, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(quick: bool = False) -> str:
    """Markdown section: seconds per stage for 1024 chips."""
    import torch

    from publisher.ranking import backbone as bb
    from publisher.ranking import clusters as cl
    from publisher.ranking.chipstore import THUMB, thumbnails
    from publisher.ranking.indices import chip_indices, index_features

    size = 2745 if quick else 10980
    repeats = 1 if quick else REPEATS
    chips = _chips(size)
    rows = []
    t_idx, indices = _median(lambda: chip_indices(chips), repeats)
    rows.append(["pixel indices (built-up, vegetation, texture, brightness)", f"{t_idx:.2f}"])
    t_thumb, thumbs = _median(lambda: thumbnails(chips), repeats)
    rows.append([f"thumbnails {THUMB} px", f"{t_thumb:.2f}"])
    model = bb.build_backbone(seed=0)
    inputs = bb.to_input(thumbs, THUMB)
    t_feat, features = _median(lambda: bb.embed(model, inputs), repeats)
    rows.append([f"ResNet-18 features, 512-d ({bb.device().type})", f"{t_feat:.2f}"])
    search = lambda x, white: cl.cluster_category("all", x, (3, 20), seed=0, whitened=white)  # noqa: E731
    t_res, res = _median(lambda: search(features, True), repeats)
    rows.append([f"PCA-whitening + K search 3..20 on ResNet features (K = {res.k})", f"{t_res:.2f}"])
    t_ind, ind = _median(lambda: search(index_features(indices), False), repeats)
    rows.append([f"K search 3..20 on index features (K = {ind.k})", f"{t_ind:.2f}"])
    saved = cl.SINGLE_THREAD_BELOW
    cl.SINGLE_THREAD_BELOW = 0  # the library's own thread count
    try:
        with threadpool_limits(limits=None):
            t_default, _ = _median(lambda: search(features, True), repeats)
    finally:
        cl.SINGLE_THREAD_BELOW = saved
    rows.append(["baseline: same K search on ResNet features, default OpenMP threads", f"{t_default:.2f}"])
    total = t_idx + t_thumb + t_feat + t_res
    rows.append(["**total (indices, thumbnails, features, K search on features)**", f"**{total:.2f}**"])
    side = chips.shape[1]
    return (f"### Ranking: features and clustering of one granule-year\n\n1024 chips of {side} px, "
            f"torch {torch.__version__} on {torch.get_num_threads()} threads; median of {repeats}. One-thread "
            f"K search is {t_default / t_res:.1f}x the default threads' speed.\n\n"
            + table(["stage", "seconds"], rows))
