"""How well published chip scores agree with a known truth (the synthetic region's), honestly reported.

Spearman between each chip's score and its mean ground truth, per granule-year, overall and over the
plain's chips alone (mountains by themselves can carry an overall figure), beside what it has to beat:

- baselines on the same chips: each chip given its cluster's target (what the scorer learns from) and the
  ranker's own index where it has one (the heuristic ranker's built-up share B, a pixel count);
- a shuffled control: the scores in random order, its mean and spread over 200 permutations;
- a spatial block-bootstrap 95 % interval: blocks of 4 x 4 neighbouring chips resampled with replacement
  within each granule-year (neighbouring chips are alike, so the permutation spread understates the
  uncertainty), and, paired on the same resamples, the interval of (published - baseline): what the
  model adds to each baseline;
- where the scores carry an ``uncertainty`` (the scorer ensemble's spread), its calibration: Spearman of each
  chip's spread against its absolute rank error (score's rank minus truth's rank within the granule-year, as
  shares of its chips), with the same block-bootstrap interval and shuffled control (spreads permuted).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from publisher.atomic import atomic_path
from publisher.errors import DevscoreError
from publisher.scores import UNCERTAINTY_COLUMN

KEYS = ["tile", "year", "row", "col"]
#: Shuffled-control permutations and block-bootstrap resamples.
PERMUTATIONS = 200
BOOTSTRAPS = 500
#: Side of a bootstrap block, in chips (4 x 4 chips = 13.7 km at 10 m).
BLOCK_CHIPS = 4
#: Baseline names, as the report shows them.
CLUSTER_TARGETS = "cluster targets"
RANKER_INDEX = "ranker index (built-up share B)"


@dataclass(frozen=True)
class Agreement:
    """Spearman's rho over ``n`` chips (None when fewer than 3 chips or a constant side)."""

    n: int
    spearman: float | None

    @classmethod
    def of(cls, scores: np.ndarray, truth: np.ndarray) -> Agreement:
        """Rank correlation of two equally long vectors."""
        if len(scores) < 3 or np.ptp(scores) == 0 or np.ptp(truth) == 0:
            return cls(len(scores), None)
        return cls(len(scores), float(spearmanr(scores, truth).statistic))


@dataclass(frozen=True)
class Interval:
    """A 95 % interval (2.5th and 97.5th percentiles); None where undefined."""

    low: float | None
    high: float | None

    @classmethod
    def of(cls, values: np.ndarray) -> Interval:
        values = values[np.isfinite(values)]
        if values.size < 10:
            return cls(None, None)
        low, high = np.percentile(values, [2.5, 97.5])
        return cls(float(low), float(high))


@dataclass(frozen=True)
class Spread:
    """Mean and standard deviation of the shuffled control over its permutations."""

    permutations: int
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class Baseline:
    """A baseline's Spearman on the published chips, and the paired interval of (published - baseline)."""

    name: str
    all: Agreement
    plain: Agreement
    gain_all: Interval
    gain_plain: Interval


@dataclass(frozen=True)
class GranuleQuality:
    """Agreement of one granule-year's scores with its truth."""

    id: str
    all: Agreement
    plain: Agreement


@dataclass(frozen=True)
class Calibration:
    """Whether a larger spread means a larger error: Spearman of the chips' spread vs their absolute rank error
    (goal > 0.2, docs/economist.md), its 95 % block-bootstrap interval and the shuffled control."""

    all: Agreement
    plain: Agreement
    interval: Interval
    shuffled: Spread
    mean_spread: float


@dataclass(frozen=True)
class QualityReport:
    """Per granule-year and pooled agreement, the intervals, the baselines and the shuffled control."""

    granules: list[GranuleQuality]
    all: Agreement
    plain: Agreement
    shuffled_control: Agreement
    interval_all: Interval = Interval(None, None)
    interval_plain: Interval = Interval(None, None)
    shuffled: Spread = Spread(0, None, None)
    baselines: list[Baseline] = field(default_factory=list)
    block_chips: int = BLOCK_CHIPS
    calibration: Calibration | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    def lines(self) -> list[str]:
        """A small table for the terminal."""
        fmt = lambda a: "  n/a" if a.spearman is None else f"{a.spearman:5.2f}"  # noqa: E731
        rows = [f"{'granule-year':<14} {'n':>5} {'Spearman':>8} {'n plain':>8} {'plain':>6}"]
        for g in [*self.granules, GranuleQuality("all", self.all, self.plain)]:
            rows.append(f"{g.id:<14} {g.all.n:>5} {fmt(g.all):>8} {g.plain.n:>8} {fmt(g.plain):>6}")
        rows += ["", f"{'what (Spearman vs truth)':<34} {'all':>5} {'plain':>6}  95 % interval all / plain",
                 f"{'published scores':<34} {fmt(self.all):>5} {fmt(self.plain):>6}  "
                 f"{_interval(self.interval_all)} / {_interval(self.interval_plain)} "
                 f"(block bootstrap, {self.block_chips} x {self.block_chips} chips)"]
        for b in self.baselines:
            rows.append(f"{b.name:<34} {fmt(b.all):>5} {fmt(b.plain):>6}  published minus this: "
                        f"{_interval(b.gain_all, signed=True)} / {_interval(b.gain_plain, signed=True)}")
        spread = "n/a" if self.shuffled.sd is None else f"{self.shuffled.mean:+.3f} +- {self.shuffled.sd:.3f}"
        rows.append(f"shuffled control: Spearman {fmt(self.shuffled_control).strip()} (should be near 0); "
                    f"over {self.shuffled.permutations} permutations {spread}")
        if self.calibration is not None:
            c = self.calibration
            control = "n/a" if c.shuffled.sd is None else f"{c.shuffled.mean:+.3f} +- {c.shuffled.sd:.3f}"
            rows.append(f"uncertainty calibration (Spearman of spread vs |rank error|): {fmt(c.all).strip()} all "
                        f"{_interval(c.interval)}, {fmt(c.plain).strip()} plain; shuffled spreads {control}; "
                        f"mean spread {c.mean_spread:.3f} (goal > 0.2)")
        return rows


def _interval(i: Interval, signed: bool = False) -> str:
    if i.low is None:
        return "n/a"
    return f"[{i.low:+.2f}, {i.high:+.2f}]" if signed else f"[{i.low:.2f}, {i.high:.2f}]"


def _years(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.assign(year=pd.to_datetime(scores["datetime"], utc=True, format="mixed").dt.year)


def _join(scores: pd.DataFrame, truth: pd.DataFrame, baselines: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Scored chips with their truth and, as columns named like the baselines, each baseline's value."""
    joined = _years(scores).merge(truth, on=KEYS, how="inner").dropna(subset=["score", "truth"])
    for name, table in baselines.items():
        joined = joined.merge(table[KEYS + ["value"]].rename(columns={"value": name}), on=KEYS, how="left")
    return joined.reset_index(drop=True)


def _corr_rows(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``rx`` with the same row of ``ry`` (Spearman's rho when they are ranks);
    NaN where a row is constant."""
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))


def _resampled_ranks(ids: np.ndarray, idx: np.ndarray, levels: int) -> np.ndarray:
    """Average ranks (ties share their mean rank, as ``scipy.stats.rankdata``) of the values at ``idx``,
    from their dense ranks ``ids`` over all chips: counts per value, no sort (fast for 1000 resamples)."""
    chosen = ids[idx]
    counts = np.bincount(chosen, minlength=levels)
    below = np.cumsum(counts) - counts
    return below[chosen] + (counts[chosen] + 1) / 2.0


def _block_resamples(joined: pd.DataFrame, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` resamples (arrays of chip indices) of the spatial block bootstrap: in each granule-year,
    as many blocks as it has, drawn with replacement, each bringing all its chips."""
    block = (joined["row"] // BLOCK_CHIPS) * 1000 + joined["col"] // BLOCK_CHIPS
    resamples: list[list[np.ndarray]] = [[] for _ in range(count)]
    for _, g in joined.groupby(["tile", "year"], sort=True):
        members = [g.index.to_numpy()[pos] for pos in g.groupby(block[g.index]).indices.values()]
        draws = rng.integers(0, len(members), size=(count, len(members)))
        for k in range(count):
            resamples[k].extend(members[j] for j in draws[k])
    return [np.concatenate(r) for r in resamples]


def _bootstrap(joined: pd.DataFrame, columns: list[str], mask: np.ndarray, resamples: list[np.ndarray]) -> np.ndarray:
    """(len(columns), resamples) Spearman of each column against the truth on the resampled chips in ``mask``."""
    dense = [rankdata(joined[c].fillna(0.0).to_numpy(np.float64), method="dense").astype(np.int64) - 1
             for c in ["truth", *columns]]  # chips without a value are outside ``mask``
    levels = [int(d.max()) + 1 for d in dense]
    out = np.full((len(columns), len(resamples)), np.nan)
    for k, idx in enumerate(resamples):
        idx = idx[mask[idx]]
        if idx.size >= 3:
            ranks = np.stack([_resampled_ranks(d, idx, n) for d, n in zip(dense, levels)])
            out[:, k] = _corr_rows(ranks[1:], np.broadcast_to(ranks[0], ranks[1:].shape))
    return out


def assess(scores: pd.DataFrame, truth: pd.DataFrame, seed: int = 0,
           baselines: Mapping[str, pd.DataFrame] | None = None) -> QualityReport:
    """Agreement of a chip-score table (tile, datetime, row, col, score) with
    :func:`publisher.imagery.truth.chip_truth_table`'s output, beside ``baselines`` (name -> table of tile,
    year, row, col, value; measured on the scored chips that have a value)."""
    baselines = dict(baselines or {})
    joined = _join(scores, truth, baselines)
    if joined.empty:
        raise DevscoreError("no scored chip has a known truth: the scores and the region do not overlap")
    granules = []
    for (tile, year), g in joined.groupby(["tile", "year"], sort=True):
        plain = g[g["plain"]]
        granules.append(GranuleQuality(f"{tile}-{year}", Agreement.of(g["score"].to_numpy(), g["truth"].to_numpy()),
                                       Agreement.of(plain["score"].to_numpy(), plain["truth"].to_numpy())))
    rng = np.random.default_rng(seed)
    score, true, is_plain = joined["score"].to_numpy(), joined["truth"].to_numpy(), joined["plain"].to_numpy(bool)
    shuffled = rng.permutation(score)
    score_ranks, true_ranks = rankdata(score), rankdata(true)  # a permutation permutes the ranks
    permuted = _corr_rows(np.stack([rng.permutation(score_ranks) for _ in range(PERMUTATIONS)]),
                          np.broadcast_to(true_ranks, (PERMUTATIONS, len(true))))
    resamples = _block_resamples(joined, BOOTSTRAPS, rng)
    usable = {name: joined[name].notna().to_numpy() for name in baselines}
    report_baselines = []
    columns = ["score", *baselines]
    boot_all = _bootstrap(joined, columns, np.ones(len(joined), bool), resamples)
    boot_plain = _bootstrap(joined, columns, is_plain, resamples)
    for i, name in enumerate(baselines, start=1):
        ok = usable[name]
        if ok.all():
            gain_all, gain_plain = boot_all[0] - boot_all[i], boot_plain[0] - boot_plain[i]
        else:  # a baseline that misses chips: its own resamples over the chips it has
            own_all = _bootstrap(joined, ["score", name], ok, resamples)
            own_plain = _bootstrap(joined, ["score", name], ok & is_plain, resamples)
            gain_all, gain_plain = own_all[0] - own_all[1], own_plain[0] - own_plain[1]
        value = joined[name].to_numpy()
        report_baselines.append(Baseline(
            name, Agreement.of(value[ok], true[ok]), Agreement.of(value[ok & is_plain], true[ok & is_plain]),
            Interval.of(gain_all), Interval.of(gain_plain)))
    finite = permuted[np.isfinite(permuted)]
    calibration = _calibration(joined, resamples, rng) if UNCERTAINTY_COLUMN in joined.columns else None
    return QualityReport(
        granules=granules,
        all=Agreement.of(score, true),
        plain=Agreement.of(score[is_plain], true[is_plain]),
        shuffled_control=Agreement.of(shuffled, true),
        interval_all=Interval.of(boot_all[0]),
        interval_plain=Interval.of(boot_plain[0]),
        shuffled=Spread(PERMUTATIONS, float(finite.mean()) if finite.size else None,
                        float(finite.std(ddof=1)) if finite.size > 1 else None),
        baselines=report_baselines,
        calibration=calibration,
    )


def rank_errors(joined: pd.DataFrame) -> np.ndarray:
    """Each chip's |rank of its score - rank of its truth| within its granule-year, as a share of its chips."""
    groups = joined.groupby(["tile", "year"], sort=False)
    share = lambda column: groups[column].rank(method="average", pct=True).to_numpy()  # noqa: E731
    return np.abs(share("score") - share("truth"))


def _calibration(joined: pd.DataFrame, resamples: list[np.ndarray], rng: np.random.Generator) -> Calibration | None:
    """Spread vs absolute rank error on the chips with a spread (None when no chip has one)."""
    has = joined[UNCERTAINTY_COLUMN].notna().to_numpy()
    if has.sum() < 3:
        return None
    error = rank_errors(joined)
    spread = joined[UNCERTAINTY_COLUMN].to_numpy(np.float64)
    is_plain = joined["plain"].to_numpy(bool)
    frame = joined.assign(truth=error, spread=np.where(has, spread, 0.0))  # same index: the resamples apply
    boot = _bootstrap(frame, ["spread"], has, resamples)[0]
    spread_ranks, error_ranks = rankdata(spread[has]), rankdata(error[has])
    permuted = _corr_rows(np.stack([rng.permutation(spread_ranks) for _ in range(PERMUTATIONS)]),
                          np.broadcast_to(error_ranks, (PERMUTATIONS, len(error_ranks))))
    finite = permuted[np.isfinite(permuted)]
    return Calibration(Agreement.of(spread[has], error[has]), Agreement.of(spread[has & is_plain], error[has & is_plain]),
                       Interval.of(boot), Spread(PERMUTATIONS, float(finite.mean()) if finite.size else None,
                                                 float(finite.std(ddof=1)) if finite.size > 1 else None),
                       float(spread[has].mean()))


def cluster_targets(ranking_dir: str | Path) -> pd.DataFrame:
    """tile, year, row, col, value: each ranked chip given its cluster's target (the ranking folder's
    ``clusters.parquet`` and ``targets.json``): what the scorer was trained to reproduce."""
    ranking_dir = Path(ranking_dir)
    clusters = pd.read_parquet(ranking_dir / "clusters.parquet")
    targets = {int(k): float(v) for k, v in json.loads((ranking_dir / "targets.json").read_text())["targets"].items()}
    return clusters.assign(value=clusters["cluster"].map(targets))[KEYS + ["value"]]


def ranker_index(chips_dir: str | Path) -> pd.DataFrame:
    """tile, year, row, col, value: the heuristic ranker's own development index of every usable chip
    (its built-up share B, a pixel count with no learning), one granule-year in memory at a time."""
    from publisher.imagery.builtup import builtup_share
    from publisher.imagery.chipfiles import list_chip_files

    frames = []
    for chip_file in list_chip_files(chips_dir):
        chips = chip_file.load(lazy=True)  # only the usable chips are read
        ok = chips.flags == 0
        frames.append(pd.DataFrame({"tile": chip_file.tile, "year": chip_file.year, "row": chips.rows[ok].astype(int),
                                    "col": chips.cols[ok].astype(int), "value": builtup_share(chips.chips[ok])}))
    return pd.concat(frames, ignore_index=True)


def write_quality_report(report: QualityReport, scores: pd.DataFrame, truth: pd.DataFrame, folder: Path) -> list[Path]:
    """``quality.json`` and ``quality.png`` in ``folder``: score against truth (plain and mountain chips
    apart), and the published Spearman beside its interval, its baselines and the shuffled control."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    json_path, png_path = folder / "quality.json", folder / "quality.png"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2))
    joined = _years(scores).merge(truth, on=KEYS).dropna(subset=["score", "truth"])
    calibrated = report.calibration is not None and UNCERTAINTY_COLUMN in joined.columns
    fig, axes = plt.subplots(1, 3 if calibrated else 2, figsize=(16 if calibrated else 11, 5), dpi=110,
                             width_ratios=(1, 1.1, 1) if calibrated else (1, 1.1))
    ax, bars = axes[0], axes[1]
    for is_plain, colour, label in ((True, "tab:green", "plain"), (False, "tab:brown", "mountain")):
        part = joined[joined["plain"] == is_plain]
        ax.scatter(part["truth"], part["score"], s=4, alpha=0.4, c=colour, label=f"{label} ({len(part)} chips)")
    fmt = lambda a: "n/a" if a.spearman is None else f"{a.spearman:.2f}"  # noqa: E731
    ax.set(xlabel="ground truth (chip mean)", ylabel="published score", xlim=(0, 1), ylim=(0, 1),
           title=f"Spearman {fmt(report.all)} overall, {fmt(report.plain)} plain")
    ax.legend(loc="upper left", markerscale=3)
    _baseline_panel(bars, report)
    if calibrated:
        _calibration_panel(axes[2], joined, report.calibration)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return [json_path, png_path]


def _baseline_panel(ax, report: QualityReport) -> None:
    """Spearman (all, plain) of the published scores with their block-bootstrap interval, each baseline, and
    the shuffled control with +- 2 SD over its permutations."""
    names = ["published scores", *[b.name for b in report.baselines], "shuffled control"]
    shuffled = report.shuffled.mean or 0.0, report.shuffled.mean or 0.0
    values = [(report.all.spearman, report.plain.spearman), *[(b.all.spearman, b.plain.spearman)
                                                             for b in report.baselines], shuffled]
    y = np.arange(len(names))[::-1]
    for offset, which, colour in ((0.18, 0, "tab:blue"), (-0.18, 1, "tab:green")):
        v = np.array([np.nan if p[which] is None else p[which] for p in values], float)
        ax.barh(y + offset, v, height=0.34, color=colour, label=("all chips", "plain")[which])
        interval = (report.interval_all, report.interval_plain)[which]
        if interval.low is not None and v[0] == v[0]:
            ax.errorbar(v[0], y[0] + offset, xerr=[[v[0] - interval.low], [interval.high - v[0]]], fmt="none",
                        ecolor="black", capsize=3)
        if report.shuffled.sd is not None:
            ax.errorbar(v[-1], y[-1] + offset, xerr=2 * report.shuffled.sd, fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(y, names)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(xlim=(min(-0.1, np.nanmin([0.0, *[p[0] or 0 for p in values]]) - 0.05), 1.0), xlabel="Spearman vs truth",
           title="published vs baselines (95 % block bootstrap; shuffled +- 2 SD)")
    ax.legend(loc="lower right")


def _calibration_panel(ax, joined: pd.DataFrame, calibration: Calibration) -> None:
    """Absolute rank error against the spread: the chips, and the mean error per tenth of the spreads."""
    part = joined[joined[UNCERTAINTY_COLUMN].notna()]
    error = rank_errors(part)
    spread = part[UNCERTAINTY_COLUMN].to_numpy(np.float64)
    ax.scatter(spread, error, s=3, alpha=0.15, c="tab:grey", label=f"chips ({len(part)})")
    edges = np.unique(np.quantile(spread, np.linspace(0, 1, 11)))
    which = np.clip(np.searchsorted(edges, spread, side="right") - 1, 0, len(edges) - 2)
    centres = [spread[which == k].mean() for k in range(len(edges) - 1) if (which == k).any()]
    means = [error[which == k].mean() for k in range(len(edges) - 1) if (which == k).any()]
    ax.plot(centres, means, "o-", color="tab:red", label="mean per tenth of the spreads")
    fmt = lambda a: "n/a" if a.spearman is None else f"{a.spearman:.2f}"  # noqa: E731
    control = "" if calibration.shuffled.mean is None else f", shuffled {calibration.shuffled.mean:+.2f}"
    ax.set(xlabel="uncertainty (spread of the score over the ensemble)", ylabel="|rank error| (share of chips)",
           title=f"Calibration: Spearman {fmt(calibration.all)}{control}", ylim=(0, 1))
    ax.legend(loc="upper left", markerscale=3)
