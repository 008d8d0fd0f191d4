"""What one launch asks for: `LaunchOptions`, built once by the command line (app/cli.py)
and handed to `open_session` (app/engine/session.py). Light on purpose: the CLI imports it
before the TUI paints its first frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LaunchOptions:
    cwd: Path
    """Where the command was started (the repository is found around it)."""
    config_path: Path | None = None
    """`--config` (relative paths are taken from `cwd`); default: the repository's."""
    tag: str | None = None
    new: bool = False
    paused: bool = False
    """Open with the loop paused: nothing runs, not even the baseline, until resumed."""
    max_experiments: int | None = None
    max_hours: float | None = None
    max_cost: float | None = None
    """Budgets for this launch (counted across launches; reaching them leaves the session
    open)."""
    workers: int | None = None
    """`--workers N`: agents proposing at once for this launch (default: `[parallel]`)."""
