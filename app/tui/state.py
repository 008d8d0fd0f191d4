"""What the App owns and the screens read: the session as shown (`SessionView`), the state
it is in (`UiState`), and the interface of what the App drives (`LoopSource`). No Textual
here: plain data, importable by the screens without the App.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from app.engine.controller import LoopController
from app.engine.events import Event, LoopState
from app.engine.records import Experiment, SessionSummary, Status, Tokens, is_better


class LoopSource(Protocol):
    """What the App drives: the engine (`app.engine.session.Session`) or a recorded session."""

    def run(self, sink: Callable[[Event], None], controller: LoopController) -> int: ...

    def diff_of(self, n: int, tag: str | None = None) -> str: ...

    def output_of(self, n: int, tag: str | None = None) -> dict[str, str]: ...

    def other_sessions(self) -> list[tuple[str, list[Experiment]]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class AppOptions:
    """How the App starts: built once by the CLI (`app.tui.launch.options_from_args`) or by
    a test, and turned into the App by `app.tui.launch.make_app`."""

    open_source: Callable[[], LoopSource]
    """Called on the loop's thread to open the engine (or a recorded session in tests)."""
    paused: bool = False
    """`--paused`: nothing runs, not even the baseline, until resumed."""
    review: bool = False
    """Start in review mode (each proposal waits for approve or veto)."""
    keymap: Mapping[str, str] = field(default_factory=dict)
    """The user's `[keymap]`: binding id -> keys."""
    theme: str | None = None
    """The user's `[ui] theme`."""
    clock: Callable[[], float] = time.monotonic
    """What the status line's durations are measured with (fixed in snapshot tests)."""
    needs_init: Path | None = None
    """The repository root when it has no config: the App offers the init form first."""


class UiState(StrEnum):
    """The session's state as the UI shows it: the loop's own states (`LoopState`, same
    values) and the ones only the UI knows (the user asked to resume, the app is stopping,
    the loop's thread ended). A `StrEnum`, so the status line shows it as it is."""

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
    RESUMING = "resuming"
    """Resume was pressed while paused; the loop has not moved on yet."""
    STOPPING = "stopping"
    """Quit was confirmed; the loop is stopping the running experiment."""
    STOPPED = "stopped"
    """The loop's thread ended without a `SessionEnded` (stopped, or closed early)."""

    @classmethod
    def of(cls, state: LoopState) -> UiState:
        return cls(state.value)

    @property
    def over(self) -> bool:
        """The loop ran and ended."""
        return self in (UiState.DONE, UiState.FAILED, UiState.STOPPED)


@dataclass
class SessionView:
    """Everything the screens show, kept by the App's handlers on the UI thread."""

    tag: str = ""
    branch: str = ""
    metric_name: str = "metric"
    unit: str = ""
    direction: str = "lower"
    experiments: list[Experiment] = field(default_factory=list)
    state: UiState = UiState.STARTING
    detail: str = ""
    current: int | None = None
    """The experiment in progress (between ExperimentStarted and its decision)."""
    current_diff: str = ""
    diffs: dict[int, str] = field(default_factory=dict)
    """Proposal diffs seen in this launch, by experiment: shown again without asking git."""
    descriptions: dict[int, str] = field(default_factory=dict)
    """The proposals' descriptions, by experiment (the diff pane's title)."""
    shown_n: int | None = None
    """Whose diff the diff pane shows."""
    state_since: float | None = None
    session_since: float | None = None
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    summary: SessionSummary | None = None
    error: str = ""
    loop_running: bool = False
    exit_status: int | None = None
    standing_notes: tuple[str, ...] = ()
    """The user's standing notes, as the loop last took them."""
    source: LoopSource | None = None
    """Where diffs, outputs and other sessions are read from, once the loop has opened it
    (screens read them in their own thread workers)."""

    @property
    def baseline(self) -> float | None:
        return next((e.metric for e in reversed(self.experiments)
                     if e.status is Status.BASELINE and e.metric is not None), None)

    @property
    def best(self) -> float | None:
        best = self.baseline
        seen_baseline = False
        for e in self.experiments:
            if e.status is Status.BASELINE and e.metric is not None:
                best, seen_baseline = e.metric, True
            elif (seen_baseline and e.status is Status.KEEP and e.metric is not None
                  and (best is None or is_better(e.metric, best, self.direction))):
                best = e.metric
        return best

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.experiments:
            counts[str(e.status)] = counts.get(str(e.status), 0) + 1
        return counts

    def experiment(self, n: int) -> Experiment | None:
        return next((e for e in reversed(self.experiments) if e.n == n), None)

    def upsert(self, experiment: Experiment) -> None:
        for i in range(len(self.experiments) - 1, -1, -1):
            if self.experiments[i].n == experiment.n:
                self.experiments[i] = experiment
                return
        self.experiments.append(experiment)
