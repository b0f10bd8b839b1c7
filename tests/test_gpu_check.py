"""`make gpu-check` on a machine without CUDA: one line saying so, exit 0, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_without_cuda_says_so_and_exits_0(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: `make gpu-check` measures it")
    out = tmp_path / "GPU.md"
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--out", str(out)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == [
        "gpu-check: torch sees no CUDA device on this machine; nothing measured, nothing written."]
    assert not out.exists()
