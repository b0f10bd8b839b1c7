"""Timing helpers shared by the benchmarks: medians after a warm-up, peak memory of a child, machine,
servers started and awaited one way, the stage times `devscore run` prints."""

from __future__ import annotations

import contextlib
import json
import shutil
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import psutil


def median_seconds(func: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``func`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child_peak_rss_mb(code: str) -> tuple[float, dict]:
    """Run Python ``code`` in a fresh interpreter; return its peak RSS (MB) and the JSON it prints last."""
    wrapper = (
        "import json, resource\n"
        f"{code}\n"
        "print(json.dumps({'peak_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **result}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data.pop("peak_rss_kb") / 1024, data


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = "no GPU"
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip() or gpu
    except (OSError, subprocess.SubprocessError):
        pass
    ram = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, {gpu}, Python {platform.python_version()}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table(header: list[str], rows: list[list[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def running_server(args: list[str], probe: str, env: dict[str, str] | None = None,
                   timeout_s: float = 60.0) -> Iterator[subprocess.Popen]:
    """Start the server command ``args``, wait until ``probe`` (a URL) answers 200, yield its process, and
    stop it when the block ends. Its output goes to a temporary file (a pipe nobody reads could block
    it), whose tail is in the error when it exits or does not answer within ``timeout_s``."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    if httpx.get(probe, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"no answer in {timeout_s:.0f} s"
                    raise RuntimeError(f"server {' '.join(args[:2])} {state} at {probe}: {log.read()[-2000:]}")
                time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


#: wrk's request script: each request is the next line of the file named by WRK_PATHS, cycling.
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter - 1) % #paths + 1])
end
"""
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_load(base: str, paths: list[str], connections: int, seconds: float) -> tuple[float, float, float, int]:
    """Requests per second, p50 and p99 latency (ms) and errors (socket errors, answers other than 2xx/3xx)
    of ``connections`` keep-alive connections asking for ``paths`` in turn for ``seconds``, from wrk (a C
    load generator: a Python client takes a third of the 2 cores the servers are measured on)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (Debian's wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "paths.txt").write_text("\n".join(paths) + "\n")
        (Path(tmp) / "paths.lua").write_text(WRK_SCRIPT)
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s",
                              str(Path(tmp) / "paths.lua"), base], env={**os.environ, "WRK_PATHS": str(Path(tmp) / "paths.txt")},
                             capture_output=True, text=True, check=True).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * _WRK_UNITS[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return rate, latency("50"), latency("99"), errors


#: A row of the stage table `devscore run` and the demo print (devscore/run.py, RunReport.summary_lines).
_STAGE_ROW = re.compile(r"^(\w+) +(ran|skipped|given) +(\d+\.\d+)(?: |$)", re.MULTILINE)


def run_stage_seconds(stdout: str) -> dict[str, float]:
    """Seconds of every stage in the summary table of `devscore run`'s ``stdout``, in table order. A stage
    skipped or given means the run was not from a fresh folder: an error, as is a missing table."""
    rows = _STAGE_ROW.findall(stdout)
    if not rows:
        raise RuntimeError(f"no stage table in the output: {stdout[-2000:]}")
    not_run = [f"{name} {status}" for name, status, _ in rows if status != "ran"]
    if not_run:
        raise RuntimeError(f"stages did not run in a fresh folder: {', '.join(not_run)}")
    return {name: float(seconds) for name, _, seconds in rows}


#: Where benchmarks keep generated inputs between runs (git-ignored).
WORK = Path(__file__).resolve().parent / "work"


def synthetic_region(size: int = 10980, scenes: int = 3) -> Path:
    """A synthetic region (48RVU, 2023, ``scenes`` scenes) at ``size`` px, made once and kept in bench/work;
    returns its folder (``source/catalog.json`` is the source catalog)."""
    from publisher.imagery.synth import synthesize

    folder = WORK / f"region-48RVU-2023-{size}-{scenes}"
    if not (folder / "source" / "catalog.json").exists():
        synthesize(folder, tiles=("48RVU",), years=(2023,), scenes_per_year=scenes, size=size, seed=1, progress=False)
    return folder
