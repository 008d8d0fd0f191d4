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
    def __init__(self, *, paused: bool = False, review: bool = False) -> None:
        self._lock = threading.Condition()
        self._paused = paused
        self._review = review
        self._stop = False
        self._stop_reason = ""
        self._veto: str | None = None
        self._approved = False
        self._cherry_picks: deque[CherryPick] = deque()
        self._holds = 0
        self.cancel = threading.Event()
        """Set when the running step must stop now (veto or stop)."""

    # -- verbs, from any thread -----------------------------------------------------------
    def pause(self) -> None:
        with self._lock:
            self._paused = True
            self._lock.notify_all()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._lock.notify_all()

    def toggle_pause(self) -> bool:
        """Pause or resume; returns whether the loop is now paused."""
        with self._lock:
            self._paused = not self._paused
            self._lock.notify_all()
            return self._paused

    def set_review(self, on: bool) -> None:
        with self._lock:
            self._review = on
            self._lock.notify_all()

    def veto(self, reason: str = "") -> None:
        """Veto the current proposal; stops its measurement if it is running."""
        with self._lock:
            self._veto = reason
            self.cancel.set()
            self._lock.notify_all()

    def hold(self) -> None:
        """The user is typing a veto: the running experiment must not be decided until
        `release` (measurement goes on; the decision waits at the next step)."""
        with self._lock:
            self._holds += 1
            self._lock.notify_all()

    def release(self) -> None:
        with self._lock:
            self._holds = max(0, self._holds - 1)
            self._lock.notify_all()

    def approve(self) -> None:
        with self._lock:
            self._approved = True
            self._lock.notify_all()

    def cherry_pick(self, n: int, *, tag: str | None = None, commit: str | None = None,
                    description: str = "", hypothesis: str = "") -> None:
        """Queue experiment `n` (of session `tag`, when it is another session's: then with
        its candidate `commit`) to be re-applied on the champion after the running one."""
        with self._lock:
            self._cherry_picks.append(CherryPick(n, tag, commit, description, hypothesis))
            self._lock.notify_all()

    def stop(self, reason: str = "stopped by the user") -> None:
        with self._lock:
            self._stop = True
            self._stop_reason = reason
            self.cancel.set()
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
    def pending_cherry_picks(self) -> tuple[str, ...]:
        """The queued cherry-picks' labels (`#3`, `nov20#3`)."""
        with self._lock:
            return tuple(pick.label for pick in self._cherry_picks)

    # -- for the loop thread ---------------------------------------------------------------
    def take_cherry_pick(self) -> CherryPick | None:
        with self._lock:
            return self._cherry_picks.popleft() if self._cherry_picks else None

    def take_veto(self) -> str | None:
        """The veto reason if the current proposal was vetoed ('' for no reason given)."""
        with self._lock:
            reason, self._veto = self._veto, None
            if not self._stop:
                self.cancel.clear()
            return reason

    def peek_veto(self) -> bool:
        with self._lock:
            return self._veto is not None

    def begin_experiment(self) -> None:
        """Forget a veto or approval meant for an earlier proposal."""
        with self._lock:
            self._veto = None
            self._approved = False
            if not self._stop:
                self.cancel.clear()

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

    def settle(self) -> bool:
        """Before a decision: wait while a veto is being typed, then say whether the
        experiment was vetoed meanwhile (the veto stays pending for `take_veto`)."""
        with self._lock:
            while self._holds and not self._stop:
                self._lock.wait(0.5)
            return self._veto is not None and not self._stop

    def wait_for_approval(self) -> str:
        """In review mode: block until approve ('approved'), veto ('vetoed') or stop ('stop').

        Leaving review mode while waiting counts as approval.
        """
        with self._lock:
            while True:
                if self._stop:
                    return "stop"
                if self._veto is not None:
                    return "vetoed"
                if self._approved or not self._review:
                    self._approved = False
                    return "approved"
                self._lock.wait(0.5)
