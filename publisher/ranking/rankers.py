"""Who orders the clusters: a VLM over an OpenAI-compatible API, the heuristic pixel indices, or a
POG file written by a person. Each gives chip categories and M POGs over the clusters."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from publisher.errors import DevscoreError
from publisher.ranking.chipstore import ChipStore
from publisher.ranking.indices import heuristic_categories, heuristic_development
from publisher.ranking.pog import POG, POGError

if TYPE_CHECKING:
    from publisher.ranking.vlm import VLMClient

log = logging.getLogger(__name__)

#: Sample chips a cluster may be scored from before a POG gives up on it.
TRIES_PER_CLUSTER = 3


class RankingError(DevscoreError):
    """The ranker could not order the clusters (no usable answers, a POG that does not fit)."""


class Ranker(Protocol):
    """What `devscore rank` asks of a ranker."""

    name: str

    def category_shares(self, store: ChipStore, sample: np.ndarray) -> np.ndarray | None:
        """(len(sample), 4) category shares (NaN rows where there is no answer) to train the
        category classifier on, or None when the ranker categorises every chip itself."""

    def categories(self, store: ChipStore) -> np.ndarray:
        """Category index of every chip, for rankers that need no classifier."""

    def pogs(self, store: ChipStore, cluster: np.ndarray, n_clusters: int, m: int, rng: np.random.Generator,
             tie_window: float) -> list[POG]:
        """M POGs over clusters 0..n_clusters-1."""

    def provenance(self) -> dict:
        """What the ranker adds to provenance.json."""


def sample_members(cluster: np.ndarray, n_clusters: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per cluster, its chips in a random order: POG m takes the m-th (wrapping when a cluster is small)."""
    return [rng.permutation(np.flatnonzero(cluster == c)) for c in range(n_clusters)]


@dataclass
class HeuristicRanker:
    """Offline stand-in for a VLM: categories by fixed rules on pixel indices, development as 100 x
    the built-up share of one random chip per cluster per POG."""

    name: str = "heuristic"

    def category_shares(self, store: ChipStore, sample: np.ndarray) -> None:
        return None

    def categories(self, store: ChipStore) -> np.ndarray:
        return heuristic_categories(store.indices)

    def pogs(self, store, cluster, n_clusters, m, rng, tie_window):
        members = sample_members(cluster, n_clusters, rng)
        development = heuristic_development(store.indices)
        return [POG.from_scores({c: float(development[members[c][i % len(members[c])]]) for c in range(n_clusters)},
                                tie_window=tie_window) for i in range(m)]

    def provenance(self) -> dict:
        return {"model": None, "endpoint_host": None, "prompt_sha256": None, "calls": 0,
                "note": "heuristic ranker: categories and development from pixel indices (built-up share, "
                        "vegetation, texture, brightness), no VLM was asked"}


@dataclass
class FileRanker(HeuristicRanker):
    """A POG written by a person (string or edge-list form) over the heuristic ranker's clusters."""

    path: Path = Path()
    name: str = "file"

    def __post_init__(self) -> None:
        """Read and parse the file before any work, so a malformed POG fails at once."""
        try:
            self.text = Path(self.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RankingError(f"cannot read POG file {self.path}: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            POG.parse(self.text)
        except POGError as exc:
            raise POGError(f"POG file {self.path}: {exc}") from None

    def pogs(self, store, cluster, n_clusters, m, rng, tie_window):
        try:
            return [POG.parse(self.text, n_clusters=n_clusters)]
        except POGError as exc:
            raise POGError(f"POG file {self.path} (over the {n_clusters} clusters 0..{n_clusters - 1}): {exc}") from None

    def provenance(self) -> dict:
        digest = hashlib.sha256(self.text.encode()).hexdigest()
        return {"model": None, "endpoint_host": None, "prompt_sha256": None, "calls": 0,
                "pog_file": str(self.path), "pog_file_sha256": digest,
                "note": "POG written by a person; clusters from the heuristic ranker's pixel indices"}


@dataclass
class VLMRanker:
    """A vision-language model behind an OpenAI-compatible API (publisher.ranking.vlm.VLMClient)."""

    client: "VLMClient"
    name: str = "vlm"
    answered: dict = field(default_factory=dict)

    def category_shares(self, store: ChipStore, sample: np.ndarray) -> np.ndarray:
        answers = self.client.category_shares_sync(store.pngs(sample))
        shares = np.full((len(sample), 4), np.nan)
        for i, answer in enumerate(answers):
            if answer is not None and answer.shares is not None:
                shares[i] = answer.shares
        answered = int(np.isfinite(shares).all(axis=1).sum())
        self.answered["category"] = (answered, len(sample))
        if answered == 0:
            raise RankingError(f"the VLM gave no usable category answer for any of {len(sample)} sample chips "
                               f"({self._summary()})")
        return shares

    def categories(self, store: ChipStore) -> np.ndarray:
        raise NotImplementedError("the VLM ranker categorises through the trained classifier")

    def pogs(self, store, cluster, n_clusters, m, rng, tie_window):
        members = sample_members(cluster, n_clusters, rng)
        scores: dict[tuple[int, int], float] = {}
        for attempt in range(TRIES_PER_CLUSTER):
            wanted = [(i, c) for i in range(m) for c in range(n_clusters) if (i, c) not in scores]
            if not wanted:
                break
            chips = np.array([members[c][(i + attempt * m) % len(members[c])] for i, c in wanted])
            answers = self.client.score_images_sync(store.pngs(chips))
            for key, answer in zip(wanted, answers):
                if answer is not None and answer.value is not None:
                    scores[key] = float(answer.value)
            if attempt == 0 and not scores:
                raise RankingError(f"the VLM gave no usable score for any of {len(wanted)} sample chips ({self._summary()})")
        missing = sorted({c for i in range(m) for c in range(n_clusters) if (i, c) not in scores})
        if missing:
            raise RankingError(f"no usable VLM score for clusters {missing} after {TRIES_PER_CLUSTER} sample chips each "
                               f"({self._summary()})")
        self.answered["score"] = (len(scores), m * n_clusters)
        return [POG.from_scores({c: scores[(i, c)] for c in range(n_clusters)}, tie_window=tie_window) for i in range(m)]

    def _summary(self) -> str:
        return self.client.stats.summary()

    def provenance(self) -> dict:
        config, stats = self.client.config, self.client.stats
        return {"model": config.model, "endpoint_host": config.endpoint_host, "prompt_sha256": config.prompts.sha256(),
                "calls": stats.calls, "calls_cached": stats.cached, "calls_per_image": config.calls_per_image,
                "structured": config.structured, "vlm_summary": stats.summary(),
                "answered": {k: {"answered": a, "asked": n} for k, (a, n) in self.answered.items()}}


def build_ranker(name: str, pog_file: str | Path | None = None, vlm: dict | None = None,
                 progress: bool = True) -> HeuristicRanker | FileRanker | VLMRanker:
    """The ranker called ``name`` (heuristic, file or vlm); ``vlm`` holds VLMConfig.from_env overrides."""
    if name == "vlm":
        from publisher.ranking.vlm import VLMClient, VLMConfig

        client = VLMClient(VLMConfig.from_env(**(vlm or {})), progress=progress)
        client.check()  # a wrong endpoint stops now, not after the clustering
        return VLMRanker(client)
    if name == "file":
        if pog_file is None:
            raise RankingError("the file ranker needs a POG file")
        return FileRanker(path=Path(pog_file))
    if name == "heuristic":
        return HeuristicRanker()
    raise RankingError(f"unknown ranker {name!r} (heuristic, file or vlm)")
