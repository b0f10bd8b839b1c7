"""Spread work over MPI ranks when launched by ``mpiexec``; run in one process otherwise.

mpi4py is imported only under an MPI launcher, so a plain run never initialises MPI.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

#: Emulate nodes of this many ranks (``DEVSCORE_MPI_RANKS_PER_NODE=1``: one rank per node), so the
#: cross-node paths run on one machine; unset, MPI tells which ranks share memory.
RANKS_PER_NODE_VARIABLE = "DEVSCORE_MPI_RANKS_PER_NODE"
#: Variables that MPICH's hydra, Open MPI and Slurm set in every rank they launch.
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS")


@dataclass(frozen=True)
class Communicator:
    """The slice of MPI a job needs: rank, size, broadcast and gather (size 1 without MPI)."""

    rank: int
    size: int
    _comm: Any = None

    @property
    def is_root(self) -> bool:
        """Whether this rank collects the results and writes the catalog."""
        return self.rank == 0

    def bcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank."""
        return value if self._comm is None else self._comm.bcast(value, root=0)

    def gather(self, value: T) -> list[T] | None:
        """Every rank's ``value``, in rank order, on rank 0; None elsewhere."""
        return [value] if self._comm is None else self._comm.gather(value, root=0)

    def gather_rows(self, local: np.ndarray) -> np.ndarray | None:
        """Every rank's ``local`` rows (same trailing shape and dtype everywhere) stacked in rank order on
        rank 0, None elsewhere; a buffer transfer (MPI Gatherv), no pickling of large arrays."""
        if self._comm is None:
            return local
        local = np.ascontiguousarray(local)
        send = local.reshape(-1).view(np.uint8)
        counts = self._comm.gather(local.shape[0], root=0)
        if not self.is_root:
            self._comm.Gatherv(send, None, root=0)
            return None
        out = np.empty((sum(counts), *local.shape[1:]), dtype=local.dtype)
        row_bytes = int(np.prod(local.shape[1:], dtype=np.int64)) * local.dtype.itemsize
        self._comm.Gatherv(send, (out.reshape(-1).view(np.uint8), [c * row_bytes for c in counts]), root=0)
        return out

    def barrier(self) -> None:
        """Wait for every rank."""
        if self._comm is not None:
            self._comm.Barrier()

    def idle_barrier(self, poll_s: float = 0.01) -> None:
        """Wait for every rank, asleep between polls. MPICH's blocking calls spin a core while they wait, which
        a rank done with its share would take from a rank still working (torch, GDAL) on a small machine."""
        if self._comm is not None:
            request = self._comm.Ibarrier()
            while not request.Test():
                time.sleep(poll_s)


def under_mpi_launcher() -> bool:
    """Whether this process was started by an MPI launcher with more than one rank."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        if os.environ.get(name, "1") not in ("", "1"):
            return True
    return False


def world() -> Communicator:
    """MPI's world communicator under ``mpiexec -n N`` (N > 1), else a single-rank stand-in."""
    if not under_mpi_launcher():
        return Communicator(rank=0, size=1)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    return Communicator(rank=comm.Get_rank(), size=comm.Get_size(), _comm=comm)


def my_share(items: Sequence[T], comm: Communicator) -> list[T]:
    """This rank's part of ``items``: round-robin, so ranks get near-equal counts in input order."""
    return list(items[comm.rank :: comm.size])


def map_gather(
    func: Callable[[T], R], items: Sequence[T], comm: Communicator
) -> tuple[list[R], list[str]] | None:
    """Apply ``func`` to this rank's share and gather results and error lines on rank 0.

    A failure on one rank never leaves the others waiting: every rank reaches the gather with its
    results or its error message, and rank 0 decides.
    """
    results: list[R] = []
    errors: list[str] = []
    for item in my_share(items, comm):
        try:
            results.append(func(item))
        except Exception as exc:  # reported to rank 0, which fails the run
            errors.append(f"rank {comm.rank}: {exc}")
            break
    comm.idle_barrier()  # a rank with a smaller share waits asleep, not spinning in the gather
    gathered = comm.gather((results, errors))
    if gathered is None:
        return None
    return [r for rs, _ in gathered for r in rs], [e for _, es in gathered for e in es]


def _node_communicator(comm: Any, mpi: Any) -> Any:
    """The ranks of ``comm`` that share this rank's memory (or its emulated node, see RANKS_PER_NODE_VARIABLE)."""
    per_node = os.environ.get(RANKS_PER_NODE_VARIABLE, "")
    if per_node:
        if not per_node.isdigit() or int(per_node) < 1:
            raise ValueError(f"{RANKS_PER_NODE_VARIABLE}={per_node!r}: expected a positive integer")
        return comm.Split(comm.Get_rank() // int(per_node), comm.Get_rank())
    return comm.Split_type(mpi.COMM_TYPE_SHARED)


class RowAssembly:
    """An array of ``total`` rows that every rank fills in part (``part``: rows ``start .. stop``) and rank 0
    reads whole. When all ranks share a node the array lives in MPI shared memory, so ranks write
    straight into it and nothing is copied; across nodes the parts are gathered with Gatherv.

    Use as a context manager on every rank: leaving it frees the shared memory (collectively), so rank 0
    must be done with the whole array by then."""

    def __init__(self, comm: Communicator, total: int, row_shape: tuple[int, ...], dtype: Any, start: int,
                 stop: int) -> None:
        self.comm, self._window = comm, None
        shape, itemsize = (total, *row_shape), np.dtype(dtype).itemsize
        if comm._comm is None:
            self._whole = np.empty(shape, dtype)
            self.part = self._whole[start:stop]
            return
        from mpi4py import MPI

        node = _node_communicator(comm._comm, MPI)
        if node.Get_size() == comm.size:
            nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize if node.Get_rank() == 0 else 0
            self._window = MPI.Win.Allocate_shared(nbytes, itemsize, comm=node)
            buffer, _ = self._window.Shared_query(0)
            self._whole = np.ndarray(buffer=buffer, dtype=dtype, shape=shape)
            self.part = self._whole[start:stop]
        else:
            self._whole = None
            self.part = np.empty((stop - start, *row_shape), dtype)
        node.Free()

    def assemble(self) -> np.ndarray | None:
        """The whole array on rank 0 once every rank has filled its part (collective); None elsewhere."""
        if self._window is None and self.comm._comm is not None:
            return self.comm.gather_rows(self.part)
        self.comm.barrier()
        return self._whole if self.comm.is_root else None

    def __enter__(self) -> RowAssembly:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._window is not None:
            self.comm.barrier()
            self._window.Free()
            self._window = None
