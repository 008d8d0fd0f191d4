"""The exceptions that cut an experiment or the session short.

They cross module lines (the bench raises `Cancelled`, a stage raises `SessionOver`), and
each is turned into a status in one place: `pipeline.run_experiment` for one experiment,
`loop.Loop.run` for the session.
"""

from __future__ import annotations


class StopRequested(Exception):
    """The user stopped the session (the running experiment becomes `interrupted`)."""


class SessionOver(Exception):
    """A budget, the agent or an error it cannot continue past ends the session."""

    def __init__(self, reason: str, exit_status: int = 0, finished: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_status = exit_status
        self.finished = finished
        """A finished session is not resumed by default (a command-line limit, or an
        error, leaves it open)."""


class Cancelled(Exception):
    """The running step was cancelled through the controller (veto or stop)."""


class Tampered(Exception):
    """A measured command changed a protected file in the measurement tree (`rejected`)."""
