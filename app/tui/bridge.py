"""The bridge from the engine to the UI: engine events become typed, past-tense Messages.

The loop (on its worker thread) calls `EventBridge.sink` with each event. Low-rate events
become one Message each, posted with `post_message` (thread-safe), which the App's `@on`
handlers turn into state on the UI thread. High-rate ones (output lines, agent text) go into
the `ActivityBuffer`, and a single `ActivityBuffered` message (which `can_replace` its
predecessors) tells the UI to drain it, so a command printing 10,000 lines a second costs a
few repaints, not 10,000 messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from textual.message import Message

from app.engine.events import (
    AgentActivity,
    BaselineReset,
    BudgetReached,
    ChecksFinished,
    DiffUpdated,
    DriftDetected,
    Event,
    ExperimentDecided,
    ExperimentStarted,
    NotesTaken,
    OutputLines,
    ProposalReady,
    SampleMeasured,
    SessionEnded,
    SessionStarted,
    StateChanged,
    WarningRaised,
    WorkerChanged,
)
from app.tui.activity import ActivityBuffer

EventT = TypeVar("EventT", bound=Event)


class LoopMessage(Message, Generic[EventT]):
    """Base of the messages that carry one engine event from the loop thread."""

    def __init__(self, event: EventT) -> None:
        super().__init__()
        self.event: EventT = event


class SessionOpened(LoopMessage[SessionStarted]):
    """The session opened: its tag, metric and the experiments already in its log."""


class LoopStateChanged(LoopMessage[StateChanged]):
    """The loop moved to another state (proposing, measuring, paused, ...)."""


class ExperimentBegan(LoopMessage[ExperimentStarted]):
    """An experiment began (the agent starts proposing)."""


class DiffRefreshed(LoopMessage[DiffUpdated]):
    """The live diff of the proposal being written. Only the newest one matters."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DiffRefreshed) and message.event.n == self.event.n


class ProposalArrived(LoopMessage[ProposalReady]):
    """The agent finished its proposal: the diff that will be measured."""


class SampleArrived(LoopMessage[SampleMeasured]):
    """One benchmark sample was measured (its line is in the activity buffer)."""


class ChecksReported(LoopMessage[ChecksFinished]):
    """The checks ran (their line is in the activity buffer)."""


class ExperimentRecorded(LoopMessage[ExperimentDecided]):
    """An experiment was decided and logged."""


class NoticeRaised(LoopMessage[Event]):
    """Drift, a baseline reset, a warning or a budget: something to tell the user."""


class SessionClosed(LoopMessage[SessionEnded]):
    """The session ended, with its summary and exit status."""


class NotesReached(LoopMessage[NotesTaken]):
    """The user's notes reached an experiment's prompt (app/engine/steering.py)."""


class WorkerStateChanged(LoopMessage[WorkerChanged]):
    """A parallel worker entered a new state (proposing, queued, measuring, review, ...)."""


class ActivityBuffered(Message):
    """New lines wait in the App's `ActivityBuffer`. Carries nothing, so any newer one
    replaces an older one still in the queue: a burst collapses into one drain."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ActivityBuffered)


MESSAGE_OF: dict[type[Event], type[LoopMessage[Any]]] = {
    SessionStarted: SessionOpened, StateChanged: LoopStateChanged,
    ExperimentStarted: ExperimentBegan, DiffUpdated: DiffRefreshed,
    ProposalReady: ProposalArrived, SampleMeasured: SampleArrived,
    ChecksFinished: ChecksReported, ExperimentDecided: ExperimentRecorded,
    DriftDetected: NoticeRaised, BaselineReset: NoticeRaised, WarningRaised: NoticeRaised,
    BudgetReached: NoticeRaised, SessionEnded: SessionClosed, NotesTaken: NotesReached,
    WorkerChanged: WorkerStateChanged,
}


def notice_text(event: Event) -> str:
    """One sentence for a drift, baseline reset, budget or warning event."""
    if isinstance(event, DriftDetected):
        return (f"Drift at #{event.n}: the champion measured {event.before:g} before, "
                f"{event.after:g} now. {event.detail}")
    if isinstance(event, BaselineReset):
        return f"Baseline re-measured: {event.reason}"
    if isinstance(event, BudgetReached):
        return f"{'Stalled' if event.stalled else 'Budget reached'}: {event.reason}"
    return getattr(event, "message", str(event))


def worker_source(worker: int, source: str) -> str:
    """The activity pane's source column for a parallel worker's line (`w2 bench`)."""
    return f"w{worker} {source}"


def activity_line(event: Event) -> tuple[str, str, tuple[str, ...]] | None:
    """The activity pane's line for a low-rate event, as an ActivityBuffer entry."""
    if isinstance(event, ExperimentStarted):
        return "rule", "", (f"experiment #{event.n}",)
    if isinstance(event, SampleMeasured):
        value = "failed" if event.value is None else f"{event.value:g}"
        planned = f" of {event.planned}" if event.planned else ""
        return "info", "sample", (f"{event.role} sample {event.index + 1}{planned}: {value}",)
    if isinstance(event, ChecksFinished):
        verdict = "passed" if event.passed else (
            f"failed{': ' + event.reason if event.reason else ''}")
        return "info", "checks", (f"checks {verdict} ({event.duration_s:.1f} s)",)
    if isinstance(event, (DriftDetected, BaselineReset, BudgetReached, WarningRaised)):
        return "info", "note", (notice_text(event),)
    if isinstance(event, NotesTaken):
        return "info", "note", tuple(
            [f"note for #{event.n}: {text}" for text in event.once]
            + [f"standing notes: {' | '.join(event.standing) or 'none'}"])
    return None


class EventBridge:
    """The loop's event sink. `post` is the App's `post_message`; `activity` the buffer the
    App drains on `ActivityBuffered`."""

    def __init__(self, post: Callable[[Message], object], activity: ActivityBuffer) -> None:
        self.post = post
        self.activity = activity
        self._pending_headers: dict[int, tuple[str, str, tuple[str, ...]]] = {}
        """The activity pane's header of the experiment that began, by worker (loop
        threads')."""
        self.workers = 1
        """`SessionStarted.workers`: with more than one, each line names its worker."""
        self._agent_text: dict[int, str] = {}
        """Parallel workers' streamed agent text, until a line is complete (fragments of
        three agents would otherwise be joined into one garbled line)."""

    def sink(self, event: Event) -> None:
        """Called on the loop's thread(s) with each event: events become Messages."""
        worker: int = getattr(event, "worker", None) or 0
        if isinstance(event, OutputLines):
            self._push_activity("lines", self._source(worker, event.source), event.lines,
                                worker)
            return
        if isinstance(event, AgentActivity):
            if self.workers > 1 and event.kind == "text":
                self._agent_lines(worker, event.text)
            else:
                self._push_activity(event.kind, self._source(worker, "agent"), (event.text,),
                                    worker)
            return
        # Lines that belong in the activity pane go into the buffer here, on the loop's
        # thread, so they keep their order among the output lines.
        if isinstance(event, SessionStarted):
            self.workers = max(1, event.workers)
        if isinstance(event, ExperimentStarted):
            # The header waits for the experiment's first line: when the agent has nothing
            # more to try, the session ends before anything ran, and no header appears
            # for an experiment that never happened.
            header = activity_line(event)
            if header is not None:
                if self.workers > 1 and worker:
                    header = (header[0], header[1],
                              (f"{header[2][0]} · w{worker}",))
                self._pending_headers[worker] = header
        elif isinstance(event, SessionEnded):
            self._pending_headers.clear()
        else:
            line = activity_line(event)
            if line is not None:
                kind, source, lines = line
                if source and hasattr(event, "worker"):
                    source = self._source(worker, source)
                self._push_activity(kind, source, lines, worker)
            elif isinstance(event, (ProposalReady, ExperimentDecided)):
                self._push_header(worker)
        message = MESSAGE_OF.get(type(event))
        if message is not None:
            self.post(message(event))

    def _source(self, worker: int, source: str) -> str:
        # Worker 0 with parallel workers is the session itself (the baseline, drift
        # checks): its lines are nobody's worker's.
        return worker_source(worker, source) if self.workers > 1 and worker else source

    def _agent_lines(self, worker: int, fragment: str) -> None:
        text = self._agent_text.get(worker, "") + fragment
        *complete, self._agent_text[worker] = text.split("\n")
        complete = [line for line in complete if line.strip()]
        if complete:
            self._push_activity("lines", self._source(worker, "agent"), tuple(complete),
                                worker)

    def _push_header(self, worker: int) -> None:
        header = self._pending_headers.pop(worker, None)
        if header is not None and self.activity.push(*header):
            self.post(ActivityBuffered())

    def _push_activity(self, kind: str, source: str, lines: tuple[str, ...],
                       worker: int = 0) -> None:
        self._push_header(worker)
        if self.activity.push(kind, source, lines):
            self.post(ActivityBuffered())
