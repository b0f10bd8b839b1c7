"""A rank with nothing left to do waits asleep under a real `mpiexec -n 2` (Communicator.idle_barrier):
MPICH's blocking collectives spin a core, which on a small machine is taken from the rank still working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import resource, time
from publisher.mpi import map_gather, world
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
comm = world()
comm.barrier()
start, cpu_start = time.perf_counter(), cpu()
map_gather(lambda seconds: time.sleep(seconds), [3.0], comm)  # rank 0 works, rank 1 has no share
comm.bcast(None)  # what comes next in a run: rank 1 has waited for rank 0 by here, one way or another
if comm.rank == 1:
    print(time.perf_counter() - start, cpu() - cpu_start)
"""


def test_a_rank_without_work_waits_asleep(tmp_path):
    script = tmp_path / "wait.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([str(Path(sys.executable).parent / "mpiexec"), "-n", "2", sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    waited, cpu = map(float, proc.stdout.split())
    assert waited > 2.5  # it did wait for rank 0
    assert cpu < 0.2 * waited, f"rank 1 used {cpu:.1f} s of CPU while waiting {waited:.1f} s"
