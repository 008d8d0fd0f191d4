"""The Agent protocol: given a context, edit the worktree and return a proposal.

The harness snapshots whatever the agent changed in the worktree; the agent never commits,
never measures and never decides. Protected files are checked by the harness afterwards,
whatever the agent is, so an agent's own checks are a courtesy, not the guarantee.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from app.engine.events import EventSink
from app.engine.records import Experiment, Tokens
from app.engine.sandbox import SessionSandbox


class AgentError(Exception):
    """This experiment failed in the agent (status `agent_error`); the loop goes on.

    `tokens` and `cost_usd` carry what was spent before the failure.
    """

    def __init__(self, message: str, *, tokens: Tokens | None = None, cost_usd: float = 0.0,
                 retry_after_s: float | None = None, source: str | None = None,
                 transient: bool | None = None) -> None:
        super().__init__(message)
        self.transient = retry_after_s is not None if transient is None else transient
        """An outage (rate limit, overload, network): the loop backs off before retrying."""
        self.tokens = tokens or Tokens()
        self.cost_usd = cost_usd
        self.retry_after_s = retry_after_s
        self.source = source
        """Where the failed proposal came from (a scripted patch), so it is not retried."""


class AgentFatalError(Exception):
    """The session cannot go on (e.g. a rejected API key): exit status 3."""


class AgentsExhausted(Exception):
    """The agent has nothing more to propose (e.g. the scripted patches ran out)."""


@dataclass
class AgentContext:
    n: int
    """The experiment number being proposed."""
    worktree: Path
    program: str
    """The program file's text (goal, scope, constraints, ideas)."""
    metric_name: str
    direction: str
    unit: str
    baseline: float | None
    champion: float | None
    champion_commit: str
    history: list[Experiment]
    """Every experiment so far, oldest first; agents pick the window they show."""
    ideas: str = ""
    """The program's `## Ideas` section."""
    guidance: str = ""
    """Output of the `[hooks] before` hook, passed on as guidance."""
    is_protected: Callable[[str], bool] = lambda path: False
    """Whether a repo-relative path may be read but not changed."""
    is_hidden: Callable[[str], bool] = lambda path: False
    """Whether a repo-relative path may be neither read nor listed (holdout files)."""
    emit: EventSink = lambda event: None
    cancel: threading.Event = field(default_factory=threading.Event)
    used_sources: frozenset[str] = frozenset()
    """`source` values of recorded experiments (the scripted agent skips used patches)."""
    sandbox: SessionSandbox | None = None
    """How commands the agent runs are isolated, and their environment (None: no sandbox,
    the base allowlist)."""
    hidden_paths: tuple[str, ...] = ()
    """Repo-relative holdout paths, hidden from commands the agent runs."""
    memory: str = ""
    """The digest of every experiment so far (app/engine/memory.py), bounded."""
    notes: str = ""
    """The user's notes for this experiment, one and standing (app/engine/steering.py)."""
    worker: int = 0
    """The parallel worker proposing (0: the sequential loop)."""
    others: str = ""
    """What the other workers are trying right now, and whether this worker's last
    candidate went stale ('' when alone)."""


@dataclass
class Proposal:
    description: str
    hypothesis: str = ""
    learned: str = ""
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    source: str | None = None


class Agent(Protocol):
    name: str

    def propose(self, ctx: AgentContext) -> Proposal:
        """Edit `ctx.worktree` and describe the change.

        Raises AgentError (this experiment failed), AgentFatalError (stop the session) or
        AgentsExhausted (nothing more to try: the session ends normally).
        """
        ...


def ideas_section(program: str) -> str:
    """The `## Ideas` section of a program file (to the next `## ` heading)."""
    lines = program.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip().lower().startswith("ideas")
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()
