"""The small thread-safe object through which the UI steers the loop.

The UI thread calls the verbs (pause, veto, ...); the loop thread reads them at its safe
points. Veto and stop also set `cancel`, which a running command or agent watches so that
it can stop at once rather than at the next safe point.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CherryPick:
    """An experiment to re-apply on the champion: one of this session's (`tag` None: the
    loop finds its commit), or another session's, which carries its commit and notes."""

    n: int
    tag: str | None = None
    commit: str | None = None
    description: str = ""
    hypothesis: str = ""

    @property
    def label(self) -> str:
        """`#3`, or `nov20#3` for another session's experiment."""
        return f"{self.tag or ''}#{self.n}"

    @property
    def source(self) -> str:
        """The new experiment's `source`: `cherry-pick:3` or `cherry-pick:nov20/3`."""
        return f"cherry-pick:{self.tag + '/' if self.tag else ''}{self.n}"


class LoopController:
    """The verbs the UI calls, and what the loop reads at its safe points.

    With `[parallel] workers` > 1 every worker has its own veto, approval and `cancel`
    (`cancel_of(w)`, `for_worker(w)`); pause, stop, review, holds and the cherry-pick queue
    are the session's. A verb given `worker=None` acts on the worker that waits for
    approval (the lowest-numbered, if several), else the one measuring, else worker 0:
    with one worker, today's calls mean what they always did.
    """

    def __init__(self, *, paused: bool = False, review: bool = False) -> None:
        self._lock = threading.Condition()
        self._paused = paused
        self._review = review
        self._stop = False
        self._stop_reason = ""
        self._stop_status = 0
        self._vetoes: dict[int, str] = {}
        self._approved: set[int] = set()
        self._waiting: set[int] = set()
        """Workers blocked in `wait_for_approval`."""
        self._measuring: list[int] = []
        """Workers whose candidate holds a measurement slot, in the order they took it."""
        self._cherry_picks: deque[CherryPick] = deque()
        self._holds = 0
        self._cancels: dict[int, threading.Event] = {0: threading.Event()}
        self.cancel = self._cancels[0]
        """Set when worker 0's running step must stop now (veto or stop); see `cancel_of`."""

    def cancel_of(self, worker: int) -> threading.Event:
        """Worker `worker`'s cancel event: set by its veto and by stop."""
        with self._lock:
            return self._cancel_locked(worker)

    def for_worker(self, worker: int) -> WorkerControl:
        """The loop-side view of one worker (what its pipeline reads)."""
        return WorkerControl(self, worker)

    def _target(self, worker: int | None) -> int:
        if worker is not None:
            return worker
        if self._waiting:
            return min(self._waiting)
        if self._measuring:
            return self._measuring[0]
        return 0

    # -- verbs, from any thread -----------------------------------------------------------
    def pause(self) -> None:
        """Pause every worker (each stops at its next safe point)."""
        with self._lock:
            self._paused = True
            self._lock.notify_all()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._lock.notify_all()

    def toggle_pause(self) -> bool:
        """Pause or resume (all workers); returns whether the loop is now paused."""
        with self._lock:
            self._paused = not self._paused
            self._lock.notify_all()
            return self._paused

    def set_review(self, on: bool) -> None:
        with self._lock:
            self._review = on
            self._lock.notify_all()

    def veto(self, reason: str = "", worker: int | None = None) -> None:
        """Veto a proposal (worker None: see the class); stops its measurement if it is
        running."""
        with self._lock:
            target = self._target(worker)
            self._vetoes[target] = reason
            self._cancel_locked(target).set()
            self._lock.notify_all()

    def hold(self) -> None:
        """The user is typing a veto: no experiment may be decided until `release`
        (measurement goes on; the decision waits at the next step)."""
        with self._lock:
            self._holds += 1
            self._lock.notify_all()

    def release(self) -> None:
        with self._lock:
            self._holds = max(0, self._holds - 1)
            self._lock.notify_all()

    def approve(self, worker: int | None = None) -> bool:
        """Approve a proposal waiting in review mode (worker None: see the class). Returns
        False, approving nothing, when that worker has no proposal waiting: an approval is
        never kept for a proposal the user has not seen yet."""
        with self._lock:
            target = self._target(worker)
            if target not in self._waiting:
                return False
            self._approved.add(target)
            self._lock.notify_all()
            return True

    def cherry_pick(self, n: int, *, tag: str | None = None, commit: str | None = None,
                    description: str = "", hypothesis: str = "") -> None:
        """Queue experiment `n` (of session `tag`, when it is another session's: then with
        its candidate `commit`) to be re-applied on the champion by the next worker that
        starts an experiment."""
        with self._lock:
            self._cherry_picks.append(CherryPick(n, tag, commit, description, hypothesis))
            self._lock.notify_all()

    def stop(self, reason: str = "stopped by the user", exit_status: int = 0) -> None:
        """Stop every worker; `exit_status` is the session's (3: stopped on an error it
        cannot continue past, such as a Ray cluster's head node gone), kept when a later
        stop (a worker passing the stop on) gives none."""
        with self._lock:
            self._stop = True
            self._stop_reason = reason
            self._stop_status = exit_status or self._stop_status
            for event in self._cancels.values():
                event.set()
            self._lock.notify_all()

    # -- state, for the loop and the UI --------------------------------------------------
    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    @property
    def review(self) -> bool:
        with self._lock:
            return self._review

    @property
    def stopping(self) -> bool:
        with self._lock:
            return self._stop

    @property
    def stop_reason(self) -> str:
        with self._lock:
            return self._stop_reason

    @property
    def stop_status(self) -> int:
        """The exit status `stop` was given (0 for the user's stop)."""
        with self._lock:
            return self._stop_status

    @property
    def pending_cherry_picks(self) -> tuple[str, ...]:
        """The queued cherry-picks' labels (`#3`, `nov20#3`)."""
        with self._lock:
            return tuple(pick.label for pick in self._cherry_picks)

    @property
    def awaiting_approval(self) -> tuple[int, ...]:
        """The workers whose proposal waits for approval, lowest first."""
        with self._lock:
            return tuple(sorted(self._waiting))

    # -- for the loop thread(s) -------------------------------------------------------------
    def _cancel_locked(self, worker: int) -> threading.Event:
        event = self._cancels.get(worker)
        if event is None:
            event = self._cancels[worker] = threading.Event()
            if self._stop:
                event.set()
        return event

    def take_cherry_pick(self) -> CherryPick | None:
        with self._lock:
            return self._cherry_picks.popleft() if self._cherry_picks else None

    def take_veto(self, worker: int = 0) -> str | None:
        """The veto reason if the worker's proposal was vetoed ('' for no reason given)."""
        with self._lock:
            reason = self._vetoes.pop(worker, None)
            if not self._stop:
                self._cancel_locked(worker).clear()
            return reason

    def peek_veto(self, worker: int = 0) -> bool:
        with self._lock:
            return worker in self._vetoes

    def begin_experiment(self, worker: int = 0) -> None:
        """Forget a veto or approval meant for the worker's earlier proposal."""
        with self._lock:
            self._vetoes.pop(worker, None)
            self._approved.discard(worker)
            self._waiting.discard(worker)
            if not self._stop:
                self._cancel_locked(worker).clear()

    def measuring(self, worker: int, on: bool) -> None:
        """The scheduler says the worker's candidate took (on) or left (off) a slot."""
        with self._lock:
            if worker in self._measuring:
                self._measuring.remove(worker)
            if on:
                self._measuring.append(worker)

    def wait_while_paused(self, on_pause: Callable[[], None] | None = None) -> bool:
        """Block while paused. Returns False if the loop should stop instead."""
        with self._lock:
            if self._paused and not self._stop and on_pause is not None:
                self._lock.release()
                try:
                    on_pause()
                finally:
                    self._lock.acquire()
            while self._paused and not self._stop:
                self._lock.wait(0.5)
            return not self._stop

    def settle(self, worker: int = 0) -> bool:
        """Before a decision: wait while a veto is being typed, then say whether the
        worker's experiment was vetoed meanwhile (the veto stays pending for `take_veto`)."""
        with self._lock:
            while self._holds and not self._stop:
                self._lock.wait(0.5)
            return worker in self._vetoes and not self._stop

    def expect_approval(self, worker: int = 0) -> None:
        """The worker is about to show its proposal for approval: from now on `approve`
        may take it (called before the state that tells the UI, so an approval sent as
        soon as the UI hears of it is not lost)."""
        with self._lock:
            self._waiting.add(worker)

    def wait_for_approval(self, worker: int = 0) -> str:
        """In review mode: block until approve ('approved'), veto ('vetoed') or stop ('stop').

        Leaving review mode while waiting counts as approval.
        """
        with self._lock:
            self._waiting.add(worker)
            try:
                while True:
                    if self._stop:
                        return "stop"
                    if worker in self._vetoes:
                        return "vetoed"
                    if worker in self._approved or not self._review:
                        self._approved.discard(worker)
                        return "approved"
                    self._lock.wait(0.5)
            finally:
                self._waiting.discard(worker)


class WorkerControl:
    """One worker's view of the controller: the loop-side calls of `LoopController` bound
    to that worker (its veto, approval and cancel; the session's pause, stop, review)."""

    def __init__(self, controller: LoopController, worker: int) -> None:
        self.controller = controller
        self.worker = worker
        self.cancel = controller.cancel_of(worker)

    @property
    def paused(self) -> bool:
        return self.controller.paused

    @property
    def review(self) -> bool:
        return self.controller.review

    @property
    def stopping(self) -> bool:
        return self.controller.stopping

    @property
    def stop_reason(self) -> str:
        return self.controller.stop_reason

    def pause(self) -> None:
        self.controller.pause()

    def take_cherry_pick(self) -> CherryPick | None:
        return self.controller.take_cherry_pick()

    def take_veto(self) -> str | None:
        return self.controller.take_veto(self.worker)

    def peek_veto(self) -> bool:
        return self.controller.peek_veto(self.worker)

    def begin_experiment(self) -> None:
        self.controller.begin_experiment(self.worker)

    def wait_while_paused(self, on_pause: Callable[[], None] | None = None) -> bool:
        return self.controller.wait_while_paused(on_pause)

    def settle(self) -> bool:
        return self.controller.settle(self.worker)

    def expect_approval(self) -> None:
        self.controller.expect_approval(self.worker)

    def wait_for_approval(self) -> str:
        return self.controller.wait_for_approval(self.worker)


Control = LoopController | WorkerControl
"""What a pipeline and a bench obey: the whole controller (sequential) or one worker's."""
