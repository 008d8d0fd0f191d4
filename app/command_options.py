"""The options of each subcommand, typed, built once from the parsed command line by
`cli.command_options` (as `LaunchOptions` is for running a session). Commands read these,
never argparse's namespace. Paths are kept as typed: messages quote them so."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InitOptions:
    """`init`: each answer given as a flag (None: detect or ask)."""

    bench: str | None = None
    checks: str | None = None
    direction: str | None = None
    metric: str | None = None
    unit: str | None = None
    agent: str | None = None
    yes: bool = False


@dataclass(frozen=True)
class DemoOptions:
    agent: str = "scripted"
    dir: str | None = None
    headless: bool = False
    workers: int | None = None


@dataclass(frozen=True)
class HistoryOptions:
    tag: str | None = None
    import_path: str | None = None
    export: str | None = None
    repair: bool = False


@dataclass(frozen=True)
class ReportOptions:
    tag: str | None = None
    out: str | None = None


@dataclass(frozen=True)
class FinalizeOptions:
    tag: str | None = None
    config: str | None = None
    dry_run: bool = False
    include_unverified: bool = False


@dataclass(frozen=True)
class DoctorOptions:
    config: str | None = None
    runs: int | None = None


@dataclass(frozen=True)
class InstructOptions:
    text: str = ""
    tag: str | None = None
    config: str | None = None
    standing: bool = False
    clear: bool = False


@dataclass(frozen=True)
class SessionsOptions:
    """`sessions` takes no options."""


@dataclass(frozen=True)
class PruneOptions:
    tag: str
    yes: bool = False


CommandOptions = (InitOptions | DemoOptions | HistoryOptions | ReportOptions | FinalizeOptions
                  | DoctorOptions | InstructOptions | SessionsOptions | PruneOptions)
