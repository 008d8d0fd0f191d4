"""`WorkerChanged` events, derived from one worker's event stream.

Every event a worker's pipeline emits passes through its `WorkerTracker`, which stamps
the worker on experiment events and emits `WorkerChanged` whenever the worker's state
(app/engine/events.py `WorkerState`) or its proposal's description changes. The
measurement scheduler says `queued` and `measuring` itself (`enter`).
"""

from __future__ import annotations

import dataclasses
import threading
import time

from app.engine.events import (
    MEASURING_STATES,
    Event,
    EventSink,
    ExperimentDecided,
    ExperimentStarted,
    LoopState,
    ProposalReady,
    StateChanged,
    WorkerChanged,
    WorkerState,
)


class WorkerTracker:
    def __init__(self, worker: int, sink: EventSink, *, stamp: bool = True) -> None:
        self.worker = worker
        self._sink = sink
        self._stamp = stamp
        """Set `worker` on the events that carry one (off for worker 0: they default)."""
        self._lock = threading.Lock()
        self.state: WorkerState | None = None
        self.experiment: int | None = None
        self.description = ""
        self.since = 0.0

    def emit(self, event: Event) -> None:
        if self._stamp and self.worker:
            event = _stamped(event, self.worker)
        if isinstance(event, ExperimentStarted):
            self.enter(WorkerState.PROPOSING, event.n, "")
        elif isinstance(event, StateChanged) and event.n is not None:
            if event.state is LoopState.PROPOSING:
                self.enter(WorkerState.PROPOSING, event.n)
            elif event.state is LoopState.WAITING_APPROVAL:
                self.enter(WorkerState.REVIEW, event.n)
            elif event.state in MEASURING_STATES:
                self.enter(WorkerState.MEASURING, event.n)
        elif isinstance(event, ProposalReady):
            self.enter(self.state or WorkerState.PROPOSING, event.n, event.description)
        self._sink(event)
        if isinstance(event, ExperimentDecided) and event.experiment.n == self.experiment:
            self.enter(WorkerState.IDLE, None, "")

    def enter(self, state: WorkerState, experiment: int | None = None,
              description: str | None = None) -> None:
        """The worker is now in `state` (on experiment `experiment`): emitted when it
        changed (state, experiment or description)."""
        with self._lock:
            if description is None:
                description = self.description if experiment == self.experiment else ""
            if (state, experiment, description) == (self.state, self.experiment,
                                                    self.description):
                return
            if state != self.state or experiment != self.experiment:
                self.since = time.time()
            self.state, self.experiment, self.description = state, experiment, description
            event = WorkerChanged(self.worker, state, experiment, description, self.since)
        self._sink(event)


def _stamped(event: Event, worker: int) -> Event:
    """`event` with `worker` set, when it has that field and it is still the default."""
    names = {f.name for f in dataclasses.fields(event)}
    if "worker" not in names or isinstance(event, WorkerChanged):
        return event
    if getattr(event, "worker", None) not in (0, None):
        return event
    return dataclasses.replace(event, worker=worker)  # type: ignore[call-arg]
