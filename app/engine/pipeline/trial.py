"""What a stage returns (`Verdict`) and what it works on (`Trial`).

A `Trial` is one experiment in flight, private to the loop's thread: stages add facts to
`trial.facts` (samples, metrics, confidence, checks, holdout...), never a status. The
status and reason come from the verdict that ends the pipeline, set in one place
(`Trial.settle`), which returns a new record: nothing mutable that the loop still holds
leaves the loop's thread.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from app.engine.bench import Comparison
from app.engine.gitops import Snapshot
from app.engine.records import Experiment, Status


@dataclass(frozen=True)
class Verdict:
    """A stage's answer: go on (`status` None), or end the experiment with `status`."""

    status: Status | None = None
    reason: str = ""
    """Why it ended; for a stage that lets the candidate through, a note for the kept
    record's reason (the keep rule's figures, the held-out check's)."""
    output_tail: str = ""
    """The failing command's last lines, for the agent and the history."""

    @property
    def passed(self) -> bool:
        return self.status is None


PASS = Verdict()


def end(status: Status, reason: str, output_tail: str = "") -> Verdict:
    return Verdict(status, reason, output_tail)


@dataclass
class Trial:
    """One experiment in flight."""

    n: int
    facts: Experiment
    """The record being built; its status and reason are placeholders until `settle`."""
    started: float = field(default_factory=time.monotonic)
    snapshot: Snapshot | None = None
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)
    """Reasons of the stages it passed, in order (the kept record's reason)."""
    then: Exception | None = None
    """Raised once the record is logged: the experiment also ends the session (an agent
    that cannot continue)."""

    @property
    def candidate(self) -> str:
        assert self.snapshot is not None and self.snapshot.commit is not None
        return self.snapshot.commit

    def settle(self, verdict: Verdict) -> Experiment:
        """The record of this experiment, decided by `verdict` (the one place an
        experiment's status is set)."""
        assert verdict.status is not None
        changes: dict[str, object] = {"status": verdict.status, "reason": verdict.reason,
                                      "duration_s": time.monotonic() - self.started}
        if verdict.output_tail:
            changes["output_tail"] = verdict.output_tail
        return dataclasses.replace(self.facts, **changes)  # type: ignore[arg-type]
