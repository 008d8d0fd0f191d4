"""What an opened session hands the loop (`LoopSetup`), prepared and validated by
`app/engine/session.py`. The loop reads it and never changes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Config
from app.engine.budgets import Budgets
from app.engine.gitops import MeasurementTree, SessionGit
from app.engine.guard import Guard
from app.engine.history import LogWriter
from app.engine.records import Experiment
from app.engine.sandbox import SessionSandbox


@dataclass
class LoopSetup:
    config: Config
    git: SessionGit
    guard: Guard
    writer: LogWriter
    runs_dir: Path
    program_path: Path
    experiments: list[Experiment]
    """The log's experiments; the loop appends the ones it records (the session's list)."""
    segment_start: int
    """Index in `experiments` of the current baseline's segment."""
    fingerprint: dict[str, str]
    budgets: Budgets
    needs_new_baseline: str = ""
    """Non-empty: why the baseline must be measured again (config or protected change)."""
    drift_samples: list[float] | None = None
    """The champion's samples of the latest top-up or re-measurement the log holds
    (champion.latest_champion_samples)."""
    pause_on_agent_errors: bool = False
    """TUI: pause after too many consecutive agent errors; headless: exit 3."""
    drifted: bool = False
    """The log holds a drift record: measure interleaved from the start."""
    tracked: list[str] = field(default_factory=list)
    sandbox: SessionSandbox | None = None
    """The session's isolation and environment allowlist (None: none, base allowlist)."""
    tree: MeasurementTree | None = None
    remote: Any = None
    """A `RemoteBench` when `[executor] kind = "ray"`: measured commands run on the cluster
    (app/engine/executors/remote_bench.py); None: here, in `tree`."""
    """Where measured commands run (None: in the agent's worktree, as before 0.2)."""
    instructions: list[dict[str, Any]] = field(default_factory=list)
    """The log's `instruction` records: the user's standing notes (steering.py)."""
