"""The pycuda painter: one thread per output pixel, threads of a warp on adjacent columns.

Each thread reads its chip's score from a 33 x 33 lookup table (the edge strip is row/column 32,
nodata) held in shared memory, and writes one float; consecutive threads write consecutive
addresses, so stores coalesce. pycuda is imported lazily: without it the numpy path is used.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from publisher.constants import CHIPS_PER_SIDE
from publisher.grid import ChipGrid
from publisher.paint import chip_lookup

log = logging.getLogger(__name__)

BLOCK = (128, 4, 1)  # 128 threads along a row (4 warps, coalesced), 4 rows per block

KERNEL = r"""
#define TABLE %(table)d
extern "C" __global__ void paint(const float *table, float *out, int size, int chip, int chipped)
{
    __shared__ float lut[TABLE * TABLE];
    int t = threadIdx.y * blockDim.x + threadIdx.x;
    for (int i = t; i < TABLE * TABLE; i += blockDim.x * blockDim.y) lut[i] = table[i];
    __syncthreads();
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (col >= size || row >= size) return;
    int r = row < chipped ? row / chip : TABLE - 1;
    int c = col < chipped ? col / chip : TABLE - 1;
    out[(size_t)row * size + col] = lut[r * TABLE + c];
}
"""


@functools.cache
def cuda_available() -> bool:
    """Whether pycuda imports and a CUDA device can be used; never raises."""
    try:
        import pycuda.driver as drv

        drv.init()
        return drv.Device.count() > 0
    except Exception as exc:  # ImportError, or a driver without a device
        log.debug("CUDA not available: %s", exc)
        return False


@functools.cache
def _kernel():
    import pycuda.autoinit  # noqa: F401  (creates the context once per process)
    from pycuda.compiler import SourceModule

    return SourceModule(KERNEL % {"table": CHIPS_PER_SIDE + 1}, no_extern_c=True).get_function("paint")


def paint_cuda(scores: np.ndarray, grid: ChipGrid, out: np.ndarray | None = None) -> np.ndarray:
    """Paint the whole ``grid`` on the GPU and copy it back into ``out`` (allocated when None)."""
    import pycuda.driver as drv

    if grid.width != grid.height:
        raise ValueError(f"the CUDA painter paints square grids, not {grid.width} x {grid.height}")
    kernel = _kernel()
    table = np.ascontiguousarray(chip_lookup(scores))
    if out is None:
        out = np.empty(grid.shape, dtype=np.float32)
    d_table = drv.to_device(table)
    d_out = drv.mem_alloc(out.nbytes)
    size = grid.width
    blocks = ((size + BLOCK[0] - 1) // BLOCK[0], (size + BLOCK[1] - 1) // BLOCK[1])
    kernel(d_table, d_out, np.int32(size), np.int32(grid.chip_px), np.int32(grid.chipped),
           block=BLOCK, grid=blocks)
    drv.memcpy_dtoh(out, d_out)
    d_out.free()
    return out
