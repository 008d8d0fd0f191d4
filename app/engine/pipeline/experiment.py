"""One experiment from start to end: `Pipeline.run` passes a trial through `STAGES` and
returns its record, decided in one place.

What the stages share lives on `Pipeline`: the session's setup, the agent, the
controller, the bench and the champion, plus the hooks' plumbing. The session loop
(app/engine/loop.py) owns the pipeline, logs the record it returns and emits it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.engine import hooks
from app.engine.agents.base import Agent, AgentsExhausted
from app.engine.bench import Bench
from app.engine.champion import ChampionState
from app.engine.controller import Control
from app.engine.duplicates import DuplicateFinder
from app.engine.events import Event, ExperimentStarted, LoopState, StateChanged, WarningRaised
from app.engine.executors.base import HeadLost, InfraError
from app.engine.faults import fault_point
from app.engine.interrupts import Cancelled, SessionOver, StopRequested, Tampered
from app.engine.pipeline import stages as stages_module
from app.engine.pipeline.stages import Stage
from app.engine.pipeline.trial import Trial, Verdict, end
from app.engine.records import Experiment, Status
from app.engine.steering import Steering
from app.engine.tree_rules import TreeRules

if TYPE_CHECKING:
    from app.engine.loop_setup import LoopSetup

STOPPED = "stopped by the user"


@dataclass(frozen=True)
class Outcome:
    """What one experiment left: its record, and what the session must do next."""

    record: Experiment
    then: BaseException | None = None
    """Raise this once the record is logged (a stop, or the end of the session)."""

    @property
    def kept(self) -> bool:
        return self.record.status is Status.KEEP


class Pipeline:
    def __init__(self, setup: LoopSetup, agent: Agent, controller: Control,
                 bench: Bench, champion: ChampionState, emit: Callable[[Event], None],
                 history: list[Experiment], segment: Callable[[], list[Experiment]],
                 stages: tuple[Stage, ...] | None = None) -> None:
        self.setup = setup
        self.config = setup.config
        self.metric = setup.config.metric
        self.git = setup.git
        self.agent = agent
        self.controller = controller
        self.bench = bench
        self.champion = champion
        self.emit = emit
        self.history = history
        """The session's records so far, oldest first (the loop appends to it)."""
        self.segment = segment
        """The records since the current baseline."""
        self.stages = stages if stages is not None else stages_module.STAGES
        """The gates in order (app/engine/pipeline/stages.py)."""
        self.agent_errors = 0
        """Consecutive agent errors (a pause or the session's end after too many)."""
        self.steering = Steering.from_log(setup.instructions)
        """The user's standing notes; new notes wait in the inbox (steering.py)."""
        self.duplicates = DuplicateFinder(self.git.change_key)
        """Candidates already measured on the champion (app/engine/duplicates.py)."""
        cfg = setup.config
        self.tree_rules = TreeRules(setup.guard, (cfg.metric.command, cfg.checks.command,
                                                  cfg.holdout.command), setup.tracked)
        """What a candidate's commit may not hold (app/engine/tree_rules.py)."""
        self.worker = 0
        """The worker this pipeline is (0: the sequential loop; app/engine/parallel.py)."""
        self.parallel: Any = None
        """The worker object when workers > 1 (its `take_slot` stage reads it)."""
        self.extra_notes = ""
        """Told to the agent in its next prompt (a parallel worker's stale candidate)."""
        self.others: Callable[[], str] = lambda: ""
        """What the other workers are trying right now, for the prompt ('' if alone)."""
        self.at_champion: tuple[str, int] | None = None
        """(champion commit, bench runs) when the worktree was reset to that commit and
        nothing ran since (no command, no agent, no pause): the next experiment need not
        reset it again."""

    def state(self, state: LoopState, detail: str = "", n: int | None = None) -> None:
        self.emit(StateChanged(state, detail, n))

    # -- one experiment ---------------------------------------------------------------------
    def run(self, n: int) -> Outcome:
        """Experiment `n` from the champion to its record. Raises SessionOver (no record)
        when the agent has nothing more to try."""
        self.controller.begin_experiment()
        self.champion.commit = self.git.champion()
        champion = self.champion.commit
        # The agent starts from exactly the champion: outputs of earlier measurements
        # (baseline, re-measurements) must not leak into this candidate.
        if self.at_champion != (champion, self.bench.runs):
            self.git.forget_clean()  # a keep, a pause: not only commands may have written it
            self.git.reset_to(champion)
        self.at_champion = None
        self.git.forget_clean()  # the agent works in it from here to the snapshot
        self.emit(ExperimentStarted(n, champion))
        trial = Trial(n, Experiment(n=n, status=Status.DISCARD, parent=champion,
                                    worker=self.worker,
                                    champion_metric=self.champion.median,
                                    champion_samples=list(self.champion.samples)))
        then: BaseException | None = None
        try:
            try:
                verdict = self._stages(trial)
            except InfraError as exc:  # a node was lost: measured once more, elsewhere
                if self.setup.remote is None or isinstance(exc, HeadLost):
                    raise  # (a lost head: nowhere else to measure; the session stops)
                self.setup.remote.unpin(n)
                self.emit(WarningRaised(f"#{n}: {exc}; measuring it again on another node"))
                self.setup.remote.wait_for_cluster(n, self.controller, self.emit)
                verdict = self._stages(trial, after=stages_module.intact)
            then = trial.then
        except Cancelled:
            veto = self.controller.take_veto()
            if self.controller.stopping or veto is None:
                verdict, then = end(Status.INTERRUPTED, STOPPED), StopRequested()
            else:
                trial.facts.veto_reason = veto
                verdict = end(Status.VETOED, f"vetoed: {veto}" if veto else "vetoed by the user")
        except Tampered as exc:
            verdict = end(Status.REJECTED, str(exc))
        except InfraError as exc:  # not the code's fault: not a discard, not an agent error
            verdict = end(Status.INFRA_ERROR, str(exc))
        except StopRequested as exc:
            verdict, then = end(Status.INTERRUPTED, STOPPED), exc
        except AgentsExhausted as exc:
            self.git.reset_to(champion)
            raise SessionOver(str(exc) or "the agent has nothing more to try") from None
        if verdict.status not in (Status.KEEP, Status.INTERRUPTED, Status.VETOED) and \
                self.controller.settle():
            veto = self.controller.take_veto() or ""  # vetoed while the dialog was open
            trial.facts.veto_reason = veto
            verdict = end(Status.VETOED, f"vetoed: {veto}" if veto else "vetoed by the user",
                          verdict.output_tail)
        record = trial.settle(verdict)
        if self.setup.remote is not None:
            self.setup.remote.note_node(record)
        if record.status is not Status.KEEP:
            fault_point("discard")
            self.git.reset_to(self.champion.commit)
            self.at_champion = (self.champion.commit, self.bench.runs)
        return Outcome(record, then)

    def _stages(self, trial: Trial, after: Stage | None = None) -> Verdict:
        """The gates in order (those up to `after` skipped: they passed already)."""
        start = self.stages.index(after) + 1 if after in self.stages else 0
        for stage in self.stages[start:]:
            verdict = stage(self, trial)
            if not verdict.passed:
                return verdict
        raise AssertionError("the last stage (keep) always decides")

    # -- what stages and the loop share -----------------------------------------------------
    def baseline_metric(self) -> float | None:
        return next((e.metric for e in self.segment() if e.status is Status.BASELINE), None)

    def session_info(self) -> dict[str, Any]:
        segment = self.segment()
        baseline = self.baseline_metric()
        best = next((e.metric for e in reversed(segment) if e.status is Status.KEEP), baseline)
        return hooks.session_info(
            tag=self.git.paths.tag, metric_name=self.metric.name, unit=self.metric.unit,
            direction=self.metric.direction, baseline=baseline, best=best,
            run_count=len(self.history), goal="")

    @staticmethod
    def hook_entry(e: Experiment) -> dict[str, Any]:
        return hooks.run_entry(n=e.n, status=str(e.status), metric=e.metric,
                               description=e.description, hypothesis=e.hypothesis,
                               learned=e.learned, reason=e.reason, metrics=e.metrics,
                               commit=e.commit, confidence=e.confidence)

    def run_hook(self, which: str, payload: dict[str, Any]) -> str:
        command = getattr(self.config.hooks, which)
        if not command:
            return ""
        sandbox = self.setup.sandbox
        result = hooks.run_hook(command, payload, self.git.paths.worktree,
                                repo_root=self.git.repo_paths.root,
                                isolation=sandbox.hook(self.git.paths.worktree)
                                if sandbox else None,
                                policy=sandbox.policy if sandbox else None)
        if result.error:
            self.emit(WarningRaised(f"the {which} hook failed: {result.error}"))
        return result.stdout
