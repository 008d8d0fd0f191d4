"""The session loop: budgets, pause, stop, the baseline, re-measuring the champion.

    baseline (calibrated) -> [ experiment -> (re-measure the champion) ] * -> end

One experiment is `Pipeline.run` (app/engine/pipeline/): propose -> snapshot -> guard ->
(review) -> intact -> measure -> decide -> outside clock -> metric guards -> checks ->
holdout -> keep, each stage returning a verdict. This module logs the record that comes
back (one place: `_record`), emits it as a copy (no mutable record crosses threads) and
decides whether the session goes on. Measuring is the bench's (app/engine/bench.py); the
champion's figures are `ChampionState`'s (app/engine/champion.py).

It emits events to a sink and obeys a `LoopController` at safe points; a veto or stop also
cancels the running command at once. Every experiment ends in exactly one log record,
written after git has stored the candidate, so a restart can always tell what happened.
"""

from __future__ import annotations

import logging
import statistics
import time

from app.engine import decide, hooks
from app.engine.agents.base import Agent
from app.engine.bench import Bench
from app.engine.budgets import Spent
from app.engine.champion import ChampionState
from app.engine.check_counts import CheckCounts
from app.engine.controller import LoopController
from app.engine.events import (
    BaselineReset,
    BudgetReached,
    DriftDetected,
    Event,
    EventSink,
    ExperimentDecided,
    ExperimentStarted,
    LoopState,
    NotesTaken,
    SessionEnded,
    StateChanged,
    WarningRaised,
    WorkerState,
)
from app.engine.executors.base import InfraError
from app.engine.faults import fault_point
from app.engine.interrupts import Cancelled, SessionOver, StopRequested, Tampered
from app.engine.loop_setup import LoopSetup
from app.engine.pipeline import Pipeline
from app.engine.records import Experiment, Status, summarize
from app.engine.scheduler import pin, slot_cpus, slot_gpus
from app.engine.stall import stall_reason
from app.engine.worker_state import WorkerTracker
from app.errors import FatalSessionError, UsageError, out_of_space

log = logging.getLogger("autoresearch")


class Loop:
    def __init__(self, setup: LoopSetup, agent: Agent, sink: EventSink,
                 controller: LoopController) -> None:
        self.setup = setup
        self.config = setup.config
        self.metric = setup.config.metric
        self.git = setup.git
        self.controller = controller
        self._sink = sink
        self.experiments = setup.experiments
        self.segment_start = setup.segment_start
        """Index in `experiments` of the current baseline's segment."""
        self.needs_new_baseline = setup.needs_new_baseline
        self.champion_state = ChampionState.from_log(self.git.champion(), self._segment(),
                                                     setup.drift_samples)
        self.bench = Bench(setup, self.champion_state, controller, self.emit)
        parallel = setup.config.parallel
        pin(self.bench, slot_cpus(1, parallel.cpus_per_slot)[0],
            slot_gpus(1, parallel.gpus_per_slot)[0])  # slot 0's cores and GPUs
        self.tracker = WorkerTracker(0, self.emit)
        """Worker 0's WorkerChanged events (the sequential loop is one worker)."""
        self.pipeline = Pipeline(setup, agent, controller, self.bench, self.champion_state,
                                 self.tracker.emit, self.experiments, self._segment)
        known = [e.n for e in self.experiments] + self.git.candidate_numbers()
        self._n = max(known) + 1 if known else 0
        """The next experiment number (numbers only grow within a launch)."""
        self.spent = Spent()
        for e in self.experiments:
            self.spent.add(e)

    @property
    def champion(self) -> str:
        return self.champion_state.commit

    # -- plumbing -------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        try:
            self._sink(event)
        except Exception:  # a broken UI must not kill the loop
            log.exception("event sink failed on %r", type(event).__name__)

    def state(self, state: LoopState, detail: str = "", n: int | None = None) -> None:
        self.emit(StateChanged(state, detail, n))

    def _segment(self) -> list[Experiment]:
        return self.experiments[self.segment_start:]

    def _next_n(self) -> int:
        n, self._n = self._n, self._n + 1
        return n

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Run until a budget, the agent or the user ends the session. Returns exit status."""
        exit_status = 0
        reason = ""
        finished = False
        try:
            self.git.reset_to(self.champion)
            standing = tuple(self.pipeline.steering.standing)
            if standing:  # restored from the log: the status line shows them
                self.emit(NotesTaken(self._n, (), standing))
            if self.controller.paused:
                self.state(LoopState.PAUSED)
                if not self.controller.wait_while_paused():
                    raise StopRequested()
            if self.needs_new_baseline or not any(
                    e.status is Status.BASELINE for e in self._segment()):
                self._baseline()
            if self.config.parallel.workers > 1:
                from app.engine.parallel import ParallelRun

                ParallelRun(self).run()  # raises what ended the workers
            while True:
                self._check_budgets()
                if self.controller.stopping:
                    raise StopRequested()
                if self.controller.paused:
                    self.pipeline.at_champion = None  # the user may edit the worktree meanwhile
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
            exit_status = self.controller.stop_status or (130 if reason == "interrupted"
                                                          else 0)
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
            if out_of_space(exc):  # pygit2 writing an object or the index: not an OSError
                raise FatalSessionError("the session stopped: the disk is full (No space left "
                                        "on device); free some space, then launch again to "
                                        "resume.") from None
            raise
        self._safe_reset()
        summary = summarize(self.git.paths.tag, self.experiments, metric_name=self.metric.name,
                            unit=self.metric.unit, direction=self.metric.direction,
                            reason=reason)
        self.setup.writer.append({"type": "session_end", "reason": reason,
                                  "finished": finished, "exit_status": exit_status})
        self.state(LoopState.DONE, reason)
        self.emit(SessionEnded(reason, summary, exit_status))
        return exit_status

    # -- the champion's samples ----------------------------------------------------------
    def _baseline(self) -> None:
        n = self._next_n()
        started = time.monotonic()
        if self.needs_new_baseline:
            self.setup.writer.append({"type": "baseline_reset", "n": n,
                                      "reason": self.needs_new_baseline})
            self.emit(BaselineReset(self.needs_new_baseline))
            self.segment_start = len(self.experiments)
        self.emit(ExperimentStarted(n, self.champion))
        try:
            calibration = self.bench.calibrate(n)
        except Cancelled:
            raise StopRequested() from None
        except InfraError as exc:
            raise FatalSessionError(f"the baseline could not be measured on the cluster "
                                    f"({exc}); launch again to retry.") from None
        except Tampered as exc:
            raise UsageError(f"on the unchanged code, {exc}; a benchmark or test that "
                             "writes into protected files cannot be trusted: make it write "
                             "elsewhere, or unprotect those paths in `[guard] unprotected`."
                             ) from None
        measured, holdout, counts = calibration.bench, calibration.holdout, calibration.checks
        self.champion_state.calibrated(measured.values, measured.medians(), holdout.values,
                                       counts, self.bench.outputs.reference)
        checks_note = _checks_note(counts) if calibration.checks_ran else ""
        metric = statistics.median(measured.values)
        noise = self.champion_state.noise
        noise_note = f"noise ±{noise:.1%}" if noise is not None else "noise unknown"
        experiment = Experiment(
            n=n, status=Status.BASELINE,
            reason=", ".join(x for x in (noise_note, checks_note) if x),
            metric=metric, metrics=dict(self.champion_state.metrics), samples=list(measured.values),
            holdout=statistics.median(holdout.values) if holdout.values else None,
            holdout_samples=list(holdout.values), commit=self.champion, candidate=self.champion,
            description="baseline", duration_s=time.monotonic() - started,
            champion_metric=metric, fingerprints=dict(self.bench.outputs.reference),
            checks=counts.to_json() if counts else None)
        if self.setup.remote is not None:
            self.setup.remote.note_node(experiment)
        self.setup.writer.append(experiment.to_json())
        self.experiments.append(experiment)
        self.spent.add(experiment)
        self.needs_new_baseline = ""
        self.emit(ExperimentDecided(experiment.copy(), self.champion, True, self.spent.tokens,
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
        except (Tampered, InfraError) as exc:
            self.emit(WarningRaised(f"re-measuring the champion: {exc}"))
            return
        if measured.failure is not None:
            self.emit(WarningRaised(f"re-measuring the champion failed: {measured.reason}"))
            return
        champion = self.champion_state
        before = statistics.median(champion.samples)
        after = statistics.median(measured.values)
        drifted = decide.drifted(champion.samples, measured.values, noise=champion.noise)
        champion.resampled(measured.values, drifted=drifted)
        if drifted:
            detail = (f"the unchanged champion now measures {after:g} (was {before:g}); later "
                      "candidates are compared with fresh samples")
            writer = self.setup.writer
            writer.append({"type": "drift", "n": n, "before": before, "after": after,
                           "samples": measured.values, "detail": detail})
            writer.append({"type": "champion_samples", "n": n, "samples": measured.values})
            self.emit(DriftDetected(n, before, after, detail))
            if not self.bench.interleave:
                self.bench.interleave = True
                self.emit(WarningRaised("the machine's speed drifted: from now on the champion "
                                        "is measured alternately with each candidate"))
        else:
            self.setup.writer.append({"type": "champion_samples", "n": n,
                                      "samples": champion.samples})

    def _safe_reset(self) -> None:
        try:
            self.git.reset_to(self.git.champion())
        except Exception:
            log.exception("could not reset the worktree to the champion")

    def _check_budgets(self) -> None:
        reason, name = self.setup.budgets.reached(self.spent)
        if reason:
            self.emit(BudgetReached(reason))
            raise SessionOver(reason, finished=name not in self.setup.budgets.from_command_line)
        stalled = stall_reason(self._segment(), self.config.session.stop_after_no_gain)
        if stalled:
            self.emit(BudgetReached(stalled, stalled=True))
            raise SessionOver(stalled)

    # -- one experiment -----------------------------------------------------------------------
    def _experiment(self, n: int) -> None:
        outcome = self.pipeline.run(n)
        self._record(outcome.record, new_best=outcome.kept)
        self.tracker.enter(WorkerState.IDLE)
        fault_point("keep-logged" if outcome.kept else "discard-logged")
        if outcome.then is not None:
            raise outcome.then

    def _record(self, experiment: Experiment, new_best: bool = False) -> None:
        """The one place an experiment's record is logged and emitted."""
        self.setup.writer.append_experiment(experiment)
        self.experiments.append(experiment)
        self.spent.add(experiment)
        self.emit(ExperimentDecided(experiment.copy(), self.champion, new_best,
                                    self.spent.tokens, self.spent.cost_usd,
                                    worker=experiment.worker))
        if self.config.hooks.after:
            self.pipeline.run_hook("after", hooks.after_payload(
                cwd=self.git.paths.worktree, entry=self.pipeline.hook_entry(experiment),
                session=self.pipeline.session_info()))
        if new_best and self.config.hooks.notify and experiment.metric is not None:
            info = self.pipeline.session_info()
            hooks.notify(self.config.hooks.notify, hooks.notify_env(
                tag=self.git.paths.tag, metric_name=self.metric.name, best=experiment.metric,
                baseline=info["baseline_metric"], n=experiment.n,
                description=experiment.description, unit=self.metric.unit),
                self.git.repo_paths.root, policy=self.setup.sandbox.policy
                if self.setup.sandbox else None)


def _checks_note(counts: CheckCounts | None) -> str:
    if counts is None:
        return "checks pass (exit status only: no test summary recognised)"
    return f"checks pass: {counts.describe()}"
