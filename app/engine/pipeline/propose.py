"""The first stage: a proposal in the agent's worktree, from the agent or a cherry-pick.

Everything the agent is given (`agent_context`: the program, the history, the `before`
hook's guidance, the live diff) and what happens when it fails (`AGENT_ERROR`, back-off
on transient errors, a pause or the session's end after too many in a row).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from app.engine import hooks, memory
from app.engine.agents.base import (
    AgentContext,
    AgentError,
    AgentFatalError,
    AgentsExhausted,
    ideas_section,
)
from app.engine.controller import CherryPick
from app.engine.events import (
    AgentActivity,
    DiffUpdated,
    Event,
    EventSink,
    LoopState,
    NotesTaken,
    WarningRaised,
)
from app.engine.faults import fault_point
from app.engine.gitops import SessionGit
from app.engine.interrupts import Cancelled, SessionOver, StopRequested
from app.engine.pipeline.trial import PASS, Trial, Verdict, end
from app.engine.records import Status
from app.engine.steering import Steering, format_notes, put_back, take

if TYPE_CHECKING:
    from app.engine.pipeline.experiment import Pipeline

log = logging.getLogger("autoresearch")

BACKOFF_START_S = 60.0
BACKOFF_MAX_S = 600.0


def propose(p: Pipeline, trial: Trial) -> Verdict:
    """The agent edits the worktree (or a queued cherry-pick is applied)."""
    pick = p.controller.take_cherry_pick()
    if pick is not None:
        return cherry_pick(p, trial, pick)
    n, facts = trial.n, trial.facts
    p.state(LoopState.PROPOSING, getattr(p.agent, "name", ""), n)
    fault_point("propose")
    try:
        facts.instructions = take_notes(p, n)
        proposal = p.agent.propose(agent_context(p, n, facts.instructions))
    except AgentsExhausted:
        carry_notes(p)  # the session ends: the note waits for a relaunch
        raise
    except AgentFatalError as exc:
        carry_notes(p)
        trial.then = SessionOver(f"the agent cannot continue: {exc}", 3, finished=False)
        return end(Status.AGENT_ERROR, str(exc))
    except AgentError as exc:
        if p.controller.stopping:
            carry_notes(p)
            raise StopRequested() from None
        if p.controller.peek_veto():
            raise Cancelled() from None
        facts.tokens, facts.cost_usd, facts.source = exc.tokens, exc.cost_usd, exc.source
        facts.description = exc.source or ""
        p.agent_errors += 1
        carry_notes(p)
        trial.then = _after_agent_error(p, exc)
        return end(Status.AGENT_ERROR, str(exc))
    p.agent_errors = 0
    fault_point("proposed")
    if p.controller.stopping:
        carry_notes(p)
        raise StopRequested()
    facts.description = proposal.description
    facts.hypothesis, facts.learned = proposal.hypothesis, proposal.learned
    facts.tokens, facts.cost_usd = proposal.tokens, proposal.cost_usd
    facts.source = proposal.source
    return PASS


def _after_agent_error(p: Pipeline, exc: AgentError) -> SessionOver | None:
    """Too many errors in a row end the session (headless) or pause it (TUI); a transient
    error waits before the next try (raises StopRequested if the user stops meanwhile)."""
    limit = p.config.agent.max_consecutive_errors
    if p.agent_errors >= limit:
        message = f"{p.agent_errors} agent errors in a row; the last: {exc}"
        if not p.setup.pause_on_agent_errors:
            return SessionOver(message, 3, finished=False)
        p.emit(WarningRaised(message + " — paused; press p to resume"))
        p.controller.pause()
        p.agent_errors = 0
    if exc.transient:
        wait = min(BACKOFF_MAX_S, max(exc.retry_after_s or 0.0, BACKOFF_START_S * 2 ** max(
            0, p.agent_errors - 1)))
        p.state(LoopState.PROPOSING, f"agent unavailable; retrying in {wait:.0f} s")
        if p.controller.cancel.wait(wait) and p.controller.stopping:
            raise StopRequested()
    return None


def cherry_pick(p: Pipeline, trial: Trial, pick: CherryPick) -> Verdict:
    """A past experiment's change (this session's, or another session's, which carries its
    commit), applied onto the champion as this proposal."""
    facts = trial.facts
    source = None if pick.tag else next((e for e in p.history if e.n == pick.n), None)
    commit = pick.commit or ((source.candidate or source.commit) if source
                             else None if pick.tag else p.git.candidate(pick.n))
    notes = pick.description or (source.description if source else "")
    facts.source = pick.source
    description = f"cherry-pick {pick.label}: {notes}".strip().rstrip(":")
    facts.description = description
    facts.hypothesis = pick.hypothesis or (source.hypothesis if source else "")
    p.state(LoopState.PROPOSING, f"cherry-picking {pick.label}", trial.n)
    if not commit or not p.git.has_commit(commit):
        return end(Status.REJECTED, f"experiment {pick.label} has no stored change")
    problem = p.git.apply_commit(commit)
    if problem:
        return end(Status.REJECTED, f"cannot cherry-pick {pick.label}: {problem}")
    return PASS


def take_notes(p: Pipeline, n: int) -> list[str]:
    """The user's notes for experiment `n` (taken from the inbox and logged), as the prompt
    lists them (app/engine/steering.py)."""
    notes, problems = take(p.setup.writer.path.parent)  # the session's state folder
    for problem in problems:
        p.emit(WarningRaised(problem))
    once = []
    p.steering.once = []
    for note in notes:
        p.setup.writer.append(Steering.record(note, n))
        p.steering.apply(note)
        if not note.standing and not note.clear:
            once.append(note.text)
            p.steering.once.append(note)
    if notes:
        p.emit(NotesTaken(n, tuple(once), tuple(p.steering.standing)))
    return [f"for this experiment: {t}" for t in once] + [
        f"standing: {t}" for t in p.steering.standing]


def carry_notes(p: Pipeline) -> None:
    """No proposal came of this experiment (the agent failed, or the session stopped): its
    one-off notes go back to the inbox for the next proposal, after a relaunch too."""
    if p.steering.once:
        put_back(p.setup.writer.path.parent, p.steering.once)
        p.steering.once = []


def agent_context(p: Pipeline, n: int, notes: list[str] | None = None) -> AgentContext:
    guidance = ""
    if p.config.hooks.before:
        last = p.history[-1] if p.history else None
        guidance = p.run_hook("before", hooks.before_payload(
            cwd=p.git.paths.worktree, next_run=n,
            last=p.hook_entry(last) if last else None, session=p.session_info()))
    try:
        program = p.setup.program_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        program = ""
    guard = p.setup.guard
    return AgentContext(
        n=n, worktree=p.git.paths.worktree, program=program,
        metric_name=p.metric.name, direction=p.metric.direction,
        unit=p.metric.unit, baseline=p.baseline_metric(),
        champion=p.champion.median, champion_commit=p.champion.commit,
        history=list(p.history),
        ideas=memory.annotate_ideas(ideas_section(program), p.history), guidance=guidance,
        is_protected=guard.is_protected, is_hidden=guard.is_hidden, emit=_agent_sink(p, n),
        cancel=p.controller.cancel,
        used_sources=frozenset(e.source for e in p.history if e.source),
        sandbox=p.setup.sandbox, hidden_paths=tuple(sorted(guard.hidden_paths)),
        memory=memory.digest(p.history, memory.Champion(
            metric=p.champion.median, commit=p.champion.commit, noise=p.champion.noise,
            direction=p.metric.direction), p.config.agent.memory_tokens).text,
        notes=format_notes(notes or []), worker=p.worker,
        others="\n\n".join(x for x in (p.extra_notes, p.others()) if x))


def _agent_sink(p: Pipeline, n: int) -> EventSink:
    """The agent's events, plus the live diff: at most once a second while the agent
    works, the worktree's diff against the champion goes out as DiffUpdated.

    The first one only after a second of work: a proposal made faster than that is shown
    by its snapshot's diff (ProposalReady) a moment later, and each live diff scans the
    whole worktree (~100 ms in a 10,000-file repository, benchmarks/harness_overhead.py)."""
    git = SessionGit(p.git.repo_paths, p.git.paths)  # private: agent threads use it
    git.linked = p.git.linked
    busy = threading.Lock()
    last = [time.monotonic()]

    def sink(event: Event) -> None:
        p.emit(event)
        if not isinstance(event, AgentActivity) or time.monotonic() - last[0] < 1.0:
            return
        if not busy.acquire(blocking=False):
            return
        try:
            last[0] = time.monotonic()
            p.emit(DiffUpdated(n, git.worktree_diff()))
        except Exception:  # noqa: BLE001 - a live view must never break the agent
            log.exception("live diff failed")
        finally:
            busy.release()

    return sink
