"""The examples of the README and docs/ run: every fenced block marked ``runnable`` (```bash runnable,
```python runnable) is executed against a served demo-like catalog, its ``http://127.0.0.1:8000``
replaced by the test server's address, and must exit 0 (with ``set -euo pipefail`` for bash)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(bash|python) runnable\n(.*?)^```", re.S | re.M)
EXAMPLE_BASE = "http://127.0.0.1:8000"


def runnable_blocks() -> list[tuple[str, str, str]]:
    """(where, language, code) of every runnable block, in file order."""
    blocks = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text[:match.start()].count("\n") + 1
            blocks.append((f"{path.relative_to(ROOT)}:{line}", match.group(1), match.group(2)))
    return blocks


def test_the_serving_examples_are_marked():
    """The pystac-client, QGIS/curl and link-checker examples are among the blocks run."""
    code = "\n".join(block for _, _, block in runnable_blocks())
    assert "pystac_client" in code and "WMTSCapabilities.xml" in code and "validate --links" in code


@pytest.mark.parametrize("where,language,code", runnable_blocks(), ids=[b[0] for b in runnable_blocks()])
def test_runnable_example(demo_served, tmp_path, where, language, code):
    base, _ = demo_served
    code = code.replace(EXAMPLE_BASE, base)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # `.venv/bin/devscore` as written
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = ["bash", "-c", "set -euo pipefail\n" + code] if language == "bash" else [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{where}: {result.stderr[-2000:]}"
    assert result.stdout.strip(), f"{where} printed nothing"
