"""`devscore rank`: from chip folders to the ranking folder that `devscore train` reads."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli_types import NonEmptyPath


@click.command("rank")
@click.option("--chips", "chips_dir", required=True, type=NonEmptyPath(path_type=Path, file_okay=False, exists=True),
              help="Folder of <tile>-<year>.npz chip files written by `devscore chips`.")
@click.option("--out", required=True, type=NonEmptyPath(path_type=Path, file_okay=False),
              help="Ranking folder to write (clusters.parquet, pogs.txt, pog.txt, targets.json, provenance.json, plots).")
@click.option("--ranker", type=click.Choice(["vlm", "file", "heuristic"]), default="vlm", show_default=True,
              help="vlm: a vision-language model over an OpenAI-compatible API; file: a POG written by a person "
                   "(--pog); heuristic: offline stand-in ranking by pixel indices (no VLM).")
@click.option("--pog", "pog_file", type=NonEmptyPath(path_type=Path),
              help="With --ranker file: the POG, as `0>1>2=3` or one relation a line (`1<0`, `4=3=6`), over the "
                   "clusters the heuristic ranker makes with the same --seed and --k-min/--k-max (see its contact sheets).")
@click.option("--pogs", "m", type=click.IntRange(1), default=10, show_default=True,
              help="POGs to draw, each from other sample chips, before aggregating them.")
@click.option("--category-sample", type=click.IntRange(2), default=200, show_default=True,
              help="Chips the VLM categorises to train the category classifier on.")
@click.option("--k-min", type=click.IntRange(2), default=3, show_default=True, help="Smallest K tried per category.")
@click.option("--k-max", type=click.IntRange(2), default=20, show_default=True, help="Largest K tried per category.")
@click.option("--features", type=click.Choice(["auto", "resnet", "indices"]), default="auto", show_default=True,
              help="What K-means clusters on: ResNet-18 features, or the pixel indices; auto = resnet for the VLM "
                   "ranker, indices for heuristic and file.")
@click.option("--epochs", type=click.IntRange(1), default=8, show_default=True,
              help="Training epochs of the category classifier and of each DeepCluster round.")
@click.option("--input-size", type=click.IntRange(16, 64), default=64, show_default=True,
              help="Side in pixels of the ResNet-18 input (chips are kept as 64 px thumbnails; smaller is faster).")
@click.option("--deepcluster-rounds", type=click.IntRange(0), default=0, show_default=True,
              help="Retrain the backbone on the cluster pseudo-labels and recluster, this many times.")
@click.option("--weights", type=NonEmptyPath(path_type=Path),
              help="ResNet-18 state dict (torchvision or torchgeo style) to start from, loaded strictly; "
                   "default: random initialisation.")
@click.option("--levels", type=click.IntRange(2), default=7, show_default=True, help="Levels of the final POG.")
@click.option("--weighting", type=click.Choice(["published", "robust"]),
              help="POG aggregation weighting (default: the aggregator's, see README).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of sampling, training and K-means.")
@click.option("--vlm-base-url", envvar="DEVSCORE_VLM_BASE_URL", help="OpenAI-compatible endpoint [env DEVSCORE_VLM_BASE_URL].")
@click.option("--vlm-model", envvar="DEVSCORE_VLM_MODEL", help="Model name [env DEVSCORE_VLM_MODEL].")
@click.option("--vlm-api-key", envvar="DEVSCORE_VLM_API_KEY", help="API key [env DEVSCORE_VLM_API_KEY]; never printed.")
@click.option("--structured", is_flag=True, help="Ask the server for structured output (vLLM guided choice/regex).")
@click.option("--concurrency", type=click.IntRange(1), default=8, show_default=True, help="VLM requests in flight.")
@click.option("--calls", type=click.IntRange(1), default=3, show_default=True, help="VLM calls per image, averaged.")
@click.option("--cache", "cache_dir", type=NonEmptyPath(path_type=Path),
              help="VLM answer cache folder (default: <out>/.vlm-cache); a re-run costs no calls.")
@click.option("--prompts", type=NonEmptyPath(path_type=Path),
              help="TOML file with `score = \"...\"` and/or `category = \"...\"` replacing METHOD.md's prompts.")
@click.option("--progress/--no-progress", default=True, help="Progress bars.")
def rank(chips_dir: Path, out: Path, ranker: str, pog_file: Path | None, m: int, category_sample: int, k_min: int,
         k_max: int, features: str, epochs: int, input_size: int, deepcluster_rounds: int, weights: Path | None, levels: int,
         weighting: str | None, seed: int, vlm_base_url: str | None, vlm_model: str | None, vlm_api_key: str | None,
         structured: bool, concurrency: int, calls: int, cache_dir: Path | None, prompts: Path | None,
         progress: bool) -> None:
    """Rank the chips' clusters by development: categories, clusters, M POGs and their aggregate.

    Usable chips (neither blank nor cloudy) of every granule-year in --chips are categorised
    (urban, rural, mountain, highland), clustered within each category (K by silhouette), and the
    clusters ordered by M partial order graphs (POGs), each from one random chip per cluster,
    aggregated into the final POG whose levels give each cluster a target score in [0, 1].
    """
    from publisher.ranking.rank import RankOptions, run_rank, write_ranking
    from publisher.ranking.rankers import build_ranker

    if k_max < k_min:
        raise click.BadParameter(f"--k-max {k_max} is below --k-min {k_min}", param_hint="--k-max")
    if ranker == "file" and pog_file is None:
        raise click.UsageError("--ranker file needs --pog FILE")
    if pog_file is not None and ranker != "file":
        raise click.UsageError("--pog is only read with --ranker file")
    options = RankOptions(pogs=1 if ranker == "file" else m, seed=seed, category_sample=category_sample, k_min=k_min,
                          k_max=k_max, features=features, epochs=epochs, input_size=input_size, deepcluster_rounds=deepcluster_rounds,
                          weights=str(weights) if weights else None, levels=levels, weighting=weighting,
                          progress=progress)
    vlm = {"base_url": vlm_base_url, "model": vlm_model, "api_key": vlm_api_key, "structured": structured,
           "concurrency": concurrency, "calls_per_image": calls, "prompts_file": prompts,
           "cache_dir": cache_dir or out / ".vlm-cache"}
    chosen = build_ranker(ranker, pog_file=pog_file, vlm=vlm, progress=progress)
    ranking = run_rank(chips_dir, chosen, options)
    write_ranking(ranking, out)
    if ranker == "vlm":
        click.echo(chosen.client.stats.summary())
    elif ranker == "heuristic":
        click.echo("heuristic ranker: categories and development from pixel indices (offline stand-in), no VLM asked")
    result = ranking.result
    click.echo(f"{len(ranking.store)} chips ({ranking.store.flagged} flagged left out) of "
               f"{len(ranking.store.files)} granule-year(s) -> {ranking.n_clusters} clusters "
               f"{ranking.provenance['clusters_per_category']} on {ranking.features} features; "
               f"{len(ranking.pogs)} POG(s) by the {ranker} ranker -> {int(max(result.level_of)) + 1} levels")
    click.echo(f"final POG: {result.pog.to_string()}")
    click.echo(f"wrote {out}/clusters.parquet, pogs.txt, pog.txt, targets.json, provenance.json, contact_sheets/, silhouette/")

