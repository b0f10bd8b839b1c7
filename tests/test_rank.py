"""`devscore rank` on one small synthetic granule-year: the ranking folder's contract, the heuristic
ranker, a simulated VLM annotator over a real chat-completions server (Spearman against the truth,
with a shuffled control), strict weights, and bad input through the CLI in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from publisher.imagery.acquire_cli import chips as chips_command
from publisher.imagery.chipfiles import list_chip_files
from publisher.imagery.synth import synthesize
from publisher.ranking.aggregate import aggregate
from publisher.ranking.chipstore import chip_png
from publisher.ranking.clusters import CATEGORIES
from publisher.imagery.truth import chip_truth_table
from publisher.ranking.evaluate import evaluate_ranking, score_clusters
from publisher.ranking.prompts import SCORE_PROMPT
from publisher.ranking.rank import RankOptions, run_rank, write_ranking
from publisher.ranking.rankers import HeuristicRanker, VLMRanker
from tests.chat_server import ChatServer

SIZE = 1098  # 100 m pixels: chips of 34 px
OUTPUTS = ("clusters.parquet", "pogs.txt", "pog.txt", "targets.json", "provenance.json")
#: Small and fast: few epochs, a narrow K range.
FAST = dict(epochs=2, k_max=8, category_sample=120, pogs=10, input_size=32, progress=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread for torch and for the BLAS/OpenMP pools (scikit-learn's K-means): the figures then do
    not depend on the machine's core count or on what earlier tests left set, and on 2 cores shared
    with other jobs one thread trains about 5x faster than two (measured)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    """(region, chip folder, truth per chip) of 48RUU-2023 at 100 m: mountains, plain and towns."""
    base = tmp_path_factory.mktemp("rank")
    region = base / "region"
    synthesize(region, tiles=("48RUU",), years=(2023,), scenes_per_year=3, size=SIZE, seed=0, progress=False)
    result = CliRunner().invoke(chips_command, ["--tile", "48RUU", "--year", "2023", "--source-catalog",
                                                str(region / "source"), "--out", str(base / "chips")])
    assert result.exit_code == 0, result.output
    return region, base / "chips", chip_truth_table(region, base / "chips")


@pytest.fixture(scope="module")
def truth_by_image(synthetic) -> dict[str, tuple[float, bool]]:
    """SHA-256 of every usable chip's PNG (as the VLM is shown it) -> (mean ground truth, on the plain)."""
    _, chips_dir, truth = synthetic
    table = truth.set_index(["tile", "year", "row", "col"])
    out = {}
    for chip_file in list_chip_files(chips_dir):
        chip_set = chip_file.load()
        for chip, flag, row, col in zip(chip_set.chips, chip_set.flags, chip_set.rows, chip_set.cols):
            if flag == 0:
                found = table.loc[(chip_file.tile, chip_file.year, row, col)]
                out[hashlib.sha256(chip_png(chip)).hexdigest()] = (float(found["truth"]), bool(found["plain"]))
    return out


def annotator(truth: dict[str, tuple[float, bool]], sigma: float, garbage: float = 0.1, seed: int = 0):
    """A simulated VLM: true development x 100 + N(0, sigma) for scores, shares from the truth for
    categories (mountain off the plain, urban from development), and ``garbage`` of the answers unparsable."""

    def answer(image: bytes, prompt: str, call: int) -> str:
        sha = hashlib.sha256(image).hexdigest()
        rng = np.random.default_rng([seed, call, int(sha[:12], 16)])
        if rng.random() < garbage:
            return "I am not able to judge this image."
        t, plain = truth[sha]
        if prompt == SCORE_PROMPT:
            return f"{np.clip(100 * t + rng.normal(0, sigma), 0, 100):.0f}"
        urban = np.clip((t - 0.3) / 0.3, 0, 1)
        land = 1 - urban
        return str([round(100 * urban), round(100 * land * plain), round(100 * land * (not plain)), 0])

    return answer


def test_heuristic_ranking_folder(synthetic, tmp_path):
    region, chips_dir, truth = synthetic
    ranking = run_rank(chips_dir, HeuristicRanker(), RankOptions(**FAST))
    out = write_ranking(ranking, tmp_path / "ranking")
    assert all((out / name).exists() for name in OUTPUTS)
    assert not list(out.rglob(".*.tmp"))
    clusters = pd.read_parquet(out / "clusters.parquet")
    assert list(clusters.columns) == ["tile", "year", "row", "col", "category", "cluster", "distance"]
    usable = list_chip_files(chips_dir)[0].usable()
    assert len(clusters) == usable.sum()  # flagged chips are left out
    n = clusters["cluster"].max() + 1
    assert sorted(clusters["cluster"].unique()) == list(range(n))
    # global ids follow the fixed category order
    first_id = clusters.groupby("category")["cluster"].min()
    order = [c for c in CATEGORIES if c in first_id.index]
    assert list(first_id[order]) == sorted(first_id)
    targets = json.loads((out / "targets.json").read_text())
    assert targets["pog"] == (out / "pog.txt").read_text().strip()
    assert sorted(c for level in targets["levels"] for c in level) == list(range(n))
    levels = len(targets["levels"])
    for i, level in enumerate(targets["levels"]):
        assert all(targets["targets"][str(c)] == pytest.approx(1 - i / (levels - 1)) for c in level)
    assert len((out / "pogs.txt").read_text().splitlines()) == FAST["pogs"]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["ranker"] == "heuristic" and "no VLM" in provenance["note"]
    assert provenance["chips_fingerprint"] == targets["chips_fingerprint"]
    assert len(list((out / "contact_sheets").glob("cluster_*.png"))) == n
    assert list((out / "silhouette").glob("*.png"))
    score = evaluate_ranking(out, region, chips_dir)
    print("heuristic:", score.row())
    assert score.spearman_all > 0.5


@pytest.fixture(scope="module")
def annotated(synthetic, truth_by_image, tmp_path_factory) -> tuple[Path, object]:
    """(ranking folder, ranking) of the sigma = 10 simulated annotator, through a real chat server."""
    tmp = tmp_path_factory.mktemp("annotated")
    with ChatServer(annotator(truth_by_image, sigma=10)) as server:
        ranking = run_rank(synthetic[1], VLMRanker(_client(server, tmp / "cache10")), RankOptions(**FAST))
        write_ranking(ranking, tmp / "vlm")
    return tmp / "vlm", ranking


#: Ranking seeds the sigma = 10 annotator's figure is averaged over. One ranking's Spearman over ~19
#: clusters moves with the seed (clusters on random-init ResNet-18 features): seeds 0-7 gave 0.81 to
#: 0.96 (mean 0.88, SD 0.05) on a 2-core EPYC, and a full-suite run once gave 0.73 for seed 0 alone.
ANNOTATOR_SEEDS = (0, 1, 2)
#: Below the low end of that spread for a mean of three seeds (about 4 SD of the mean under 0.88).
ANNOTATOR_FLOOR = 0.75


def test_simulated_annotator_recovers_truth_and_shuffled_does_not(synthetic, truth_by_image, annotated, tmp_path):
    """The sigma = 10 annotator's final POG, averaged over ANNOTATOR_SEEDS, stays above the floor set
    from its measured spread; one answering from shuffled truth stays near 0."""
    region, chips_dir, truth = synthetic
    folder, ranking = annotated
    figures = {}
    clusters = pd.read_parquet(folder / "clusters.parquet")
    per_seed = [evaluate_ranking(folder, region, chips_dir)]
    for seed in ANNOTATOR_SEEDS[1:]:
        with ChatServer(annotator(truth_by_image, sigma=10)) as server:
            other = run_rank(chips_dir, VLMRanker(_client(server, None)), RankOptions(**{**FAST, "seed": seed}))
        per_seed.append(evaluate_ranking(write_ranking(other, tmp_path / f"vlm{seed}"), region, chips_dir))
    figures[10] = float(np.mean([r.spearman_all for r in per_seed]))
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["ranker"] == "vlm" and provenance["calls"] > 0 and "api_key" not in json.dumps(provenance)
    n = ranking.n_clusters
    values = list(truth_by_image.values())
    for sigma in (0, 20, "shuffled"):
        rhos = []
        for trial in range(3 if sigma == "shuffled" else 1):
            table = truth_by_image
            if sigma == "shuffled":  # another permutation each trial
                order = np.random.default_rng(trial).permutation(len(values))
                table = dict(zip(truth_by_image, (values[i] for i in order)))
            with ChatServer(annotator(table, sigma=10 if sigma == "shuffled" else sigma, seed=trial)) as server:
                rng = np.random.default_rng(100 + trial)
                pogs = VLMRanker(_client(server, None)).pogs(ranking.store, ranking.cluster, n, FAST["pogs"], rng, 10.0)
            result = aggregate(pogs, n)
            rhos.append(score_clusters(clusters, dict(enumerate(result.targets)), truth))
        figures[sigma] = rhos[0] if len(rhos) == 1 else np.mean([r.spearman_all for r in rhos])
    print("annotator:", {k: (v.row() if hasattr(v, "row") else v) for k, v in figures.items()})
    print("sigma 10 per seed:", [r.row() for r in per_seed])
    assert figures[10] >= ANNOTATOR_FLOOR
    assert abs(figures["shuffled"]) < 0.35


@pytest.mark.slow
def test_scorer_trained_on_the_annotator_follows_the_truth(synthetic, annotated, tmp_path):
    """Issue 11's figure for the simulated annotators: a small ResNet-18 trained on the sigma = 10
    annotator's POG, its published-to-be chip scores against the truth (printed; README table)."""
    from publisher.quality import assess
    from publisher.scoring.infer import score_chips
    from publisher.scoring.train import TrainConfig, train

    region, chips_dir, truth = synthetic
    config = TrainConfig(input_size=32, batch_size=8, steps_per_epoch=15, max_epochs=6, patience=6)
    result = train(annotated[0], chips_dir, tmp_path / "model", config, progress=False, plot=False)
    scores = pd.read_parquet(score_chips(result.checkpoint, chips_dir, tmp_path / "scores.parquet", workers=0,
                                         progress=False))
    report = assess(scores, truth)
    print("scorer on the sigma 10 annotator:", *report.lines(), sep="\n")
    assert report.all.spearman >= 0.5 and report.plain.spearman >= 0.4  # measured: 0.62 and 0.58
    assert abs(report.shuffled_control.spearman) < 0.1


def _client(server: ChatServer, cache: Path | None):
    from publisher.ranking.vlm import VLMClient, VLMConfig

    return VLMClient(VLMConfig(base_url=server.url, model=server.model, concurrency=8, cache_dir=cache), progress=False)


def test_weights_load_strictly(tmp_path):
    import torch
    from torchvision.models import resnet18

    from publisher.ranking.backbone import WeightsError, build_backbone

    good = resnet18(weights=None, num_classes=10).state_dict()  # another head: allowed
    torch.save({f"model.{k}": v for k, v in good.items()}, tmp_path / "lightning.pt")  # a wrapped checkpoint
    loaded = build_backbone(tmp_path / "lightning.pt", seed=5)
    assert torch.equal(loaded.state_dict()["layer1.0.conv1.weight"], good["layer1.0.conv1.weight"])
    broken = dict(good)
    del broken["layer4.1.bn2.weight"]
    broken["extra.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(WeightsError, match=r"missing layer4\.1\.bn2\.weight.*unexpected extra\.weight"):
        build_backbone(tmp_path / "broken.pt")
    wide = dict(good, **{"conv1.weight": torch.zeros(64, 13, 7, 7)})  # a 13-band Sentinel-2 stem
    torch.save(wide, tmp_path / "wide.pt")
    with pytest.raises(WeightsError, match=r"wrong shape conv1\.weight"):
        build_backbone(tmp_path / "wide.pt")


# ---------------------------------------------------------------- bad input, through the CLI
def _devscore(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "devscore"
    env = {**os.environ, "DEVSCORE_VLM_API_KEY": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(exe), "rank", *args, "--no-progress"], capture_output=True, text=True, env=env, timeout=300)


def _refused(result: subprocess.CompletedProcess, out: Path, words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    assert not any((out / name).exists() for name in OUTPUTS)
    assert not (out.exists() and list(out.rglob("*.tmp")))


@pytest.fixture
def all_flagged(synthetic, tmp_path) -> Path:
    from publisher.imagery.extract import ChipSet

    chip_set = list_chip_files(synthetic[1])[0].load()
    folder = tmp_path / "flagged"
    ChipSet(chip_set.chips, np.full_like(chip_set.flags, 2), chip_set.rows, chip_set.cols).save(folder / "48RUU-2023.npz")
    return folder


def test_bad_chip_folders(tmp_path, all_flagged):
    out = tmp_path / "out"
    _refused(_devscore("--chips", str(tmp_path / "nowhere"), "--out", str(out), "--ranker", "heuristic"), out, "does not exist")
    (tmp_path / "empty").mkdir()
    _refused(_devscore("--chips", str(tmp_path / "empty"), "--out", str(out), "--ranker", "heuristic"), out, "holds no")
    _refused(_devscore("--chips", str(all_flagged), "--out", str(out), "--ranker", "heuristic"), out, "flagged")


def test_bad_endpoints(synthetic, truth_by_image, tmp_path):
    chips_dir = str(synthetic[1])
    out = tmp_path / "out"
    common = ["--chips", chips_dir, "--out", str(out), "--ranker", "vlm", "--category-sample", "4"]
    _refused(_devscore(*common, "--vlm-base-url", "http://127.0.0.1:9/v1", "--vlm-model", "m"), out, "127.0.0.1:9")
    with ChatServer(annotator(truth_by_image, 10), api_key="right-key") as server:
        result = _devscore(*common, "--vlm-base-url", server.url, "--vlm-model", server.model, "--vlm-api-key", "wrong-key")
        _refused(result, out, "401")
        assert "wrong-key" not in result.stderr + result.stdout
        _refused(_devscore(*common, "--vlm-base-url", server.url, "--vlm-model", "no-such-model",
                           "--vlm-api-key", "right-key"), out, "no-such-model")


def test_malformed_pog_file(synthetic, tmp_path):
    out = tmp_path / "out"
    pog = tmp_path / "pog.txt"
    pog.write_text("0>1>0\n")
    _refused(_devscore("--chips", str(synthetic[1]), "--out", str(out), "--ranker", "file", "--pog", str(pog)), out, "twice")


def test_file_ranker_keeps_a_persons_pog(synthetic, tmp_path):
    """A POG written by a person over the heuristic clusters becomes the final POG as written."""
    chips_dir = synthetic[1]
    first = run_rank(chips_dir, HeuristicRanker(), RankOptions(**FAST))
    n = first.n_clusters
    person = tmp_path / "person.txt"
    person.write_text("".join(f"{c}<{c - 1}\n" for c in range(n - 1, 0, -1)))  # edge form: 0 > 1 > ... > n-1
    result = _devscore("--chips", str(chips_dir), "--out", str(tmp_path / "out"), "--ranker", "file", "--pog", str(person),
                       "--k-max", str(FAST["k_max"]))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "pog.txt").read_text().strip() == ">".join(map(str, range(n)))
    targets = json.loads((tmp_path / "out" / "targets.json").read_text())
    assert targets["targets"]["0"] == 1.0 and targets["targets"][str(n - 1)] == 0.0


def test_fit_head_trains_a_fresh_head_with_the_backbone():
    """The head DeepCluster and the classifier create is optimised: it learns separable soft labels."""
    import torch

    from publisher.ranking.backbone import build_backbone, fit_head, predict, to_input

    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (16, 32, 32, 3), dtype=np.uint8)
    bright = rng.integers(190, 255, (16, 32, 32, 3), dtype=np.uint8)
    inputs = to_input(np.concatenate([dark, bright]), 32)
    labels = torch.tensor([[1.0, 0.0]] * 16 + [[0.0, 1.0]] * 16)
    backbone = build_backbone(seed=0)
    head = fit_head(backbone, inputs, labels, epochs=4, seed=0, lr=1e-3)
    assert (predict(backbone, head, inputs).argmax(axis=1) == labels.argmax(axis=1).numpy()).mean() >= 0.9


def test_deepcluster_round_reclusters(synthetic):
    _, chips_dir, _ = synthetic
    options = dict(FAST, pogs=2, features="resnet")
    plain = run_rank(chips_dir, HeuristicRanker(), RankOptions(**options))
    rounds = run_rank(chips_dir, HeuristicRanker(), RankOptions(**options, deepcluster_rounds=1))
    assert rounds.provenance["options"]["deepcluster_rounds"] == 1
    assert not np.array_equal(plain.cluster, rounds.cluster)  # retrained features give other clusters
    assert (rounds.category == plain.category).all()  # categories stay
