"""Command line: parse, then hand off to the TUI, headless output or a subcommand module.

Subcommand modules are imported only when used, so `--help` and the TUI start fast.
Every `AutoresearchError` becomes one sentence on stderr and its exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from app.command_options import (
    CommandOptions,
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
from app.engine.launch import LaunchOptions
from app.errors import AutoresearchError, UsageError, file_error_sentence

EPILOG = """\
Run it inside a git repository with an autoresearch.toml (create one with `init`).
The session works in its own worktree and branch; your checkout is never touched.
Exit status: 0 done, 2 bad input, 3 stopped on an error, 130 interrupted (Ctrl-C),
129 the terminal went away. `autoresearch-tui COMMAND --help` explains each command."""

INIT_EPILOG = """\
On a terminal it asks; without one (scripts, CI) it needs --bench, --direction and --yes:
  autoresearch-tui init --bench "python3 bench.py" --checks "python3 -m pytest -q" \\
      --direction lower --yes
The benchmark prints `METRIC name=value` lines or a number on its last line; init runs it
once on HEAD (commit it first) and shows what it parsed before writing anything."""


def _session_args(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Subcommands repeat the options; SUPPRESS keeps them from resetting the top level's.
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--tag", default=default, help="session tag (letters, digits, . _ -); "
                        "default: the config's, else the latest unfinished session, else a new "
                        "one")
    parser.add_argument("--new", action="store_true", default=False if top else
                        argparse.SUPPRESS, help="start a new session even if one is unfinished")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoresearch-tui", description="An agent proposes code changes; the harness "
        "measures them and keeps only real improvements.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"autoresearch-tui {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: "
                        "autoresearch.toml at the repository root)")
    _session_args(parser, top=True)
    parser.add_argument("--paused", action="store_true", help="open with the loop paused: "
                        "nothing runs, not even the baseline, until you resume (p)")
    # Every namespace has the launch's options, whichever command parsed it.
    parser.set_defaults(headless=False, max_experiments=None, max_hours=None, max_cost=None,
                        workers=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, text: str, epilog: str | None = None) -> argparse.ArgumentParser:
        # The one-line help of the command list is also the command's own --help
        # description: `init --help` says what init does, not only its flags.
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                              epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)

    run = command("run", "run the loop (with --headless: line output, no TUI)")
    _session_args(run)
    run.add_argument("--headless", action="store_true", help="print one line per experiment "
                     "instead of opening the TUI")
    run.add_argument("--paused", action="store_true", default=argparse.SUPPRESS,
                     help=argparse.SUPPRESS)
    run.add_argument("--max-experiments", type=int, metavar="N", help="stop after N "
                     "experiments in this session (counted across launches)")
    run.add_argument("--max-hours", type=float, metavar="H", help="stop after H hours of "
                     "session time (counted across launches)")
    run.add_argument("--max-cost", type=float, metavar="USD", help="stop when the agent's "
                     "cost reaches USD (counted across launches)")
    run.add_argument("--workers", type=int, metavar="N", help="N agents propose at once, "
                     "each in its own worktree (default: [parallel] workers, else 1)")

    init = command("init", "write autoresearch.toml and autoresearch.md, and commit them",
                   INIT_EPILOG)
    init.add_argument("--bench", metavar="CMD", help="benchmark command (prints the metric)")
    init.add_argument("--checks", metavar="CMD", help="checks command (the test suite; "
                      "'-' for none; default: the one detected)")
    init.add_argument("--direction", choices=["lower", "higher"], help="which way is better")
    init.add_argument("--metric", metavar="NAME", help="metric name")
    init.add_argument("--unit", metavar="UNIT", help="metric unit, e.g. ms")
    init.add_argument("--agent", choices=["anthropic", "command", "scripted"],
                      help="agent kind")
    init.add_argument("--yes", action="store_true", help="answer yes: write and commit "
                      "without asking")

    demo = command("demo", "a sample repo and the loop on it (offline by default)")
    demo.add_argument("--agent", choices=["scripted", "anthropic"], default="scripted",
                      help="who proposes: scripted (prepared patches, offline; the default) "
                      "or anthropic (Claude, needs ANTHROPIC_API_KEY)")
    demo.add_argument("--dir", metavar="PATH", help="where to create the sample repo "
                      "(default: a temporary folder, printed)")
    demo.add_argument("--headless", action="store_true", help="line output instead of the TUI")
    demo.add_argument("--workers", type=int, metavar="N", help="N agents propose at once")

    history = command("history", "list experiments; import or export logs")
    history.add_argument("--tag", help="session tag (default: the latest session)")
    history.add_argument("--import", dest="import_path", metavar="PATH",
                         help="read a pi-autoresearch log or a results.tsv")
    history.add_argument("--export", metavar="FILE", help="write results.tsv")
    history.add_argument("--repair", action="store_true",
                         help="move log lines that break the hash chain (and those after "
                              "them) aside into log.jsonl.rejected-<time>")

    report = command("report", "a Markdown report with a chart beside it")
    report.add_argument("--tag", help="session tag (default: the latest session)")
    report.add_argument("--out", metavar="FILE", help="default: report.md in the session's "
                        "state folder")

    finalize = command("finalize", "kept experiments become reviewable branches")
    finalize.add_argument("--tag", help="session tag (default: the latest session)")
    finalize.add_argument("--dry-run", action="store_true", help="show the grouping only")
    finalize.add_argument("--include-unverified", action="store_true",
                          help="also create the groups that fail verification, under "
                               "autoresearch-final/<tag>/unverified/")

    doctor = command("doctor", "what makes benchmarks noisy here, the benchmark's noise, "
                     "and advice")
    doctor.add_argument("--runs", type=int, metavar="N", help="benchmark runs to measure "
                        "the noise, 3 or more (default: calibration_runs, at least 5)")

    instruct = command("instruct", "a note for the agent's next experiment (or every one, "
                       "--standing), picked up by the running session")
    instruct.add_argument("--tag", help="session tag (default: the config's, else the "
                          "latest unfinished session)")
    instruct.add_argument("--standing", action="store_true", help="keep the note for every "
                          "experiment until --clear")
    instruct.add_argument("--clear", action="store_true", help="clear the standing notes")
    instruct.add_argument("text", nargs="*", help="the note (one line)")

    command("sessions", "list this repository's sessions")
    prune = command("prune", "remove a session's worktree, branch and refs")
    prune.add_argument("--tag", required=True, help="the session to remove (`sessions` "
                       "lists them)")
    prune.add_argument("--yes", action="store_true", help="do not ask")
    return parser


def launch_options(args: argparse.Namespace) -> LaunchOptions:
    """The one place the launch's flags are read (the TUI and headless mode get these)."""
    return LaunchOptions(
        cwd=Path.cwd(), config_path=Path(args.config) if args.config else None, tag=args.tag,
        new=bool(args.new), paused=bool(args.paused), max_experiments=args.max_experiments,
        max_hours=args.max_hours, max_cost=args.max_cost, workers=args.workers)


def _launch(args: argparse.Namespace) -> int:
    """`autoresearch-tui [run [--headless]]`: open the session in the TUI or headless."""
    options = launch_options(args)
    _require_git()
    if args.headless:
        from app.headless import run_headless

        return run_headless(options)
    from app.tui.launch import run_tui

    return run_tui(options)


def _require_git() -> None:
    from app.engine.git_cli import GitError, require_git

    try:
        require_git()
    except GitError as exc:
        raise UsageError(str(exc)) from None


def command_options(args: argparse.Namespace) -> CommandOptions:
    """The one place a subcommand's flags are read: its typed options."""
    command = args.command
    if command == "init":
        return InitOptions(bench=args.bench, checks=args.checks, direction=args.direction,
                           metric=args.metric, unit=args.unit, agent=args.agent, yes=args.yes)
    if command == "demo":
        return DemoOptions(agent=args.agent, dir=args.dir, headless=args.headless,
                           workers=args.workers)
    if command == "history":
        return HistoryOptions(tag=args.tag, import_path=args.import_path, export=args.export,
                              repair=args.repair)
    if command == "report":
        return ReportOptions(tag=args.tag, out=args.out)
    if command == "finalize":
        return FinalizeOptions(tag=args.tag, config=args.config, dry_run=args.dry_run,
                               include_unverified=args.include_unverified)
    if command == "doctor":
        return DoctorOptions(config=args.config, runs=args.runs)
    if command == "instruct":
        return InstructOptions(text=" ".join(args.text), tag=args.tag, config=args.config,
                               standing=args.standing, clear=args.clear)
    if command == "sessions":
        return SessionsOptions()
    if command == "prune":
        return PruneOptions(tag=args.tag, yes=args.yes)
    raise ValueError(f"no options for the command {command!r}")


def _run_command(options: CommandOptions) -> int:
    """Hand the options to their command's module (imported only now)."""
    if isinstance(options, InitOptions):
        from app.onboard import run_init

        return run_init(options)
    if isinstance(options, DemoOptions):
        from app.demo import run_demo

        return run_demo(options)
    if isinstance(options, HistoryOptions):
        from app.interop import run_history

        return run_history(options)
    if isinstance(options, DoctorOptions):
        from app.doctor import run_doctor

        return run_doctor(options)
    if isinstance(options, ReportOptions):
        from app.report import run_report

        return run_report(options)
    if isinstance(options, InstructOptions):
        from app.instruct import run_instruct

        return run_instruct(options)
    if isinstance(options, FinalizeOptions):
        from app.finalize import run_finalize

        if not options.dry_run:
            _require_git()  # it makes worktrees and branches

        return run_finalize(options)
    from app.housekeeping import run_prune, run_sessions

    if isinstance(options, SessionsOptions):
        return run_sessions(options)
    return run_prune(options)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; output piped into a reader that stops early (`| head`) ends it
    quietly with status 141, as git and the shell's tools do, instead of a traceback."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, not at exit, where a closed pipe is an ignored exception
    except BrokenPipeError:
        _drop_stdout()
        return 141
    return status


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for the closed pipe goes nowhere,
    and the interpreter's flush at exit finds nothing to complain about."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("max_experiments", "max_hours", "max_cost"):
        value = vars(args)[name]
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.workers is not None:
        from app.config import MAX_WORKERS

        if not 1 <= args.workers <= MAX_WORKERS:
            parser.error(f"--workers must be between 1 and {MAX_WORKERS}")
    try:
        if args.command in (None, "run"):
            return _launch(args)
        return _run_command(command_options(args))
    except AutoresearchError as exc:
        print(f"autoresearch-tui: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("autoresearch-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # main() ends it quietly
    except OSError as exc:
        # A read-only or full disk under a command that writes (report, instruct, export):
        # one sentence, not a traceback. Everything is written to a temporary file first,
        # so nothing is half-written.
        print(f"autoresearch-tui: {file_error_sentence(exc)}", file=sys.stderr)
        return 2
