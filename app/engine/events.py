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


MEASURING_STATES = frozenset({LoopState.MEASURING, LoopState.CHECKS, LoopState.HOLDOUT,
                              LoopState.CALIBRATING})
"""The loop's states while an experiment holds a measurement slot: its worker is
`measuring` (the TUI shows them with their detail)."""


class WorkerState(StrEnum):
    """What one worker is doing (`WorkerChanged`). With workers = 1 the one worker (0)
    goes idle -> proposing -> queued -> measuring -> idle for each experiment too."""

    IDLE = "idle"
    """Between experiments (or waiting for a budget, a pause or the baseline)."""
    PROPOSING = "proposing"
    """Its agent is editing its worktree."""
    REVIEW = "review"
    """Its proposal waits for the user's approval (review mode)."""
    QUEUED = "queued"
    """Its candidate waits for a measurement slot."""
    MEASURING = "measuring"
    """Its candidate holds a slot: rebase, measure, decide, checks, holdout, keep."""
    STOPPED = "stopped"
    """It will start no more experiments (budget, stop, error)."""


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
    workers: int = 1
    """How many workers propose at once (`[parallel] workers`); 1: the sequential loop."""


@dataclass(frozen=True)
class StateChanged(Event):
    state: LoopState
    detail: str = ""
    """E.g. "2 of 3" while measuring."""
    n: int | None = None
    worker: int | None = None
    """The worker this state is about; None: the session as a whole."""


@dataclass(frozen=True)
class ExperimentStarted(Event):
    n: int
    champion: str
    """The champion commit id."""
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class AgentActivity(Event):
    n: int
    kind: str
    """`text` (a streamed delta), `tool` (a tool call, summarised), `info`."""
    text: str
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class DiffUpdated(Event):
    """The worktree's diff against the champion, while the agent is still editing."""

    n: int
    diff: str
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class ProposalReady(Event):
    n: int
    description: str
    hypothesis: str
    diff: str
    diffstat: str
    candidate: str | None
    """The candidate commit id (None for an empty diff)."""
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class OutputLines(Event):
    """A batch of output lines from a measured command (batched to keep the UI light)."""

    n: int
    source: str
    """`bench`, `checks`, `holdout`, `setup`, `agent`."""
    lines: tuple[str, ...]
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


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
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class ChecksFinished(Event):
    n: int
    passed: bool
    duration_s: float
    reason: str = ""
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class ExperimentDecided(Event):
    experiment: Experiment
    champion: str
    """The champion after the decision."""
    new_best: bool = False
    totals: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    """Session totals so far."""
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class WorkerChanged(Event):
    """A worker entered a new state. Emitted at every change, for every worker, also when
    workers = 1 (worker 0)."""

    worker: int
    state: WorkerState
    experiment: int | None = None
    """The experiment it works on (None when idle or stopped)."""
    description: str = ""
    """The proposal's description once known, else ''."""
    since: float = 0.0
    """Wall time (time.time()) the state was entered."""


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
    worker: int = 0
    """Which worker's experiment (0 when sequential)."""


@dataclass(frozen=True)
class BudgetReached(Event):
    reason: str
    stalled: bool = False
    """The stall stop (`[session] stop_after_no_gain`), not a budget: shown as such."""


@dataclass(frozen=True)
class SessionEnded(Event):
    reason: str
    summary: SessionSummary
    exit_status: int = 0


EventSink = Callable[[Event], None]

