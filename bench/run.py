"""Run every benchmark module (bench/bench_*.py) and write the results table."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.common import machine

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    """Write bench/RESULTS.md (or --out) with one section per benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: checks that benchmarks run")
    parser.add_argument("--only", action="append", default=[], help="run only bench_<NAME> (repeatable)")
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    sections = [
        "# devscore benchmarks",
        "",
        f"Machine: {machine()}  ",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit or 'unknown'}"
        f"{', quick mode' if args.quick else ''}",
        "",
        "Medians over repeated runs; each ratio is against a baseline measured in the same run.",
    ]
    for name in names:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            section = importlib.import_module(f"bench.{name}").run(quick=args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            section = f"### {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}```"
        print(section, f"\n({time.perf_counter() - start:.0f} s)\n", flush=True)
        sections += ["", section]
    args.out.write_text("\n".join(sections) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
