"""RowAssembly's two paths under a real `mpiexec -n 2`: MPI shared memory on one node, and Gatherv across
nodes (emulated with DEVSCORE_MPI_RANKS_PER_NODE=1); both assemble the same array on rank 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import numpy as np
from publisher.mpi import RowAssembly, world
comm = world()
start, stop = (0, 3) if comm.rank == 0 else (3, 5)
with RowAssembly(comm, 5, (4,), np.int32, start, stop) as assembly:
    assembly.part[:] = np.arange(start * 4, stop * 4).reshape(-1, 4) * (comm.rank + 1)
    whole = assembly.assemble()
    if comm.is_root:
        path = "shared" if assembly._window is not None else "gatherv"
        print(path, whole.reshape(-1).tolist())
"""


@pytest.mark.parametrize(("ranks_per_node", "path"), [("", "shared"), ("1", "gatherv")])
def test_row_assembly_paths(tmp_path, ranks_per_node, path):
    bindir = Path(sys.executable).parent
    script = tmp_path / "assemble.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "DEVSCORE_MPI_RANKS_PER_NODE": ranks_per_node}
    proc = subprocess.run([str(bindir / "mpiexec"), "-n", "2", sys.executable, str(script)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    expected = list(range(12)) + [2 * v for v in range(12, 20)]
    assert proc.stdout.split(None, 1)[0] == path
    assert proc.stdout.split(None, 1)[1].strip() == str(expected)


def test_bad_ranks_per_node_is_refused(tmp_path):
    bindir = Path(sys.executable).parent
    script = tmp_path / "assemble.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "DEVSCORE_MPI_RANKS_PER_NODE": "zero"}
    proc = subprocess.run([str(bindir / "mpiexec"), "-n", "2", sys.executable, str(script)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode != 0 and "DEVSCORE_MPI_RANKS_PER_NODE" in proc.stderr
