"""The events the loop emits, past tense. The TUI turns them into Messages; headless prints.

An event sink is any callable taking an `Event`. It is called on the loop's thread, so a
sink must be cheap and thread-safe (the TUI's calls `post_message`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from app.engine.records import Experiment, SessionSummary, Tokens


class LoopState(StrEnum):
    STARTING = "starting"
    CALIBRATING = "calibrating"
    PROPOSING = "proposing"
    MEASURING = "measuring"
    CHECKS = "checks"
    HOLDOUT = "holdout"
    WAITING_APPROVAL = "waiting for approval"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class SessionStarted(Event):
    tag: str
    branch: str
    worktree: str
    resumed: bool
    metric_name: str
    unit: str
    direction: str
    experiments: tuple[Experiment, ...] = ()
    """Experiments already in the log (on resume), oldest first."""
    notice: str = ""
    """Something the user must know, e.g. that uncommitted changes are not included."""
    isolation: str = ""
    """Which isolation commands run under ("bwrap, no network", "none (...)")."""


@dataclass(frozen=True)
class StateChanged(Event):
    state: LoopState
    detail: str = ""
    """E.g. "2 of 3" while measuring."""
    n: int | None = None


@dataclass(frozen=True)
class ExperimentStarted(Event):
    n: int
    champion: str
    """The champion commit id."""


@dataclass(frozen=True)
class AgentActivity(Event):
    n: int
    kind: str
    """`text` (a streamed delta), `tool` (a tool call, summarised), `info`."""
    text: str


@dataclass(frozen=True)
class DiffUpdated(Event):
    """The worktree's diff against the champion, while the agent is still editing."""

    n: int
    diff: str


@dataclass(frozen=True)
class ProposalReady(Event):
    n: int
    description: str
    hypothesis: str
    diff: str
    diffstat: str
    candidate: str | None
    """The candidate commit id (None for an empty diff)."""


@dataclass(frozen=True)
class OutputLines(Event):
    """A batch of output lines from a measured command (batched to keep the UI light)."""

    n: int
    source: str
    """`bench`, `checks`, `holdout`, `setup`, `agent`."""
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SampleMeasured(Event):
    n: int
    role: str
    """`candidate`, `champion` (interleaved or re-measured), `calibration`, `holdout`."""
    index: int
    value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    planned: int = 0
    """How many samples are planned at this point (grows with adaptive repeats)."""


@dataclass(frozen=True)
class ChecksFinished(Event):
    n: int
    passed: bool
    duration_s: float
    reason: str = ""


@dataclass(frozen=True)
class ExperimentDecided(Event):
    experiment: Experiment
    champion: str
    """The champion after the decision."""
    new_best: bool = False
    totals: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    """Session totals so far."""


@dataclass(frozen=True)
class DriftDetected(Event):
    n: int
    before: float
    after: float
    detail: str


@dataclass(frozen=True)
class BaselineReset(Event):
    reason: str


@dataclass(frozen=True)
class WarningRaised(Event):
    message: str


@dataclass(frozen=True)
class NotesTaken(Event):
    """The user's notes reached experiment `n` (app/engine/steering.py)."""

    n: int
    once: tuple[str, ...]
    """Notes for this experiment only."""
    standing: tuple[str, ...]
    """Notes for every experiment until cleared, as they stand now."""


@dataclass(frozen=True)
class BudgetReached(Event):
    reason: str


@dataclass(frozen=True)
class SessionEnded(Event):
    reason: str
    summary: SessionSummary
    exit_status: int = 0


EventSink = Callable[[Event], None]

