"""`devscore --help` and every `devscore COMMAND --help` stay light: no torch, rasterio, pandas or
TiTiler is imported to show them, and the command list comes from the table without importing any
command module."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import click

from devscore.cli import COMMANDS, cli

HEAVY = ("torch", "torchvision", "rasterio", "pandas", "titiler", "fastapi", "sklearn", "openai", "geopandas")

#: Runs in a fresh interpreter: the group's help, then each command's help, through the console
#: script's entry point; prints the heavy modules imported after each, and the peak RSS.
PROBE = textwrap.dedent("""
    import json, sys
    from devscore.cli import COMMANDS, main
    heavy = {heavy!r}
    seen = {{}}
    for args in [[]] + [[name] for name in COMMANDS]:
        sys.argv = ["devscore", *args, "--help"]
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), (args, exc.code)
        seen[" ".join(args) or "(group)"] = sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))
        if not args:
            seen["(group modules)"] = sorted(m for m in sys.modules if any(m.startswith(e.target.split(":")[0])
                                                                         for e in COMMANDS.values()))
    # VmHWM: this process's peak RSS (getrusage's ru_maxrss carries the forking parent's peak across exec)
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("PROBE " + json.dumps({{"heavy": seen, "rss_kb": hwm}}))
""")


def test_help_of_the_group_and_every_command_imports_nothing_heavy():
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("PROBE "))[6:])
    assert probe["heavy"].pop("(group modules)") == [], "listing the commands imported a command module"
    assert probe["heavy"] == {name: [] for name in ["(group)", *COMMANDS]}
    assert probe["rss_kb"] < 200 * 1024
    for name, entry in COMMANDS.items():  # every command is listed with the table's summary
        assert f"  {name}" in proc.stdout and entry.summary in proc.stdout.replace("\n", " ")


def test_every_table_entry_is_a_click_command_with_its_summary():
    ctx = click.Context(cli)
    for name, entry in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        assert command.get_short_help_str() == entry.summary
        assert command.help and command.help.strip()
