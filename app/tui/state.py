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
from typing import Protocol, TypeAlias

from app.engine.controller import LoopController
from app.engine.events import MEASURING_STATES, Event, LoopState
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


class UiOnlyState(StrEnum):
    """The states only the UI knows, beside the loop's own (`LoopState`): the user asked
    to resume, the app is stopping, the loop's thread ended, a parallel worker's state.
    Their values are none of `LoopState`'s (a test keeps them apart)."""

    RESUMING = "resuming"
    """Resume was pressed while paused; the loop has not moved on yet."""
    STOPPING = "stopping"
    """Quit was confirmed; the loop is stopping the running experiment."""
    STOPPED = "stopped"
    """The loop's thread ended without a `SessionEnded` (stopped, or closed early)."""
    IDLE = "idle"
    """Parallel workers: the selected worker has no experiment right now."""
    QUEUED = "queued"
    """Parallel workers: the selected worker's candidate waits for a measurement slot."""


UiState: TypeAlias = LoopState | UiOnlyState
"""The session's state as the UI shows it: the loop's own, as the loop sent it, or one
only the UI knows. Both are `StrEnum`s, so the status line shows it as it is."""


def is_over(state: UiState) -> bool:
    """The loop ran and ended."""
    return state in (LoopState.DONE, LoopState.FAILED, UiOnlyState.STOPPED)


WORKER_UI_STATE: dict[str, UiState] = {
    "idle": UiOnlyState.IDLE, "proposing": LoopState.PROPOSING, "queued": UiOnlyState.QUEUED,
    "measuring": LoopState.MEASURING, "review": LoopState.WAITING_APPROVAL,
    "stopped": UiOnlyState.IDLE,
}
"""A `WorkerState` value -> the state the status line shows for the selected worker."""


@dataclass
class WorkerView:
    """One parallel worker as the UI knows it (issue #14), from `WorkerChanged` and the
    experiment events that carry its number."""

    worker: int
    state: str = "idle"
    """A `WorkerState` value."""
    n: int | None = None
    """The experiment it works on (None when idle or stopped)."""
    description: str = ""
    since: float | None = None
    """When its state began, on the App's clock."""
    diff: str = ""
    """Its experiment's diff: live while the agent writes, then the proposal."""
    loop_state: UiState | None = None
    """Its last `StateChanged` (measuring 2 of 3, waiting for approval, ...)."""
    detail: str = ""
    loop_since: float | None = None

    @property
    def waiting_approval(self) -> bool:
        return self.state == "review"

    @property
    def table_label(self) -> str:
        """The status cell of its experiment's provisional row: `waiting (a/v)`, the
        measuring step (`checks`, `holdout`) once it reported one for this state, or its
        state."""
        if self.waiting_approval:
            return "waiting (a/v)"
        fresh = self.loop_since is not None and (self.since is None
                                                 or self.loop_since >= self.since)
        if self.state == "measuring" and fresh and self.loop_state in MEASURING_STATES:
            assert self.loop_state is not None
            return self.loop_state.value
        return self.state


@dataclass
class SessionView:
    """Everything the screens show, kept by the App's handlers on the UI thread."""

    tag: str = ""
    branch: str = ""
    metric_name: str = "metric"
    unit: str = ""
    direction: str = "lower"
    isolation: str = ""
    """The sandbox measured commands run under, as `SessionStarted` says it."""
    experiments: list[Experiment] = field(default_factory=list)
    state: UiState = LoopState.STARTING
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
    worker_count: int = 1
    """`[parallel] workers`: with more than one, `current`, `state` and the diff pane
    follow the selected worker."""
    workers: dict[int, WorkerView] = field(default_factory=dict)
    selected_worker: int = 0
    """The worker whose experiment the diff pane, `a` and `v` act on (parallel workers
    are numbered 1..N; the sequential loop's one worker is 0)."""
    worker_of: dict[int, int] = field(default_factory=dict)
    """Which worker proposed each experiment seen in this launch."""
    session_state: UiState | None = None
    """Parallel workers: the last state that was the session's (no worker: paused, done,
    the baseline), beside the workers' own."""
    session_detail: str = ""
    session_state_since: float | None = None
    session_current: bool = False
    """Whether `session_state` is still what is happening (no worker went to work since)."""

    @property
    def parallel(self) -> bool:
        return self.worker_count > 1

    @property
    def worker_ids(self) -> range:
        """The workers' numbers: 1..N with parallel workers, 0 alone when sequential."""
        return range(1, self.worker_count + 1) if self.parallel else range(1)

    def worker(self, worker: int) -> WorkerView:
        """Worker `worker`'s view (made on first sight)."""
        found = self.workers.get(worker)
        if found is None:
            found = self.workers[worker] = WorkerView(worker)
        return found

    @property
    def selected(self) -> WorkerView:
        return self.worker(self.selected_worker)

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
