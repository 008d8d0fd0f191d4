"""The experiment state machine.

    baseline (calibrated) -> [ propose -> snapshot -> guard -> (review) -> measure (adaptive)
                               -> decide -> guards on secondary metrics -> checks -> holdout
                               -> keep | discard ] * -> end

It emits events to a sink and obeys a `LoopController` at safe points; a veto or stop also
cancels the running command at once. Every experiment ends in exactly one log record,
written after git has stored the candidate, so a restart can always tell what happened.
"""

from __future__ import annotations

import logging
import threading
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Config
from app.engine import decide
from app.engine.agents.base import (Agent, AgentContext, AgentError, AgentFatalError,
                                    AgentsExhausted, Proposal, ideas_section)
from app.engine.controller import LoopController
from app.engine.faults import fault_point
from app.engine.events import (AgentActivity, BaselineReset, BudgetReached, ChecksFinished,
                               DiffUpdated, DriftDetected, Event, EventSink, ExperimentDecided,
                               ExperimentStarted, LoopState, ProposalReady,
                               SessionEnded, StateChanged, WarningRaised)
from app.engine import hooks
from app.engine.bench import Bench, Measured
from app.engine.champion import ChampionState
from app.engine.check_counts import CheckCounts, parse_check_counts, shrinkage
from app.engine.gitops import MeasurementTree, SessionGit, Snapshot
from app.engine.guard import Guard, changed_fingerprint
from app.engine.history import LogWriter
from app.engine.interrupts import Cancelled, SessionOver, StopRequested, Tampered
from app.engine.records import Experiment, Status, Tokens, summarize
from app.engine.sandbox import SessionSandbox
from app.errors import FatalSessionError, UsageError

log = logging.getLogger("autoresearch")

BACKOFF_START_S = 60.0
BACKOFF_MAX_S = 600.0


@dataclass
class Budgets:
    max_experiments: int | None = None
    max_hours: float | None = None
    max_cost_usd: float | None = None
    max_total_tokens: int | None = None
    from_command_line: frozenset[str] = frozenset()
    """Budgets given as flags for this launch only: reaching them leaves the session open."""


@dataclass
class LoopSetup:
    """Everything the loop needs, prepared (and validated) by `runner.open_engine`."""

    config: Config
    git: SessionGit
    guard: Guard
    writer: LogWriter
    runs_dir: Path
    program_path: Path
    experiments: list[Experiment]
    segment_start: int
    """Index in `experiments` of the current baseline's segment."""
    fingerprint: dict[str, str]
    budgets: Budgets
    needs_new_baseline: str = ""
    """Non-empty: why the baseline must be measured again (config or protected change)."""
    drift_samples: list[float] | None = None
    pause_on_agent_errors: bool = False
    """TUI: pause after too many consecutive agent errors; headless: exit 3."""
    drifted: bool = False
    """The log holds a drift record: measure interleaved from the start."""
    tracked: list[str] = field(default_factory=list)
    sandbox: SessionSandbox | None = None
    """The session's isolation and environment allowlist (None: none, base allowlist)."""
    tree: MeasurementTree | None = None
    """Where measured commands run (None: in the agent's worktree, as before 0.2)."""


class Loop:
    def __init__(self, setup: LoopSetup, agent: Agent, sink: EventSink,
                 controller: LoopController) -> None:
        self.s = setup
        self.config = setup.config
        self.git = setup.git
        self.agent = agent
        self.controller = controller
        self._sink = sink
        self.experiments = setup.experiments
        self.champ = ChampionState.from_log(self.git.champion(), self._segment(),
                                            setup.drift_samples)
        self.bench = Bench(setup, self.champ, controller, self.emit)
        self.consecutive_agent_errors = 0
        self._at_champion: tuple[str, int] | None = None
        """(champion commit, bench runs) when the worktree was reset to that commit and
        nothing ran since (no command, no agent, no pause): the next experiment need not
        reset it again."""
        known = [e.n for e in self.experiments] + self.git.candidate_numbers()
        self._n = max(known) + 1 if known else 0
        """The next experiment number (numbers only grow within a launch)."""
        self.spent = _Spent()
        for e in self.experiments:
            self.spent.add(e)

    @property
    def champion(self) -> str:
        return self.champ.commit

    # -- plumbing -------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        try:
            self._sink(event)
        except Exception:  # a broken UI must not kill the loop
            log.exception("event sink failed on %r", type(event).__name__)

    def state(self, state: LoopState, detail: str = "", n: int | None = None) -> None:
        self.emit(StateChanged(state, detail, n))

    @property
    def metric(self) -> Any:
        return self.config.metric

    def _segment(self) -> list[Experiment]:
        return self.experiments[self.s.segment_start:]

    def _next_n(self) -> int:
        n, self._n = self._n, self._n + 1
        return n

    def _record(self, experiment: Experiment, new_best: bool = False) -> None:
        self.s.writer.append_experiment(experiment)
        self.experiments.append(experiment)
        self.spent.add(experiment)
        self.emit(ExperimentDecided(experiment, self.champion, new_best, self.spent.tokens,
                                    self.spent.cost_usd))
        if self.config.hooks.after:
            self._run_hook("after", hooks.after_payload(
                cwd=self.git.paths.worktree, entry=self._entry(experiment),
                session=self._session_info()))
        if new_best and self.config.hooks.notify and experiment.metric is not None:
            info = self._session_info()
            hooks.notify(self.config.hooks.notify, hooks.notify_env(
                tag=self.git.paths.tag, metric_name=self.metric.name, best=experiment.metric,
                baseline=info["baseline_metric"], n=experiment.n,
                description=experiment.description, unit=self.metric.unit),
                self.git.repo_paths.root, policy=self.s.sandbox.policy if self.s.sandbox
                else None)

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Run until a budget, the agent or the user ends the session. Returns exit status."""
        exit_status = 0
        reason = ""
        finished = False
        try:
            self.git.reset_to(self.champion)
            if self.controller.paused:
                self.state(LoopState.PAUSED)
                if not self.controller.wait_while_paused():
                    raise StopRequested()
            if self.s.needs_new_baseline or not any(
                    e.status is Status.BASELINE for e in self._segment()):
                self._baseline()
            while True:
                self._check_budgets()
                if self.controller.stopping:
                    raise StopRequested()
                if self.controller.paused:
                    self._at_champion = None  # the user may edit the worktree meanwhile
                    self.state(LoopState.PAUSED)
                    if not self.controller.wait_while_paused():
                        raise StopRequested()
                self._experiment(self._next_n())
                self._maybe_remeasure()
        except SessionOver as end:
            reason, exit_status = end.reason, end.exit_status
            finished = end.finished and exit_status == 0
        except StopRequested:
            reason = self.controller.stop_reason or "stopped"
            exit_status = 130 if reason == "interrupted" else 0
        except (UsageError, FatalSessionError):
            self._safe_reset()
            raise
        except OSError as exc:
            # A full disk or a state folder gone read-only: say so, keep what was logged.
            log.exception("the loop failed on the file system")
            self._safe_reset()
            self.state(LoopState.FAILED, str(exc))
            raise FatalSessionError(
                f"the session stopped: {exc.strerror or exc} ({exc.filename or 'a file'}); "
                "free space or fix permissions, then launch again to resume.") from None
        except Exception as exc:
            log.exception("the loop failed")
            self._safe_reset()
            self.state(LoopState.FAILED, str(exc))
            raise
        self._safe_reset()
        summary = summarize(self.git.paths.tag, self.experiments, metric_name=self.metric.name,
                            unit=self.metric.unit, direction=self.metric.direction,
                            reason=reason)
        self.s.writer.append({"type": "session_end", "reason": reason, "finished": finished,
                              "exit_status": exit_status})
        self.state(LoopState.DONE, reason)
        self.emit(SessionEnded(reason, summary, exit_status))
        return exit_status

    def _safe_reset(self) -> None:
        try:
            self.git.reset_to(self.git.champion())
        except Exception:
            log.exception("could not reset the worktree to the champion")

    def _check_budgets(self) -> None:
        b = self.s.budgets
        done, cost = self.spent.experiments, self.spent.cost_usd
        hours, tokens = self.spent.duration_s / 3600, self.spent.tokens.total
        reason = name = ""
        if b.max_experiments is not None and done >= b.max_experiments:
            reason, name = f"reached max_experiments ({b.max_experiments})", "max_experiments"
        elif b.max_hours is not None and hours >= b.max_hours:
            reason, name = f"reached max_hours ({b.max_hours:g} h)", "max_hours"
        elif b.max_cost_usd is not None and cost >= b.max_cost_usd:
            reason = f"reached max_cost_usd (${cost:.2f} of ${b.max_cost_usd:.2f})"
            name = "max_cost_usd"
        elif b.max_total_tokens is not None and tokens >= b.max_total_tokens:
            reason = f"reached max_total_tokens ({tokens:,} of {b.max_total_tokens:,})"
            name = "max_total_tokens"
        if reason:
            self.emit(BudgetReached(reason))
            raise SessionOver(reason, finished=name not in b.from_command_line)

    def _baseline(self) -> None:
        n = self._next_n()
        started = time.monotonic()
        if self.s.needs_new_baseline:
            self.s.writer.append({"type": "baseline_reset", "n": n,
                                  "reason": self.s.needs_new_baseline})
            self.emit(BaselineReset(self.s.needs_new_baseline))
            self.s.segment_start = len(self.experiments)
        self.emit(ExperimentStarted(n, self.champion))
        try:
            calibration = self.bench.calibrate(n)
        except Cancelled:
            raise StopRequested() from None
        except Tampered as exc:
            raise UsageError(f"on the unchanged code, {exc}; a benchmark or test that "
                             "writes into protected files cannot be trusted: make it write "
                             "elsewhere, or unprotect those paths in `[guard] unprotected`."
                             ) from None
        measured, holdout, counts = calibration.bench, calibration.holdout, calibration.checks
        self.champ.calibrated(measured.values, measured.medians(), holdout.values, counts,
                              self.bench.outputs.reference)
        checks_note = _checks_note(counts) if calibration.checks_ran else ""
        metric = statistics.median(measured.values)
        noise = self.champ.noise
        noise_note = f"noise ±{noise:.1%}" if noise is not None else "noise unknown"
        experiment = Experiment(
            n=n, status=Status.BASELINE,
            reason=", ".join(x for x in (noise_note, checks_note) if x),
            metric=metric, metrics=dict(self.champ.metrics), samples=list(measured.values),
            holdout=statistics.median(holdout.values) if holdout.values else None,
            holdout_samples=list(holdout.values), commit=self.champion, candidate=self.champion,
            description="baseline", duration_s=time.monotonic() - started,
            champion_metric=metric, fingerprints=dict(self.bench.outputs.reference),
            checks=counts.to_json() if counts else None)
        self.s.writer.append(experiment.to_json())
        self.experiments.append(experiment)
        self.spent.add(experiment)
        self.s.needs_new_baseline = ""
        self.emit(ExperimentDecided(experiment, self.champion, True, self.spent.tokens,
                                    self.spent.cost_usd))

    def _maybe_remeasure(self) -> None:
        every = self.metric.remeasure_every
        done = [e for e in self._segment() if e.status is not Status.BASELINE]
        if not every or not done or len(done) % every:
            return
        n = done[-1].n
        try:
            measured = self.bench.remeasure(n)
        except Cancelled:
            if self.controller.stopping:
                raise StopRequested() from None
            self.controller.take_veto()
            return
        except Tampered as exc:
            self.emit(WarningRaised(f"re-measuring the champion: {exc}"))
            return
        if measured.failure is not None:
            self.emit(WarningRaised(f"re-measuring the champion failed: {measured.reason}"))
            return
        before = statistics.median(self.champ.samples)
        after = statistics.median(measured.values)
        drifted = decide.drifted(self.champ.samples, measured.values, noise=self.champ.noise)
        self.champ.resampled(measured.values, drifted=drifted)
        if drifted:
            detail = (f"the unchanged champion now measures {after:g} (was {before:g}); later "
                      "candidates are compared with fresh samples")
            self.s.writer.append({"type": "drift", "n": n, "before": before, "after": after,
                                  "samples": measured.values, "detail": detail})
            self.s.writer.append({"type": "champion_samples", "n": n,
                                  "samples": measured.values})
            self.emit(DriftDetected(n, before, after, detail))
            if not self.bench.interleave:
                self.bench.interleave = True
                self.emit(WarningRaised("the machine's speed drifted: from now on the champion "
                                        "is measured alternately with each candidate"))
        else:
            self.s.writer.append({"type": "champion_samples", "n": n,
                                  "samples": self.champ.samples})


    # -- one experiment -------------------------------------------------------------------------
    def _session_info(self) -> dict[str, Any]:
        segment = self._segment()
        baseline = next((e.metric for e in segment if e.status is Status.BASELINE), None)
        best = next((e.metric for e in reversed(segment) if e.status is Status.KEEP), baseline)
        return hooks.session_info(
            tag=self.git.paths.tag, metric_name=self.metric.name, unit=self.metric.unit,
            direction=self.metric.direction, baseline=baseline, best=best,
            run_count=len(self.experiments), goal="")

    @staticmethod
    def _entry(e: Experiment) -> dict[str, Any]:
        return hooks.run_entry(n=e.n, status=str(e.status), metric=e.metric,
                               description=e.description, hypothesis=e.hypothesis,
                               learned=e.learned, reason=e.reason, metrics=e.metrics,
                               commit=e.commit, confidence=e.confidence)

    def _run_hook(self, which: str, payload: dict[str, Any]) -> str:
        command = getattr(self.config.hooks, which)
        if not command:
            return ""
        sandbox = self.s.sandbox
        result = hooks.run_hook(command, payload, self.git.paths.worktree,
                                repo_root=self.git.repo_paths.root,
                                isolation=sandbox.hook(self.git.paths.worktree)
                                if sandbox else None,
                                policy=sandbox.policy if sandbox else None)
        if result.error:
            self.emit(WarningRaised(f"the {which} hook failed: {result.error}"))
        return result.stdout

    def _agent_sink(self, n: int) -> EventSink:
        """The agent's events, plus the live diff: at most once a second while the agent
        works, the worktree's diff against the champion goes out as DiffUpdated."""
        git = SessionGit(self.git.repo_paths, self.git.paths)  # private: agent threads use it
        git.linked = self.git.linked
        busy = threading.Lock()
        last = [0.0]

        def sink(event: Event) -> None:
            self.emit(event)
            if not isinstance(event, AgentActivity) or time.monotonic() - last[0] < 1.0:
                return
            if not busy.acquire(blocking=False):
                return
            try:
                last[0] = time.monotonic()
                self.emit(DiffUpdated(n, git.worktree_diff()))
            except Exception:  # noqa: BLE001 - a live view must never break the agent
                log.exception("live diff failed")
            finally:
                busy.release()

        return sink

    def _context(self, n: int) -> AgentContext:
        guidance = ""
        if self.config.hooks.before:
            last = self.experiments[-1] if self.experiments else None
            guidance = self._run_hook("before", hooks.before_payload(
                cwd=self.git.paths.worktree, next_run=n,
                last=self._entry(last) if last else None, session=self._session_info()))
        try:
            program = self.s.program_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            program = ""
        baseline = next((e.metric for e in self._segment() if e.status is Status.BASELINE),
                        None)
        return AgentContext(
            n=n, worktree=self.git.paths.worktree, program=program,
            metric_name=self.metric.name, direction=self.metric.direction,
            unit=self.metric.unit, baseline=baseline,
            champion=self.champ.median, champion_commit=self.champion, history=list(self.experiments),
            ideas=ideas_section(program), guidance=guidance,
            is_protected=self.s.guard.is_protected,
            is_hidden=self.s.guard.is_hidden, emit=self._agent_sink(n),
            cancel=self.controller.cancel,
            used_sources=frozenset(e.source for e in self.experiments if e.source),
            sandbox=self.s.sandbox, hidden_paths=tuple(sorted(self.s.guard.hidden_paths)))

    def _experiment(self, n: int) -> None:
        started = time.monotonic()
        self.controller.begin_experiment()
        self.champ.commit = self.git.champion()
        # The agent starts from exactly the champion: outputs of earlier measurements
        # (baseline, re-measurements) must not leak into this candidate.
        if self._at_champion != (self.champion, self.bench.runs):
            self.git.reset_to(self.champion)
        self._at_champion = None
        self.emit(ExperimentStarted(n, self.champion))
        exp = Experiment(n=n, status=Status.DISCARD, parent=self.champion,
                         champion_metric=self.champ.median,
                         champion_samples=list(self.champ.samples))
        try:
            self._run_experiment(n, exp)
        except Cancelled:
            veto = self.controller.take_veto()
            if self.controller.stopping or veto is None:
                exp.status, exp.reason = Status.INTERRUPTED, "stopped by the user"
                self._finish(exp, started)
                raise StopRequested() from None
            exp.status = Status.VETOED
            exp.veto_reason = veto
            exp.reason = f"vetoed: {veto}" if veto else "vetoed by the user"
        except Tampered as exc:
            exp.status, exp.reason = Status.REJECTED, str(exc)
        except StopRequested:
            exp.status, exp.reason = Status.INTERRUPTED, "stopped by the user"
            self._finish(exp, started)
            raise
        except SessionOver:
            self._finish(exp, started)  # the experiment that ended the session is logged too
            raise
        except AgentsExhausted as exc:
            self.git.reset_to(self.champion)
            raise SessionOver(str(exc) or "the agent has nothing more to try") from None
        self._finish(exp, started)

    def _finish(self, exp: Experiment, started: float) -> None:
        if exp.status not in (Status.KEEP, Status.INTERRUPTED, Status.VETOED) and \
                self.controller.settle():
            veto = self.controller.take_veto() or ""  # vetoed while the dialog was open
            exp.status, exp.veto_reason = Status.VETOED, veto
            exp.reason = f"vetoed: {veto}" if veto else "vetoed by the user"
        exp.duration_s = time.monotonic() - started
        kept = exp.status is Status.KEEP
        if not kept:
            fault_point("discard")
            self.git.reset_to(self.champion)
            self._at_champion = (self.champion, self.bench.runs)
        self._record(exp, new_best=kept)
        fault_point("keep-logged" if kept else "discard-logged")

    def _propose(self, n: int, exp: Experiment) -> Proposal | None:
        pick = self.controller.take_cherry_pick()
        if pick is not None:
            return self._cherry_pick(pick, exp)
        self.state(LoopState.PROPOSING, getattr(self.agent, "name", ""), n)
        fault_point("propose")
        try:
            proposal = self.agent.propose(self._context(n))
        except AgentFatalError as exc:
            exp.status, exp.reason = Status.AGENT_ERROR, str(exc)
            raise SessionOver(f"the agent cannot continue: {exc}", 3, finished=False) from None
        except AgentError as exc:
            if self.controller.stopping:
                raise StopRequested() from None
            if self.controller.peek_veto():
                raise Cancelled() from None
            exp.status, exp.reason = Status.AGENT_ERROR, str(exc)
            exp.tokens, exp.cost_usd, exp.source = exc.tokens, exc.cost_usd, exc.source
            exp.description = exc.source or ""
            self.consecutive_agent_errors += 1
            self._after_agent_error(exc)
            return None
        self.consecutive_agent_errors = 0
        fault_point("proposed")
        if self.controller.stopping:
            raise StopRequested()
        exp.description = proposal.description
        exp.hypothesis, exp.learned = proposal.hypothesis, proposal.learned
        exp.tokens, exp.cost_usd, exp.source = proposal.tokens, proposal.cost_usd, proposal.source
        return proposal

    def _after_agent_error(self, exc: AgentError) -> None:
        limit = self.config.agent.max_consecutive_errors
        if self.consecutive_agent_errors >= limit:
            message = (f"{self.consecutive_agent_errors} agent errors in a row; the last: {exc}")
            if self.s.pause_on_agent_errors:
                self.emit(WarningRaised(message + " — paused; press p to resume"))
                self.controller.pause()
                self.consecutive_agent_errors = 0
            else:
                raise SessionOver(message, 3, finished=False)
        if exc.transient:
            wait = min(BACKOFF_MAX_S, max(exc.retry_after_s or 0.0, BACKOFF_START_S * 2 ** max(
                0, self.consecutive_agent_errors - 1)))
            self.state(LoopState.PROPOSING, f"agent unavailable; retrying in {wait:.0f} s")
            if self.controller.cancel.wait(wait) and self.controller.stopping:
                raise StopRequested()

    def _cherry_pick(self, pick: int, exp: Experiment) -> Proposal | None:
        source = next((e for e in self.experiments if e.n == pick), None)
        commit = (source.candidate or source.commit) if source else self.git.candidate(pick)
        exp.source = f"cherry-pick:{pick}"
        description = f"cherry-pick #{pick}: {source.description if source else ''}".strip()
        exp.description = description
        self.state(LoopState.PROPOSING, f"cherry-picking #{pick}", exp.n)
        if not commit:
            exp.status, exp.reason = Status.REJECTED, f"experiment #{pick} has no stored change"
            return None
        problem = self.git.apply_commit(commit)
        if problem:
            exp.status, exp.reason = Status.REJECTED, f"cannot cherry-pick #{pick}: {problem}"
            return None
        return Proposal(description=description,
                        hypothesis=source.hypothesis if source else "", source=exp.source)

    def _run_experiment(self, n: int, exp: Experiment) -> None:
        proposal = self._propose(n, exp)
        if proposal is None:
            return
        snap = self.git.snapshot(n, exp.description or f"experiment {n}", exp.source)
        fault_point("snapshot")
        exp.commit = exp.candidate = snap.commit
        exp.diffstat = snap.diffstat
        if not exp.description:
            exp.description = snap.diffstat or "(no description)"
        self.emit(ProposalReady(n, exp.description, exp.hypothesis, snap.diff, snap.diffstat,
                                snap.commit))
        if snap.commit is None:
            exp.status, exp.reason = Status.REJECTED, "the proposal changed nothing"
            return
        violations = self.s.guard.violations(snap.changed, self.git.paths.worktree)
        if violations:
            exp.status = Status.REJECTED
            exp.reason = f"changes protected files: {', '.join(violations[:5])}"
            return
        if self.controller.review:
            self.state(LoopState.WAITING_APPROVAL, "", n)
            answer = self.controller.wait_for_approval()
            if answer == "stop":
                raise StopRequested()
            if answer == "vetoed":
                raise Cancelled()
        self._measure_and_decide(n, exp, snap)

    def _tamper_check(self, snap: Snapshot) -> str:
        """Empty if the worktree still is the snapshot and protected files are intact."""
        now = self.s.guard.fingerprint(self.git.paths.worktree, self.s.tracked)
        changed = changed_fingerprint(self.s.fingerprint, now)
        if changed:
            return (f"protected files changed behind the harness's back: "
                    f"{', '.join(changed[:5])}")
        current = self.git.snapshot_tree()
        if current != snap.tree:
            return "the worktree changed after the proposal was snapshotted"
        return ""

    def _measure_and_decide(self, n: int, exp: Experiment, snap: Snapshot) -> None:
        tampered = self._tamper_check(snap)
        if tampered:
            exp.status, exp.reason = Status.REJECTED, tampered
            return
        assert snap.commit is not None
        m = self.metric
        simpler = snap.removed_lines > snap.added_lines

        def rule(cand: list[float], champion: list[float], look: int,
                 max_looks: int) -> decide.Decision:
            return decide.evaluate(
                cand, champion, direction=m.direction, alpha=self.config.decide.alpha,
                min_effect=self.config.decide.min_effect, look=look, max_looks=max_looks,
                noise=self.champ.noise, simpler=simpler,
                prefer_simpler=self.config.decide.prefer_simpler,
                interleaved=self.bench.interleave)

        compared = self.bench.compare(n, snap.commit, rule)
        cand = compared.candidate
        self._fill_metrics(exp, cand, compared.champion)
        decision = compared.decision
        if decision is None:
            exp.status, exp.reason = compared.failure or Status.CRASH, compared.reason
            exp.output_tail = compared.output_tail
            return
        exp.confidence, exp.p_value = decision.confidence, decision.p_value
        exp.reason = decision.reason
        if decision.outcome != "keep":
            exp.status = Status.DISCARD
            return
        exp.simplification = decision.simplification
        disagrees = self._outside_clock(n, exp, snap)
        if disagrees:
            exp.status, exp.reason = Status.REJECTED, disagrees
            return
        broken = self._metric_guards(exp.metrics)
        if broken:
            exp.status, exp.reason = Status.DISCARD, broken
            return
        if self.config.checks.command:
            self.state(LoopState.CHECKS, "", n)
            fault_point("checks")
            result = self.bench.checks(n)
            self.emit(ChecksFinished(n, result.ok, result.duration_s, result.failure()))
            counts = parse_check_counts(result.output)
            exp.checks = counts.to_json() if counts else None
            ran_less = shrinkage(self.champ.checks, counts) if result.ok else ""
            if not result.ok or ran_less:
                exp.status = Status.CHECKS_FAILED
                exp.reason = ran_less or f"checks failed ({result.failure()})"
                exp.output_tail = result.output_tail
                return
        if self.config.holdout.command and self.champ.holdout_samples:
            held_out = self.bench.holdout(n, snap.commit)
            held, fresh = held_out.candidate, held_out.champion
            if held.failure is not None:
                if held.failure is Status.CHECKS_FAILED:  # its results changed
                    exp.status, exp.reason = Status.CHECKS_FAILED, held.reason
                    return
                exp.status = Status.OVERFIT
                exp.reason = f"the held-out check failed ({held.reason})"
                return
            exp.holdout = statistics.median(held.values)
            exp.holdout_samples = list(held.values)
            reference = fresh.values if len(fresh.values) == held_out.runs \
                else self.champ.holdout_samples
            bad, why = decide.regressed(held.values, reference,
                                        direction=m.direction,
                                        max_regression=self.config.holdout.max_regression,
                                        noise=self.champ.holdout_noise)
            if not bad and exp.metric is not None and exp.champion_metric:
                main_change = (exp.metric - exp.champion_metric) / abs(exp.champion_metric)
                short, transfer = decide.transfer_shortfall(
                    held.values, reference, main_change=main_change, direction=m.direction,
                    min_transfer=self.config.holdout.min_transfer,
                    noise=self.champ.holdout_noise)
                if short:
                    why = transfer
                bad = short
            if bad:
                exp.status, exp.reason = Status.OVERFIT, why
                return
            exp.reason = f"{exp.reason}; {why}"
        self._keep(exp, cand)

    def _outside_clock(self, n: int, exp: Experiment, snap: Snapshot) -> str:
        """Why the reported gain is not believed ('' when it is): app/engine/outside_clock.py.

        A suspect verdict is confirmed on fresh runs of the champion, measured now, so that a
        machine that got slower since the champion's runs cannot pass for a lie.
        """
        clock = self.bench.clock
        if clock is None:
            return ""
        assert snap.commit is not None
        verdict = clock.judge(n)
        if not verdict.ok or not clock.knows_champion:  # (unknown after a restart)
            clock.forget_champion()
            self.bench.champion_runs(n, max(3, self.metric.repeats), "outside clock: champion",
                                     snap.commit)
            verdict = clock.judge(n)
        if verdict.figures:
            exp.outside_clock = {k: round(v, 6) for k, v in verdict.figures.items()}
        return verdict.reason


    def _fill_metrics(self, exp: Experiment, cand: Measured, champion: list[float]) -> None:
        exp.samples = list(cand.values)
        exp.champion_samples = list(champion)
        if champion:  # the delta shown is against the samples the rule compared with
            exp.champion_metric = statistics.median(champion)
        exp.metrics = cand.medians()
        exp.metric = statistics.median(cand.values) if cand.values else None

    def _metric_guards(self, metrics: dict[str, float]) -> str:
        for g in self.config.guard.metric:
            new, old = metrics.get(g.name), self.champ.metrics.get(g.name)
            if new is None or old is None or old == 0:
                continue
            change = (new - old) / abs(old)
            if g.max_increase is not None and change > g.max_increase:
                return (f"{g.name} rose {change:+.1%} (limit +{g.max_increase:.0%}): "
                        f"{old:g} -> {new:g}")
            if g.max_decrease is not None and -change > g.max_decrease:
                return (f"{g.name} fell {change:+.1%} (limit -{g.max_decrease:.0%}): "
                        f"{old:g} -> {new:g}")
        return ""

    def _keep(self, exp: Experiment, cand: Measured) -> None:
        assert exp.candidate is not None
        if self.controller.settle():  # a veto typed while it was being measured
            raise Cancelled()
        result = {"n": exp.n, "status": "keep", self.metric.name: exp.metric,
                  "metrics": exp.metrics, "samples": exp.samples,
                  "confidence": exp.confidence, "p_value": exp.p_value}
        self.champ.commit = self.git.keep(exp.candidate, exp.description, result)
        fault_point("keep")
        exp.commit = self.champion
        exp.status = Status.KEEP
        if self.bench.clock is not None:
            self.bench.clock.promote()
        samples = list(cand.values) + self.bench.top_up(exp.n, len(cand.values))
        self.champ.promote(exp, samples)
        self.s.writer.append({"type": "champion_samples", "n": exp.n,
                              "samples": self.champ.samples})


@dataclass
class _Spent:
    """Session totals for budgets and the status line, kept as experiments are recorded
    (summing the whole log per experiment grows with a night of experiments)."""

    experiments: int = 0
    duration_s: float = 0.0
    cost_usd: float = 0.0
    tokens: Tokens = field(default_factory=Tokens)

    def add(self, e: Experiment) -> None:
        self.experiments += e.status is not Status.BASELINE
        self.duration_s += e.duration_s
        self.cost_usd += e.cost_usd
        self.tokens = self.tokens + e.tokens


def _checks_note(counts: CheckCounts | None) -> str:
    if counts is None:
        return "checks pass (exit status only: no test summary recognised)"
    return f"checks pass: {counts.describe()}"

