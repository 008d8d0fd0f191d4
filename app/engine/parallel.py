"""N workers at once (`[parallel] workers` > 1): the session side of parallel experiments.

    worker k (thread): [ number -> propose -> snapshot -> guard -> review -> intact
                         -> queued for a slot ─┐
    scheduler (slots):                          └> rebase onto the champion -> measure
                         -> decide -> checks -> holdout -> keep -> log ] *

Each worker has its own worktree (`WorkerGit`), its own agent and its own `Pipeline`,
running the same stages as the sequential loop plus `take_slot` before `measure`: a
candidate waits for one of `measure_slots` slots (on a Ray cluster: `[executor]
max_concurrent`, each slot one decision on a node), is re-applied onto the champion if
a keep landed meanwhile (`stale` when that no longer applies), and holds the slot until
its record is logged. So keeps are serialised, the branch stays linear, and with one slot no
two candidates are ever measured at once.

Numbers are allocated under the session's lock when a worker starts a proposal, and an
`experiment_started` record is logged at once: a restart after a kill turns every started
number without a record into `interrupted` (session.py `_recover`), so no number is lost or
duplicated. Budgets count every worker's experiments (those in flight included, for
`max_experiments`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from app.engine.bench import Bench
from app.engine.events import (
    BudgetReached,
    EventSink,
    WarningRaised,
    WorkerState,
)
from app.engine.faults import fault_point
from app.engine.interrupts import SessionOver, StopRequested
from app.engine.pipeline import Pipeline
from app.engine.pipeline import stages as stages_module
from app.engine.pipeline.experiment import Outcome
from app.engine.pipeline.stages import Stage
from app.engine.pipeline.trial import PASS, Trial, Verdict, end
from app.engine.records import Experiment, Status
from app.engine.scheduler import Scheduler, Slot
from app.engine.stall import stall_reason
from app.engine.worker_git import WorkerGit, workers_root
from app.engine.worker_state import WorkerTracker

if TYPE_CHECKING:
    from app.engine.loop import Loop

log = logging.getLogger("autoresearch")


@dataclasses.dataclass
class InFlight:
    worker: int
    n: int
    description: str = ""


class ParallelRun:
    """The workers of one launch, until a budget, the agent or the user ends them."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.setup = loop.setup
        self.config = loop.config
        parallel = self.config.parallel
        self.count = parallel.workers
        self.lock = threading.RLock()
        """Numbers, records, budgets and the in-flight table."""
        self.in_flight: dict[int, InFlight] = {}
        self.ending: BaseException | None = None
        """Why no worker starts another experiment (SessionOver, StopRequested, an
        error); raised by `run` once every worker has finished."""
        remote = self.setup.remote
        # On a cluster each slot is one decision measured on a node of its own
        # (`[executor] max_concurrent`); cores and GPUs are the nodes' to give.
        slots = parallel.measure_slots if remote is None else remote.slots(self.count)
        self.scheduler = Scheduler([loop.bench] + [self._slot_bench(i) for i in range(
            1, slots)], cpus_per_slot=parallel.cpus_per_slot if remote is None else 0,
            gpus_per_slot=parallel.gpus_per_slot if remote is None else 0)
        self.keep_lock = threading.Lock()
        """Held from the last check that a candidate sits on the champion to its logged
        record: with several slots, two keeps never race."""
        self.stale_notes: dict[int, str] = {}
        """Worker -> what its agent is told in its next prompt (its candidate went stale)."""

    def _slot_bench(self, index: int) -> Bench:
        from app.engine.gitops import MeasurementTree
        from app.engine.session import prepare_slot_tree

        # On a cluster the slot's commands run on nodes: no tree here, its own plan there.
        tree: MeasurementTree | None = None if self.setup.remote is not None else \
            prepare_slot_tree(self.setup, index)
        setup = dataclasses.replace(self.setup, tree=tree, remote=self.setup.remote.for_slot()
                                    if self.setup.remote is not None else None)
        bench = Bench(setup, self.loop.champion_state, self.loop.controller, self.loop.emit)
        bench.interleave = self.loop.bench.interleave
        return bench

    # -- the session side -------------------------------------------------------------------
    def run(self) -> None:
        """Run the workers to the end; raises what ended them (SessionOver/StopRequested)."""
        workers = [Worker(self, k) for k in range(1, self.count + 1)]
        try:
            for worker in workers:
                worker.prepare()
            threads = [threading.Thread(target=w.run, name=f"autoresearch-w{w.worker}",
                                        daemon=True) for w in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            for worker in workers:
                worker.cleanup()
            root = workers_root(self.setup.git.repo_paths, self.setup.git.paths.tag)
            for folder in (root, root.parent):
                try:
                    folder.rmdir()
                except OSError:
                    break
        if self.ending is not None:
            raise self.ending

    def end(self, why: BaseException) -> None:
        """No worker starts another experiment; the first reason wins."""
        with self.lock:
            if self.ending is None:
                self.ending = why

    def allocate(self, worker: Worker) -> int | None:
        """The next experiment number for `worker`, logged as started; None when the
        session is ending (a budget, a stop, the agent out of ideas)."""
        loop = self.loop
        with self.lock:
            if self.ending is not None:
                return None
            if loop.controller.stopping:
                self.end(StopRequested())
                return None
            spent = dataclasses.replace(loop.spent, experiments=loop.spent.experiments
                                        + len(self.in_flight))
            reason, name = self.setup.budgets.reached(spent)
            if reason:
                # in flight ones count: stop starting new ones; the session ends when the
                # last worker is done (BudgetReached once, like the sequential loop)
                self.end(SessionOver(reason, finished=name not in
                                     self.setup.budgets.from_command_line))
                loop.emit(BudgetReached(reason))
                return None
            stalled = stall_reason(loop._segment(), self.config.session.stop_after_no_gain)
            if stalled:
                self.end(SessionOver(stalled))
                loop.emit(BudgetReached(stalled))
                return None
            reserve = getattr(worker.agent, "reserve", None)
            if reserve is not None and not reserve(self.used_sources()):
                self.end(SessionOver("the scripted patches ran out"))
                return None
            n = loop._next_n()
            self.setup.writer.append({"type": "experiment_started", "n": n,
                                      "worker": worker.worker})
            self.in_flight[n] = InFlight(worker.worker, n)
            return n

    def used_sources(self) -> frozenset[str]:
        return frozenset(e.source for e in self.loop.experiments if e.source)

    def others(self, worker: int) -> str:
        """What the other workers are trying right now (for this worker's prompt)."""
        with self.lock:
            lines = [f"- #{f.n} (worker {f.worker}): {f.description or 'still proposing'}"
                     for f in sorted(self.in_flight.values(), key=lambda f: f.n)
                     if f.worker != worker]
        if not lines:
            return ""
        return "\n".join(["## Other workers, right now (each in its own copy of the code; "
                          "try something different from them)", *lines])

    def described(self, n: int, description: str) -> None:
        with self.lock:
            if n in self.in_flight:
                self.in_flight[n].description = description

    def record(self, outcome: Outcome) -> None:
        """Log and emit a finished experiment (the loop's one place), under the lock."""
        with self.lock:
            self.in_flight.pop(outcome.record.n, None)
            self.loop._record(outcome.record, new_best=outcome.kept)
            fault_point("keep-logged" if outcome.kept else "discard-logged")

    def slot_stage(self) -> Stage:
        """`take_slot`: the stage before `measure` (see the module docstring)."""

        def take_slot(p: Pipeline, trial: Trial) -> Verdict:
            worker: Worker = p.parallel
            return worker.take_slot(p, trial)

        take_slot.__name__ = "take_slot"
        return take_slot

    def settle_stage(self) -> Stage:
        """`on_champion`: the stage before `keep` (see `Worker.on_champion`)."""

        def on_champion(p: Pipeline, trial: Trial) -> Verdict:
            worker: Worker = p.parallel
            return worker.on_champion(p, trial)

        on_champion.__name__ = "on_champion"
        return on_champion


class Worker:
    """One worker: its worktree, agent, pipeline and thread."""

    def __init__(self, run: ParallelRun, worker: int) -> None:
        self.run_ = run
        self.worker = worker
        loop = run.loop
        setup = run.setup
        self.git = WorkerGit(setup.git.repo_paths, setup.git.paths, worker)
        self.git.linked = set(setup.git.linked)
        self.tracker = WorkerTracker(worker, loop.emit)
        self.controller = loop.controller.for_worker(worker)
        self.agent = _agent_for(loop.pipeline.agent, worker)
        stages = list(stages_module.STAGES)
        self.take_slot_stage = run.slot_stage()
        stages.insert(stages.index(stages_module.measure), self.take_slot_stage)
        stages.insert(stages.index(stages_module.keep), run.settle_stage())
        self.pipeline = Pipeline(dataclasses.replace(setup, git=self.git), self.agent,
                                 self.controller, loop.bench, loop.champion_state,
                                 self.tracker.emit, loop.experiments, loop._segment,
                                 stages=tuple(stages))
        self.pipeline.worker = worker
        self.pipeline.parallel = self
        self.pipeline.steering = loop.pipeline.steering
        self.pipeline.duplicates = loop.pipeline.duplicates
        self.slot: Slot | None = None
        self.keeping = False
        """Holds `run.keep_lock` (released once the record is logged)."""

    def prepare(self) -> None:
        self.git.ensure_worktree()
        from app.engine.session import link_paths

        link_paths(self.run_.config, self.git.repo_paths.root, self.git.paths.worktree)

    def cleanup(self) -> None:
        try:
            self.git.remove_worktree()
        except Exception:  # noqa: BLE001 - the session's end must not fail on a leftover
            log.exception("could not remove worker %d's worktree", self.worker)

    # -- the worker's thread ----------------------------------------------------------------
    def run(self) -> None:
        run, tracker = self.run_, self.tracker
        tracker.enter(WorkerState.IDLE)
        try:
            while True:
                if run.loop.controller.paused and run.ending is None:
                    tracker.enter(WorkerState.IDLE)
                    if not run.loop.controller.wait_while_paused():
                        run.end(StopRequested())
                        break
                n = run.allocate(self)
                if n is None:
                    break
                self._experiment(n)
        except BaseException as exc:  # noqa: BLE001 - handed to the session's thread
            log.exception("worker %d failed", self.worker)
            run.end(exc)
            run.loop.controller.stop("stopped: a worker failed")
        finally:
            self._give_back()
            tracker.enter(WorkerState.STOPPED)

    def _experiment(self, n: int) -> None:
        run = self.run_
        stale = run.stale_notes.pop(self.worker, "")
        self.pipeline.extra_notes = stale
        self.pipeline.others = lambda: run.others(self.worker)
        try:
            outcome = self.pipeline.run(n)
        except SessionOver as over:  # the agent has nothing more to try (no record)
            with run.lock:
                run.in_flight.pop(n, None)
            run.end(over)
            return
        record = outcome.record
        if self.slot is not None:
            record = dataclasses.replace(record, measured_to=time.time())
        if record.status is Status.STALE:
            run.stale_notes[self.worker] = (
                f"Your last proposal (#{record.n}, {record.description!r}) went stale: "
                f"{record.reason}. Start again from the new champion.")
        try:
            run.record(Outcome(record, outcome.then))
            if self.slot is not None and self.slot.index == 0:
                run.loop._maybe_remeasure()
        finally:
            self._give_back()
        self.tracker.enter(WorkerState.IDLE)
        if outcome.then is not None:
            if isinstance(outcome.then, StopRequested):
                run.loop.controller.stop(run.loop.controller.stop_reason or "stopped")
            run.end(outcome.then)

    def _give_back(self) -> None:
        if self.keeping:
            self.keeping = False
            self.run_.keep_lock.release()
        if self.slot is not None:
            self.run_.scheduler.release(self.slot)
            self.run_.loop.controller.measuring(self.worker, False)
            self.slot = None

    def take_slot(self, p: Pipeline, trial: Trial) -> Verdict:
        """Wait for a measurement slot, then put the candidate on the current champion."""
        run, facts = self.run_, trial.facts
        run.described(trial.n, facts.description)
        if self.slot is None:  # (held already when measured again after a lost node)
            self.slot = run.scheduler.acquire(
                self.worker, self.controller.cancel,
                on_queued=lambda: self.tracker.enter(WorkerState.QUEUED, trial.n))
            facts.measured_from = time.time()
        slot = self.slot
        facts.slot = slot.index
        run.loop.controller.measuring(self.worker, True)
        bench = slot.bench
        bench.emit, bench.controller = self.tracker.emit, self.controller
        p.bench = bench
        self.tracker.enter(WorkerState.MEASURING, trial.n)
        return self._onto_champion(p, trial)

    def on_champion(self, p: Pipeline, trial: Trial) -> Verdict:
        """Before a keep: the keep lock, and the candidate still on the champion. With
        several slots another keep may have landed while it was measured: then it is
        re-applied and measured again against the new champion."""
        self.run_.keep_lock.acquire()
        self.keeping = True
        if trial.facts.parent == self.git.champion():
            return PASS
        self.keeping = False
        self.run_.keep_lock.release()
        verdict = self._onto_champion(p, trial)
        if not verdict.passed:
            return verdict
        return p._stages(trial, after=self.take_slot_stage)

    def _onto_champion(self, p: Pipeline, trial: Trial) -> Verdict:
        run, facts = self.run_, trial.facts
        champion = self.git.champion()
        p.champion.commit = champion
        if facts.parent == champion:
            return PASS
        rebased = self.git.rebase(trial.n, trial.candidate, champion)
        if rebased.commit is None:
            moved = _keeps_since(run.loop.experiments, facts.parent, champion)
            by = ", ".join(f"#{e.n} ({e.description})" for e in moved) or "another keep"
            return end(Status.STALE, f"the champion moved ({by}) while it waited and its "
                                     f"change no longer applies: {rebased.problem}")
        assert trial.snapshot is not None
        trial.snapshot.commit = rebased.commit
        facts.commit = facts.candidate = rebased.commit
        facts.parent = champion
        facts.champion_metric = p.champion.median
        facts.champion_samples = list(p.champion.samples)
        trial.notes = [f"re-applied onto the champion {champion[:7]}"]  # measured anew
        return PASS


def _keeps_since(records: list[Experiment], parent: str | None,
                 champion: str) -> list[Experiment]:
    """The keeps that moved the champion from `parent` to `champion`, oldest first."""
    by_commit = {e.commit: e for e in records if e.status is Status.KEEP and e.commit}
    out: list[Experiment] = []
    commit: str | None = champion
    while commit and commit != parent and commit in by_commit and len(out) < 1000:
        out.append(by_commit[commit])
        commit = by_commit[commit].parent
    return out[::-1]


def _agent_for(agent: Any, worker: int) -> Any:
    """Worker `worker`'s own agent instance (`for_worker`), else the shared one."""
    make = getattr(agent, "for_worker", None)
    return make(worker) if make is not None else agent


def workers_of(experiments: list[Experiment]) -> dict[int, dict[str, int]]:
    """Per-worker counts of statuses (the summary's per-worker figures)."""
    out: dict[int, dict[str, int]] = {}
    for e in experiments:
        if e.status is Status.BASELINE:
            continue
        counts = out.setdefault(e.worker, {})
        counts[str(e.status)] = counts.get(str(e.status), 0) + 1
    return out


__all__ = ["EventSink", "ParallelRun", "WarningRaised", "Worker", "workers_of"]
