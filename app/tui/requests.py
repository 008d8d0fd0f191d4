"""What the screens ask of the App, as Messages (past tense, like the engine's events).

A screen posts one of these and the App, which owns the controller and the session's state,
decides what happens: screens never import or call the App.
"""

from __future__ import annotations

from textual.message import Message

from app.engine.records import Experiment


class CherryPickRequested(Message):
    """The user asked to cherry-pick `experiment` (None: nothing was selected), of the
    session `tag` when it is another session's (None: this one's)."""

    def __init__(self, experiment: Experiment | None, tag: str | None = None) -> None:
        super().__init__()
        self.experiment = experiment
        self.tag = tag


class WorkerSelectRequested(Message):
    """The user selected parallel worker `worker` (None: the next one, `tab`)."""

    def __init__(self, worker: int | None) -> None:
        super().__init__()
        self.worker = worker
