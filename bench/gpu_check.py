"""`make gpu-check`: what a CUDA machine gives devscore, in under 5 minutes, written to bench/GPU.md.

(a) the pycuda painter against the numpy painter (identical output, both times); (b) training steps/s at
343 px with and without mixed precision; (c) inference chips/s at 343 px by batch size; (d) one
granule-year at the real 10 m grid through `devscore run --profile gpu`. Without CUDA it prints one line
and exits 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median_seconds

#: Timed repetitions per figure (after one untimed warm-up).
REPEATS = 5
TRAIN_STEPS = 10
INFER_BATCHES = (64, 128, 256, 512)
#: The rank loss's step: 32 chips per POG level, 7 levels.
BATCH, LEVELS = 32, 7
RUN_TIMEOUT_S = 200



def painters() -> list[str]:
    """(a) numpy vs pycuda painter on one granule's 32 x 32 scores."""
    import numpy as np

    from publisher.paint import paint

    rng = np.random.default_rng(0)
    scores = rng.random((32, 32), dtype=np.float32)
    scores[rng.random((32, 32)) < 0.05] = np.nan
    cpu = paint(scores, "cpu")
    cpu_s = median_seconds(lambda: paint(scores, "cpu"), 3)
    try:
        gpu = paint(scores, "cuda")
    except Exception as exc:  # noqa: BLE001 - reported, not hidden: pycuda missing or failing
        return [f"pycuda painter unavailable ({type(exc).__name__}: {str(exc)[:120]}); numpy painter {cpu_s:.2f} s"]
    gpu_s = median_seconds(lambda: paint(scores, "cuda"), 3)
    same = np.array_equal(cpu, gpu, equal_nan=True)
    return ["| painter | seconds per granule | identical to numpy |", "|---|---|---|",
            f"| numpy (CPU) | {cpu_s:.3f} | - |", f"| pycuda | {gpu_s:.4f} | {'yes' if same else 'NO'} |"]


def training() -> list[str]:
    """(b) optimizer steps/s at 343 px, rank loss, batch 32 x 7 levels, with and without mixed precision."""
    import torch

    from publisher.scoring.losses import rank_loss
    from publisher.scoring.model import NATIVE_INPUT_SIZE, Scorer

    rows = ["| mixed precision | steps/s | chips/s |", "|---|---|---|"]
    for amp in (False, True):
        model = Scorer(NATIVE_INPUT_SIZE).cuda().to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        images = torch.randn(BATCH * LEVELS, 3, NATIVE_INPUT_SIZE, NATIVE_INPUT_SIZE, device="cuda"
                             ).contiguous(memory_format=torch.channels_last)

        def steps() -> None:
            for _ in range(TRAIN_STEPS):
                with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                    loss = rank_loss(model(images).float().view(LEVELS, BATCH))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            torch.cuda.synchronize()

        seconds = median_seconds(steps, 3) / TRAIN_STEPS
        rows.append(f"| {'yes' if amp else 'no'} | {1 / seconds:.2f} | {BATCH * LEVELS / seconds:.0f} |")
    return rows


def inference() -> list[str]:
    """(c) chips/s at 343 px by batch size, as `devscore score` runs on CUDA (float16, channels-last)."""
    import torch

    from publisher.scoring.model import NATIVE_INPUT_SIZE, Scorer

    model = Scorer(NATIVE_INPUT_SIZE).cuda().eval().to(memory_format=torch.channels_last)
    rows = ["| batch | chips/s |", "|---|---|"]
    for batch in INFER_BATCHES:
        images = torch.randn(batch, 3, NATIVE_INPUT_SIZE, NATIVE_INPUT_SIZE, device="cuda"
                             ).contiguous(memory_format=torch.channels_last)

        def once() -> None:
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
                model(images)
            torch.cuda.synchronize()

        rows.append(f"| {batch} | {batch / median_seconds(once, REPEATS):.0f} |")
    return rows


def one_granule_year() -> list[str]:
    """(d) a synthetic granule-year at the 10 m grid through `devscore run --profile gpu` (a 1-minute training)."""
    from publisher.imagery.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthesize(Path(tmp) / "region", tiles=("48RVU",), years=(2023,), scenes_per_year=1, progress=False)
        synth_s = time.perf_counter() - start
        exe = Path(sys.executable).parent / "devscore"
        try:
            proc = subprocess.run([str(exe), "run", "--tiles", "48RVU", "--years", "2023", "--source-catalog",
                                   str(Path(tmp) / "region" / "source"), "--out", str(Path(tmp) / "run"),
                                   "--max-cloud", "100", "--profile", "gpu", "--train-minutes", "1", "--no-progress"],
                                  capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return [f"synth {synth_s:.0f} s; devscore run did not finish within {RUN_TIMEOUT_S} s"]
    if proc.returncode != 0:
        return [f"devscore run --profile gpu failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"]
    table = proc.stdout.split("\nstage ", 1)[1].split("\n\n", 1)[0].splitlines()
    return [f"synth (CPU) {synth_s:.0f} s, then `devscore run --profile gpu --train-minutes 1`:", "", "```",
            "stage " + table[0], *table[1:], "```"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/GPU.md"), help="Markdown file to write")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA device on this machine; nothing measured, nothing written.")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "4")
    started = time.perf_counter()
    device = torch.cuda.get_device_name(0)
    sections = [f"# GPU check ({device}, torch {torch.__version__})", "",
                "## (a) Painting one granule (10980 x 10980 float32)", "", *painters(), "",
                "## (b) Training at 343 px (ResNet-18, rank loss, 32 chips x 7 levels a step)", "", *training(), "",
                "## (c) Inference at 343 px (float16, channels-last)", "", *inference(), "",
                "## (d) One granule-year at the 10 m grid", "", *one_granule_year(), ""]
    sections.append(f"Whole check: {time.perf_counter() - started:.0f} s.")
    args.out.write_text("\n".join(sections) + "\n")
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
