"""Paint one granule: the numpy painter vs a naive per-pixel Python loop, and the CUDA kernel."""

from __future__ import annotations

import time

import numpy as np

from bench.common import median_seconds, table
from publisher.constants import CHIP_SIZE, GRANULE_SIZE, SCORE_NODATA
from publisher.grid import TileGrid
from publisher.paint import paint
from publisher.paint_cuda import cuda_available

GOAL_NUMPY_S = 0.3
GOAL_BANDWIDTH = 0.60
#: Chips the naive baseline paints before its time is scaled up to the whole granule.
BASELINE_CHIPS = 4


def naive_paint_seconds(scores: np.ndarray, chips: int) -> float:
    """Seconds the reference's per-pixel loops take per granule, timed on ``chips`` chips and scaled."""
    out = np.empty((GRANULE_SIZE, GRANULE_SIZE), dtype=np.float32)
    start = time.perf_counter()
    for k in range(chips):
        r, c = divmod(k, 32)
        value = SCORE_NODATA if np.isnan(scores[r, c]) else float(scores[r, c])
        for i in range(r * CHIP_SIZE, (r + 1) * CHIP_SIZE):
            for j in range(c * CHIP_SIZE, (c + 1) * CHIP_SIZE):
                out[i, j] = value
    per_pixel = (time.perf_counter() - start) / (chips * CHIP_SIZE * CHIP_SIZE)
    return per_pixel * GRANULE_SIZE * GRANULE_SIZE


def _cuda_rows(scores: np.ndarray, repeats: int) -> list[list[object]]:
    import pycuda.driver as drv

    from publisher.paint_cuda import BLOCK, _kernel
    from publisher.paint import chip_lookup

    kernel = _kernel()
    table_d = drv.to_device(np.ascontiguousarray(chip_lookup(scores)))
    out = drv.pagelocked_empty((GRANULE_SIZE, GRANULE_SIZE), np.float32)
    out_d = drv.mem_alloc(out.nbytes)
    grid = ((GRANULE_SIZE + BLOCK[0] - 1) // BLOCK[0], (GRANULE_SIZE + BLOCK[1] - 1) // BLOCK[1])
    start, end = drv.Event(), drv.Event()
    kernel_ms, copy_ms = [], []
    for i in range(repeats + 1):
        start.record()
        kernel(table_d, out_d, np.int32(GRANULE_SIZE), np.int32(CHIP_SIZE), np.int32(32 * CHIP_SIZE),
               block=BLOCK, grid=grid)
        end.record()
        end.synchronize()
        k = start.time_till(end)
        start.record()
        drv.memcpy_dtoh(out, out_d)
        end.record()
        end.synchronize()
        if i:  # first launch includes module load
            kernel_ms.append(k)
            copy_ms.append(start.time_till(end))
    device = drv.Context.get_device()
    attrs = device.get_attributes()
    peak = 2 * attrs[drv.device_attribute.MEMORY_CLOCK_RATE] * 1e3 * attrs[drv.device_attribute.GLOBAL_MEMORY_BUS_WIDTH] / 8
    k_med, c_med = float(np.median(kernel_ms)), float(np.median(copy_ms))
    bandwidth = out.nbytes / (k_med / 1e3)
    return [
        [f"CUDA kernel ({device.name()})", f"{k_med:.2f} ms", f"{bandwidth / 1e9:.0f} GB/s = {bandwidth / peak:.0%} of {peak / 1e9:.0f} GB/s peak"],
        ["CUDA copy back (pinned)", f"{c_med:.2f} ms", f"{out.nbytes / (c_med / 1e3) / 1e9:.1f} GB/s"],
    ]


def run(quick: bool = False) -> str:
    """Markdown section with medians and the speed-up over the naive baseline."""
    scores = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    repeats = 3 if quick else 9
    grid = TileGrid.from_tile_id("48RVU").chips
    numpy_s = median_seconds(lambda: paint(scores, grid, device="cpu"), repeats=repeats)
    naive_s = naive_paint_seconds(scores, 1 if quick else BASELINE_CHIPS)
    rows = [
        ["naive per-pixel Python loops (baseline, scaled from "
         f"{1 if quick else BASELINE_CHIPS} chips)", f"{naive_s:.1f} s", "1x"],
        ["numpy painter (whole granule, warm)", f"{numpy_s:.3f} s", f"{naive_s / numpy_s:.0f}x"],
    ]
    cuda_note = "CUDA: skipped, no pycuda or GPU on this machine."
    if cuda_available():
        rows += _cuda_rows(scores, repeats)
        cuda_note = f"CUDA goal: kernel bandwidth >= {GOAL_BANDWIDTH:.0%} of the device's peak."
    verdict = "meets" if numpy_s <= GOAL_NUMPY_S else "misses"
    return "\n".join([
        "### Paint one granule (10980 x 10980 float32)", "",
        table(["painter", "median", "speed-up / note"], rows), "",
        f"Goal: numpy <= {GOAL_NUMPY_S} s median: {verdict} ({numpy_s:.3f} s). Reference: 37.3 s per granule "
        f"with Python loops, pycuda 0.35 s. {cuda_note}",
    ])
