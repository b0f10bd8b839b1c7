"""Progress bars only on a terminal: written to a log file, a stage leaves one line and no carriage
returns; an inner bar (leave=False) leaves nothing; --no-progress (disable=True) leaves nothing."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from devscore.logs import configure_logging
from publisher.progress import tqdm
configure_logging("info")
for _ in tqdm(range(5), desc="outer", unit="granule-year"):
    for _ in tqdm(range(3), desc="inner", leave=False):
        pass
with tqdm(total=4, desc="manual", unit="step") as bar:
    for _ in range(4):
        bar.update()
        bar.set_postfix(loss=0.5)
for _ in tqdm(range(2), desc="silenced", disable=True):
    pass
"""


def test_a_log_file_gets_one_line_per_stage(tmp_path):
    log = tmp_path / "run.log"
    with open(log, "w") as stream:
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=stream, stderr=subprocess.STDOUT, check=True, timeout=120)
    text = log.read_text()
    assert "\r" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 2, text
    assert "outer: 5 granule-years in" in lines[0]
    assert "manual: 4 steps in" in lines[1]
