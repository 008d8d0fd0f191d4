"""The command line builds each subcommand's typed options once (`cli.command_options`), so a
flag reaches its command under its own name or the parser fails: no command reads argparse's
namespace with a silent default."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from app.cli import build_parser, command_options
from app.command_options import (
    DemoOptions,
    DoctorOptions,
    FinalizeOptions,
    HistoryOptions,
    InitOptions,
    InstructOptions,
    PruneOptions,
    ReportOptions,
    SessionsOptions,
)

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(("argv", "expected"), [
    (["init", "--bench", "b", "--checks", "c", "--direction", "higher", "--metric", "m",
      "--unit", "u", "--agent", "command", "--yes"],
     InitOptions(bench="b", checks="c", direction="higher", metric="m", unit="u",
                 agent="command", yes=True)),
    (["init"], InitOptions()),
    (["demo", "--agent", "anthropic", "--dir", "d", "--headless", "--workers", "3"],
     DemoOptions(agent="anthropic", dir="d", headless=True, workers=3)),
    (["demo"], DemoOptions()),
    (["history", "--tag", "t", "--import", "i", "--export", "e", "--repair"],
     HistoryOptions(tag="t", import_path="i", export="e", repair=True)),
    (["report", "--tag", "t", "--out", "o"], ReportOptions(tag="t", out="o")),
    (["--config", "c.toml", "finalize", "--tag", "t", "--dry-run", "--include-unverified"],
     FinalizeOptions(tag="t", config="c.toml", dry_run=True, include_unverified=True)),
    (["--config", "c.toml", "doctor", "--runs", "7"], DoctorOptions(config="c.toml", runs=7)),
    (["--config", "c.toml", "instruct", "--tag", "t", "--standing", "try", "the", "cache"],
     InstructOptions(text="try the cache", tag="t", config="c.toml", standing=True)),
    (["instruct", "--clear"], InstructOptions(clear=True)),
    (["sessions"], SessionsOptions()),
    (["prune", "--tag", "t", "--yes"], PruneOptions(tag="t", yes=True)),
])
def test_every_flag_reaches_its_commands_options(argv: list[str], expected: object) -> None:
    assert command_options(build_parser().parse_args(argv)) == expected


def test_no_command_reads_the_argparse_namespace() -> None:
    # The attack: a command that reads `getattr(args, "dry_run", False)` keeps working when
    # the flag is renamed in the parser, silently doing the default. Only cli.py may see
    # the namespace.
    readers = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "Namespace":
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id == "getattr" and node.args and \
                    isinstance(node.args[0], ast.Name) and node.args[0].id == "args":
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def test_every_command_and_option_explains_itself_in_help() -> None:
    # `report --help` showed a bare `--tag`, `demo --help` a bare `--agent`, and no command's
    # --help said what the command does.
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(subparsers.choices) == ["demo", "doctor", "finalize", "history", "init",
                                          "instruct", "prune", "report", "run", "sessions"]
    for name, sub in subparsers.choices.items():
        assert sub.description, f"`{name} --help` does not say what {name} does"
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"`{name} --help`: {action.option_strings or action.dest} " \
                "has no help text"
    top = parser.format_help()
    for status in ("0 done", "2 bad input", "3 stopped", "130 interrupted", "129"):
        assert status in top
    assert "--direction lower --yes" in subparsers.choices["init"].format_help()
