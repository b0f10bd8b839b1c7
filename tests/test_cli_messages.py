"""Every message, help text and error names options that exist: each ``--option`` written in the code's
strings is an option of some devscore command, and the errors `devscore run` can reach name options
`devscore run` has (a message naming `rank`'s or `train`'s option sends a user of `run` nowhere)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import click
import pytest

from devscore.cli import COMMANDS, CommandEntry, cli, main

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("devscore", "publisher", "catalog", "tiler_app")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Options of other programs the code's strings mention (not devscore's): pypgstac's `migrate --dsn`.
FOREIGN: set[str] = {"--dsn"}
#: Modules whose errors a `devscore run` user sees.
RUN_MODULES = ("devscore/run.py", "publisher/pipeline.py", "publisher/ranking/vlm.py", "publisher/ranking/rankers.py")


def _options(command: click.Command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(n for n in [*param.opts, *param.secondary_opts] if n.startswith("--"))
    return names


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _declared(call: ast.Call) -> bool:
    """A ``click.option("--name", ...)`` or argparse ``add_argument("--name")`` call: its first arguments
    declare, not mention, options."""
    return isinstance(call.func, ast.Attribute) and call.func.attr in ("option", "argument", "version_option",
                                                                        "add_argument")


def script_options(path: Path) -> set[str]:
    """The options the argparse scripts (`python -m devscore.demo`, ...) declare in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return {arg.value for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "add_argument" for arg in n.args
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("--")}


def mentioned(path: Path, raises_only: bool = False) -> dict[str, int]:
    """``--option`` tokens in the strings of ``path`` (option declarations left out) -> a line they are on."""
    tree = ast.parse(path.read_text(), filename=str(path))
    declared = {id(arg) for n in ast.walk(tree) if isinstance(n, ast.Call) and _declared(n) for arg in n.args}
    found: dict[str, int] = {}
    roots = [n for n in ast.walk(tree) if isinstance(n, ast.Raise)] if raises_only else [tree]
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in declared:
                for token in OPTION.findall(node.value):
                    found.setdefault(token, node.lineno)
    return found


def test_every_option_named_in_the_code_exists():
    ctx = click.Context(cli)
    known = set().union(*(_options(cli.get_command(ctx, name)) for name in COMMANDS), _options(cli), {"--version"})
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    known |= set().union(*map(script_options, files)) | FOREIGN
    unknown = [f"{path.relative_to(ROOT)}:{line}: {token}"
               for path in files for token, line in mentioned(path).items() if token not in known]
    assert unknown == []


def test_errors_that_run_reaches_name_options_of_run():
    run_options = _options(cli.get_command(click.Context(cli), "run"))
    wrong = [f"{module}:{line}: {token}" for module in RUN_MODULES
             for token, line in mentioned(ROOT / module, raises_only=True).items() if token not in run_options]
    assert wrong == []


def test_the_check_finds_a_missing_option(tmp_path):
    """The scanner itself: an error naming a made-up option is found, a declaration is not."""
    source = tmp_path / "m.py"
    source.write_text('import click\n@click.option("--real")\ndef f(real):\n    raise ValueError("give --made-up")\n')
    assert mentioned(source) == {"--made-up": 4}


@click.command()
def _ctrl_c() -> None:
    raise KeyboardInterrupt


@click.command()
def _stopped_training() -> None:
    from publisher.scoring.train import TrainingInterrupted

    raise TrainingInterrupted("training interrupted in epoch 3; last.pt holds epoch 2")


@pytest.mark.parametrize("command, target, expected", [
    ("run", "_ctrl_c", "Interrupted: run the same command again to continue"),
    ("train", "_stopped_training", "Interrupted: training interrupted in epoch 3; last.pt holds epoch 2; run the "
                                   "same command with --resume added"),
    ("chips", "_ctrl_c", "Interrupted: run the same command again; finished files are kept"),
])
def test_ctrl_c_says_how_to_continue(monkeypatch, capsys, command, target, expected):
    """Ctrl-C in any command is one line saying how to go on (through the console script's entry point)."""
    monkeypatch.setitem(COMMANDS, command, CommandEntry(f"tests.test_cli_messages:{target}", "x"))
    monkeypatch.setattr(sys, "argv", ["devscore", command])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 130 and err[-1].startswith(expected) and "Traceback" not in "".join(err)
