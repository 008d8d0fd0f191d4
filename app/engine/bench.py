"""The bench: every measured command the loop runs, and how samples are gathered.

One run (`run`): the measurement tree is reset to the commit being measured, the command
runs in the session's sandbox, its output is stored, and the tree is verified afterwards
(protected files as committed, nothing new where a protected file would be). One sample
(`once`): a benchmark run whose results must match the reference fingerprint before its
number is parsed. On top of that, the ways samples are gathered:

- `calibrate`: the baseline (calibration runs, checks, held-out runs on the champion);
- `compare`: a candidate's samples, adaptively (more looks while the keep rule says
  "more"), alternating with the champion's when `interleave` is on;
- `holdout`: candidate and champion alternate on the held-out benchmark;
- `top_up`: fresh runs of a new champion (its own samples were selected for looking good);
- `remeasure`: the unchanged champion again, to see whether the machine drifted;
- `champion_runs`: a few fresh champion runs (the outside clock's confirmation).

The bench judges nothing: it returns samples (`Measured`) and the stages decide.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from app.engine import decide, formats, outside_clock
from app.engine.champion import ChampionState
from app.engine.check_counts import CheckCounts, parse_check_counts
from app.engine.controller import Control
from app.engine.events import (
    Event,
    LoopState,
    OutputLines,
    SampleMeasured,
    StateChanged,
    WarningRaised,
)
from app.engine.executors.base import InfraError
from app.engine.faults import fault_point
from app.engine.fingerprints import OutputFingerprints
from app.engine.guard import changed_fingerprint, written_where_protected
from app.engine.interrupts import Cancelled, Tampered
from app.engine.process import CommandResult, output_clause, run_command
from app.engine.records import Status
from app.engine.tree_rules import RunnerFilesAbove
from app.errors import UsageError

if TYPE_CHECKING:
    from app.engine.loop_setup import LoopSetup


NO_TESTS = re.compile(r"^no tests ran\b|^collected 0 items|^No tests found|^# tests 0$",
                      re.MULTILINE)
"""A test runner that found nothing to run (pytest exits 5, node --test and jest say so)."""


@dataclass
class Measured:
    """Samples of one command over one or more runs."""

    values: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)
    within: list[list[float]] = field(default_factory=list)
    """Each run's within-process samples (a tool's rounds; [] for METRIC lines)."""
    failure: Status | None = None
    reason: str = ""
    output_tail: str = ""

    def medians(self) -> dict[str, float]:
        names = {k for m in self.metrics for k in m}
        return {k: statistics.median([m[k] for m in self.metrics if k in m]) for k in
                sorted(names)}


@dataclass
class Calibration:
    """The baseline's measurements on the unchanged champion."""

    bench: Measured
    holdout: Measured
    checks: CheckCounts | None
    checks_ran: bool


@dataclass
class Comparison:
    """A candidate measured against the champion (`compare`)."""

    candidate: Measured
    champion: list[float]
    """The champion samples the rule compared with (fresh ones when interleaved)."""
    decision: decide.Decision | None = None
    """None when a run failed (then `failure` says how)."""
    failure: Status | None = None
    reason: str = ""
    output_tail: str = ""


@dataclass
class HeldOut:
    """Candidate and champion, alternately, on the held-out benchmark."""

    candidate: Measured
    champion: Measured
    runs: int
    """The pairs measured (or begun: the candidate's run of the last one may have failed)."""
    decision: decide.HeldOutDecision | None = None
    """The rule's last answer; None when a run failed and the runs are not whole pairs."""


HeldOutRule = Callable[[Measured, Measured, int, int], decide.HeldOutDecision]
"""(the candidate's held-out runs, the champion's paired with them, look, max looks) ->
the held-out rule's answer (decide.held_out_regression)."""


Rule = Callable[[Measured, list[float], int, int], decide.Decision]
"""(the candidate's runs, champion samples, look, max looks) -> the keep rule's decision."""

P = ParamSpec("P")
R = TypeVar("R")


def _plan_ends(method: Callable[Concatenate[Bench, P], R]) -> Callable[Concatenate[Bench, P], R]:
    """On a cluster, what `method` planned (`Bench._plan`) and did not use is cancelled on
    the node when it returns or raises (a failure, or the rule decided early)."""
    def wrapper(self: Bench, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        finally:
            if self.s.remote is not None:
                self.s.remote.end_plan()
    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


class Bench:
    def __init__(self, setup: LoopSetup, champion: ChampionState, controller: Control,
                 emit: Callable[[Event], None]) -> None:
        self.s = setup
        self.config = setup.config
        self.metric = setup.config.metric
        self.git = setup.git
        self.champion = champion
        self.controller = controller
        self.emit = emit
        """Swapped to the slot holder's by the scheduler when workers > 1."""
        self.env: dict[str, str] = {}
        """Variables set for every measured command (a slot's CUDA_VISIBLE_DEVICES)."""
        self.cpus: tuple[int, ...] = ()
        """Cores measured commands are pinned to (a slot's `cpus_per_slot`)."""
        self.measuring = ""
        """The commit the next measured command runs on (the measurement tree is reset to
        it before every run)."""
        self.runs = 0
        """Commands run so far: a run may leave files in the agent's worktree, so the loop
        resets it before the next experiment unless this count is unchanged."""
        self.interleave = setup.config.metric.interleave or setup.drifted \
            or setup.remote is not None  # on a cluster: champion and candidate on one node
        """Alternate champion and candidate runs: configured, or forced on once the machine
        was seen to drift (samples of the champion measured earlier are then stale, and no
        keep rule can be trusted on them: benchmarks/decision_quality.py)."""
        self.outputs = OutputFingerprints(required=setup.config.metric.fingerprint)
        """The results the champion's benchmark prints (`FINGERPRINT` lines)."""
        self.outputs.reference = dict(champion.fingerprints)
        self.clock = outside_clock.OutsideClock(
            outside_clock.metric_seconds_per_unit(setup.config.metric) or 1.0,
            setup.config.guard.outside_clock_fraction) \
            if outside_clock.enabled(setup.config) else None
        """The harness's own wall and CPU time of benchmark runs (time metrics only)."""
        self._in_baseline = False
        self._tree_fingerprint: dict[str, str] | None = None
        self._above: RunnerFilesAbove | None = None

    def state(self, state: LoopState, detail: str = "", n: int | None = None) -> None:
        self.emit(StateChanged(state, detail, n))

    def _plan(self, n: int, runs: list[tuple[str, str, bool]]) -> None:
        """On a cluster: the runs about to be made ((commit, run name, held-out?) each),
        sent to one node as one task (app/engine/executors/remote_bench.py); here: nothing."""
        if self.s.remote is None:
            return
        holdout = self.config.holdout
        self.s.remote.plan(n, [
            (commit, name, holdout.command or "", holdout.timeout_s) if held else
            (commit, name, self.config.checks.command or "", self.config.checks.timeout_s)
            if name == "checks" else (commit, name, self.metric.command, self.metric.timeout_s)
            for commit, name, held in runs], cancel=self.controller.cancel)

    # -- one run ----------------------------------------------------------------------------
    def run(self, n: int, source: str, name: str, command: str, timeout_s: float,
            writable: tuple[Path, ...] = (), output: Path | None = None) -> CommandResult:
        """One measured command (benchmark, checks, held-out benchmark) in the clean room."""
        self.runs += 1  # a command may leave files behind
        if self.s.remote is not None:  # on a cluster node (one node per experiment)
            remote = self.s.remote.run(n, self.measuring or self.champion.commit, name,
                                       command, timeout_s, output=output,
                                       cancel=self.controller.cancel)
            self._store_output(n, name, remote.result)
            tampered = sorted(set(remote.changed) | {
                p for p in remote.left if written_where_protected(self.s.guard, p)})
            if tampered:
                raise Tampered(f"the {source} run changed protected files: "
                               f"{', '.join(tampered[:5])}")
            result: CommandResult = remote.result
            return result

        def on_lines(lines: list[str]) -> None:
            self.emit(OutputLines(n, source, tuple(lines)))

        sandbox = self.s.sandbox
        cwd = self.git.paths.worktree
        tree = self.s.tree
        if tree is not None:
            commit = self.measuring or self.champion.commit
            tree.prepare(commit)
            cwd = tree.path
            if tree.setup_outputs is not None:  # `[session] setup` again if its inputs differ
                failed = tree.setup_outputs.ensure(commit, on_lines)
                if failed is not None:
                    self._store_output(n, name, failed)
                    return failed
            if self._tree_fingerprint is None:
                self._tree_fingerprint = self.s.guard.fingerprint(cwd, self.s.tracked)
            self._check_above(cwd, source)
        result = run_command(command, cwd, timeout_s, on_lines=on_lines,
                             cancel=self.controller.cancel, env=self.env or None,
                             cpus=self.cpus,
                             isolation=sandbox.measure(cwd, read_only=[
                                 cwd / p for p in tree.kept] if tree else (),
                                 writable=writable)
                             if sandbox else None,
                             policy=sandbox.policy if sandbox else None)
        self._store_output(n, name, result)
        if tree is not None and self._tree_fingerprint is not None:
            self._verify_tree(source)
        return result

    def _check_above(self, tree: Path, source: str) -> None:
        """No test-runner configuration appeared or changed above the measurement tree
        since the session's first launch (app/engine/tree_rules.py)."""
        if self._above is None:
            self._above = RunnerFilesAbove(tree, self.git.paths.state_dir / "above-tree.json",
                                           self.git.repo_paths.root)
        changed = self._above.changed()
        if changed:
            raise Tampered(f"before the {source} run: test-runner configuration changed "
                           f"above the measurement tree: {', '.join(changed[:3])} (remove "
                           "it, or start a new session if you made it)")

    def checks(self, n: int) -> CommandResult:
        """The checks, once (raises Cancelled on a veto or stop)."""
        assert self.config.checks.command, "only called when checks are configured"
        result = self.run(n, "checks", "checks", self.config.checks.command,
                          self.config.checks.timeout_s)
        if result.cancelled:
            raise Cancelled()
        return result

    def _store_output(self, n: int, name: str, result: CommandResult) -> None:
        folder = self.s.runs_dir / str(n)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            header = (f"$ {result.command}\n# exit={result.exit_code} "
                      f"duration={result.duration_s:.3f}s bytes={result.output_bytes}"
                      f"{' timed-out' if result.timed_out else ''}\n")
            # Never over another run's log: the confirmation, the new champion's top-up
            # and the outside clock's fresh pairs count their runs from 1 again.
            path, again = folder / f"{name}.log", 1
            while path.exists():
                again += 1
                path = folder / f"{name}.{again}.log"
            path.write_text(header + result.output, encoding="utf-8")
        except OSError as exc:
            self.emit(WarningRaised(f"could not store the output of {name}: {exc}"))

    def _verify_tree(self, source: str) -> None:
        """After every run: protected files exactly as committed, and no new file where a
        protected one would be (a conftest.py, a test); then the tree is clean again."""
        tree = self.s.tree
        assert tree is not None and self._tree_fingerprint is not None
        changed = set(changed_fingerprint(self._tree_fingerprint,
                                          self.s.guard.fingerprint(tree.path, self.s.tracked)))
        left = tree.reset(tree.commit or self.measuring or self.champion.commit)
        changed |= {p for p in left if written_where_protected(self.s.guard, p)}
        if changed:
            raise Tampered(f"the {source} run changed protected files: "
                           f"{', '.join(sorted(changed)[:5])}")

    # -- one sample -------------------------------------------------------------------------
    def once(self, n: int, role: str, index: int, planned: int, into: Measured,
             *, holdout: bool = False) -> bool:
        """One benchmark run; appends to `into`. False (with into.failure set) on failure."""
        if holdout:
            command, timeout = self.config.holdout.command or "", self.config.holdout.timeout_s
            source = "holdout"
            name = f"holdout-{'champion-' if role == 'champion' else ''}{index + 1}"
        else:
            command, timeout = self.metric.command, self.metric.timeout_s
            source = "bench"
            name = f"{'champion' if role == 'champion' else 'bench'}-{index + 1}"
        fault_point("holdout" if holdout else "baseline" if role == "calibration" else
                    "remeasure" if role == "champion" else "measure")
        with formats.output_file(command) as (command, output):
            result = self.run(n, source, name, command, timeout,
                              (output.parent,) if output is not None else (), output)
            if result.cancelled:
                raise Cancelled()
            if not result.ok:
                into.failure = Status.TIMEOUT if result.timed_out else Status.CRASH
                what = "held-out benchmark" if holdout else "benchmark"
                into.reason = f"{what} {result.failure()}"
                into.output_tail = result.output_tail
                return False
            # Same results before any timing is trusted (app/engine/fingerprints.py).
            same = self.outputs.check(result.stdout, holdout=holdout,
                                      unchanged=self._in_baseline
                                      or role in ("calibration", "champion"))
            if not same.ok:
                into.failure = Status.CRASH if same.missing or same.unstable \
                    else Status.CHECKS_FAILED
                into.reason, into.output_tail = same.reason, result.output_tail
                return False
            parsed = formats.read_run(self.metric, result.stdout, output, lines_only=holdout)
        if parsed.value is None:
            into.failure = Status.CRASH
            into.reason = f"{'held-out benchmark' if holdout else 'benchmark'} {parsed.error}"
            into.output_tail = result.output_tail
            return False
        into.values.append(parsed.value)
        into.metrics.append(parsed.metrics)
        into.within.append(list(getattr(parsed, "samples", [])))
        if self.clock is not None and not holdout:
            self.clock.note(n, role, parsed.value, result.wall_s, result.cpu_s)
        self.emit(SampleMeasured(n, role, index, parsed.value, parsed.metrics, planned))
        return True

    # -- where the commands run -------------------------------------------------------------
    def to_champion(self) -> None:
        self.measuring = self.champion.commit
        if self.s.tree is None and self.s.remote is None:
            self.git.reset_to(self.champion.commit)

    def to_candidate(self, candidate: str) -> None:
        """Back to the candidate after champion runs in between."""
        if self.s.tree is not None or self.s.remote is not None:
            self.measuring = candidate  # the agent's worktree still holds the candidate
        else:
            self.git.restore_candidate(candidate, self.champion.commit)

    # -- ways of gathering samples ----------------------------------------------------------
    @_plan_ends
    def calibrate(self, n: int) -> Calibration:
        """The baseline: calibration runs, the checks and the held-out benchmark on the
        unchanged champion. Raises UsageError when one of them fails there."""
        runs = self.metric.calibration_runs
        self.measuring = champ = self.champion.commit
        self._plan(n, [(champ, f"bench-{i + 1}", False) for i in range(runs)]
                   + [(champ, "checks", False)] * bool(self.config.checks.command)
                   + [(champ, f"holdout-{i + 1}", True) for i in range(runs)
                      if self.config.holdout.command])
        measured = Measured()
        self.outputs.reset()
        if self.clock is not None:
            self.clock.reset()
        self._in_baseline = True
        try:
            for i in range(runs):
                self.state(LoopState.CALIBRATING, f"{i + 1} of {runs}", n)
                if not self.once(n, "calibration", i, runs, measured):
                    fix = ("`metric.name` to one of the names it prints, or `metric.command`"
                           if "no METRIC line named" in measured.reason else
                           f"`metric.timeout_s` ({self.metric.timeout_s:g} s), or make one "
                           "run shorter" if "timed out" in measured.reason else
                           "`metric.command` so that it prints a number")
                    raise UsageError(
                        f"the benchmark fails on the unchanged code ({measured.reason}); fix "
                        f"{fix}.{output_clause(measured.output_tail)}")
            counts = None
            if self.config.checks.command:
                self.state(LoopState.CHECKS, "on the baseline", n)
                result = self.checks(n)
                if not result.ok:
                    fix = (f"fix `checks.timeout_s` ({self.config.checks.timeout_s:g} s) "
                           "first" if result.timed_out else
                           "`checks.command` found no tests: point it at them, or remove "
                           "[checks] to run none" if NO_TESTS.search(result.output) else
                           "fix the tests or `checks.command` first")
                    raise UsageError(
                        f"the checks fail on the unchanged code ({result.failure()}); "
                        f"{fix}.{output_clause(result.output_tail)}")
                counts = parse_check_counts(result.output)
            holdout = Measured()
            if self.config.holdout.command:
                for i in range(runs):
                    self.state(LoopState.HOLDOUT, f"{i + 1} of {runs}", n)
                    if not self.once(n, "holdout", i, runs, holdout, holdout=True):
                        raise UsageError(
                            f"the held-out benchmark fails on the unchanged code "
                            f"({holdout.reason}); fix `holdout.command`"
                            f"{' or `holdout.timeout_s`' if 'timed out' in holdout.reason else ''}"
                            f".{output_clause(holdout.output_tail)}")
        finally:
            self._in_baseline = False
        return Calibration(measured, holdout, counts, bool(self.config.checks.command))

    @_plan_ends
    def compare(self, n: int, candidate: str, rule: Rule) -> Comparison:
        """The candidate's samples, `repeats` at first and then one more per look while
        the rule says "more"; with `interleave`, each candidate run is paired with a fresh
        champion run, champion first in even pairs and last in odd ones
        (decide.champion_first: samples compared pairwise in time); without it, every run
        after the first `repeats` is (decide.fresh_champion_run: both sides grow while the
        answer is unclear)."""
        m = self.metric
        self.measuring = candidate
        cand = Measured()
        champion = list(self.champion.samples)
        max_looks = m.max_repeats - m.repeats + 1
        look = 0
        planned = m.repeats
        while True:
            target = m.repeats if look == 0 else len(cand.values) + 1
            self._plan(n, [run for i in range(len(cand.values), target)
                           for run in self._pair_plan(i, candidate, bool(champion))])
            while len(cand.values) < target:
                # Interleaved pairs alternate their order (decide.champion_first); without
                # interleave, pairs start after the first look (decide.fresh_champion_run).
                paired = bool(champion) and decide.fresh_champion_run(
                    len(cand.values), m.repeats, self.interleave)
                first = decide.champion_first(len(cand.values))
                if paired and first and (failed := self._fresh_champion(
                        n, candidate, cand, planned, champion, len(cand.values))):
                    return failed
                self.state(LoopState.MEASURING, f"{len(cand.values) + 1} of {planned}", n)
                if not self.once(n, "candidate", len(cand.values), planned, cand):
                    return Comparison(cand, champion, None, cand.failure or Status.CRASH,
                                      cand.reason, cand.output_tail)
                if paired and not first and (failed := self._fresh_champion(
                        n, candidate, cand, planned, champion, len(cand.values) - 1)):
                    return failed
            look += 1
            decision = rule(cand, champion, look, max_looks)
            if decision.outcome != "more" or look >= max_looks:
                if decision.outcome == "keep" and not decision.simplification \
                        and not self.interleave and m.confirm_runs and champion:
                    return self._confirm(n, candidate, cand, champion, decision)
                return Comparison(cand, champion, decision)
            planned = len(cand.values) + 1

    def _confirm(self, n: int, candidate: str, cand: Measured, champion: list[float],
                 decision: decide.Decision) -> Comparison:
        """A keep made against champion samples from before the candidate (no
        interleaving): up to `confirm_runs` champion runs right after the candidate's,
        which it must beat too (decide.confirm_keep: a drift that flattered the candidate
        works against it now), each run only while it can change the outcome. A failed
        champion run fails the comparison, as in `compare`."""
        runs = decide.confirmation_runs(self.metric.confirm_runs, len(cand.values))
        first = len(cand.values)  # run logs champion-4.. follow bench-1..3
        self._plan(n, [(self.champion.commit, f"champion-{first + i + 1}", False)
                       for i in range(runs)])
        fresh = Measured()
        confirm = functools.partial(decide.confirm_keep, decision, cand.values, runs=runs,
                                    direction=self.metric.direction,
                                    min_effect=self.config.decide.min_effect)
        confirmed = confirm(fresh.values)
        self.to_champion()
        try:
            while confirmed is None:
                i = len(fresh.values)
                self.state(LoopState.MEASURING, f"champion again {i + 1} of {runs}", n)
                if not self.once(n, "champion", first + i, first + runs, fresh):
                    return Comparison(cand, champion, None, Status.CRASH,
                                      f"re-measuring the champion failed: {fresh.reason}",
                                      fresh.output_tail)
                confirmed = confirm(fresh.values)
        finally:
            self.to_candidate(candidate)
        return Comparison(cand, champion, confirmed)

    def _pair_plan(self, i: int, candidate: str, have_champion: bool
                   ) -> list[tuple[str, str, bool]]:
        """The runs of candidate run `i` in the order `compare` makes them (a cluster
        streams them as planned): with interleaving, its pair's champion run before it in
        even pairs and after it in odd ones."""
        runs = [(candidate, f"bench-{i + 1}", False)]
        if have_champion and decide.fresh_champion_run(i, self.metric.repeats, self.interleave):
            champ = (self.champion.commit, f"champion-{i + 1}", False)
            runs = [champ, *runs] if decide.champion_first(i) else [*runs, champ]
        return runs

    def _fresh_champion(self, n: int, candidate: str, cand: Measured, planned: int,
                        champion: list[float], index: int) -> Comparison | None:
        """The champion run of interleaved pair `index` (retried once), appended to
        `champion`; back on the candidate afterwards. None when it ran, else the failed
        comparison: candidate and champion samples are compared pairwise in time, and
        without the champion's run there is no fair comparison."""
        fresh = Measured()
        self.state(LoopState.MEASURING, f"champion {index + 1} of {planned}", n)
        self.to_champion()
        ok = (self.once(n, "champion", index, planned, fresh)
              or self.once(n, "champion", index, planned, fresh))
        self.to_candidate(candidate)
        if not ok:
            return Comparison(cand, champion, None, Status.CRASH,
                              f"re-measuring the champion failed: {fresh.reason}",
                              fresh.output_tail)
        champion.extend(fresh.values)
        return None

    @_plan_ends
    def holdout(self, n: int, candidate: str, rule: HeldOutRule | None = None) -> HeldOut:
        """Champion and candidate on the held-out benchmark as interleaved pairs, in the
        main rule's order (decide.champion_first: champion, candidate, candidate,
        champion...), so a machine that got slower since the champion was measured, or a
        burst of load, cannot hide an overfit. `max(repeats, 3)` pairs, then one more
        pair per look while `rule` says "more" (up to `[holdout] max_repeats`). Stops at
        the candidate's first failure (see `HeldOut.candidate.failure`); a champion run
        that fails twice breaks the pairing, and the rule is not asked."""
        held, fresh = Measured(), Measured()
        first = max(self.metric.repeats, 3)
        max_looks = max(first, self.config.holdout.max_repeats) - first + 1
        look, target, whole = 0, first, True
        while True:
            self._plan(n, [run for i in range(len(held.values), target)
                           for run in self._holdout_pair_plan(i, candidate)])
            while len(held.values) < target:
                i = len(held.values)
                self.state(LoopState.HOLDOUT, f"{i + 1} of {target}", n)
                champion_first = decide.champion_first(i)
                if champion_first:
                    whole = self._holdout_champion(n, i, target, fresh, candidate) and whole
                if not self.once(n, "holdout", i, target, held, holdout=True):
                    return HeldOut(held, fresh, i + 1)
                if not champion_first:
                    whole = self._holdout_champion(n, i, target, fresh, candidate) and whole
            look += 1
            if rule is None or not whole:
                return HeldOut(held, fresh, target)
            decision = rule(held, fresh, look, max_looks)
            if decision.outcome != "more" or look >= max_looks:
                return HeldOut(held, fresh, target, decision)
            target += 1

    def _holdout_pair_plan(self, i: int, candidate: str) -> list[tuple[str, str, bool]]:
        """Held-out pair `i`'s runs in the order `holdout` makes them (a cluster streams
        them as planned)."""
        champ = (self.champion.commit, f"holdout-champion-{i + 1}", True)
        cand = (candidate, f"holdout-{i + 1}", True)
        return [champ, cand] if decide.champion_first(i) else [cand, champ]

    def _holdout_champion(self, n: int, index: int, planned: int, fresh: Measured,
                          candidate: str) -> bool:
        """The champion's run of held-out pair `index` (retried once), then back on the
        candidate; False when it failed both times."""
        self.to_champion()
        try:
            return (self.once(n, "champion", index, planned, fresh, holdout=True)
                    or self.once(n, "champion", index, planned, fresh, holdout=True))
        finally:
            self.to_candidate(candidate)

    @_plan_ends
    def pair(self, n: int, index: int, planned: int, candidate: str, label: str) -> bool:
        """One more run of the champion, then one of the candidate, in the middle of the
        candidate's measurement (the outside clock's fresh pairs); False when one failed."""
        self._plan(n, [(self.champion.commit, f"champion-{index + 1}", False),
                       (candidate, f"bench-{index + 1}", False)])
        self.state(LoopState.MEASURING, f"{label}: champion {index + 1} of {planned}", n)
        self.to_champion()
        try:
            if not self.once(n, "champion", index, planned, Measured()):
                return False
        finally:
            self.to_candidate(candidate)
        self.state(LoopState.MEASURING, f"{label}: candidate {index + 1} of {planned}", n)
        return self.once(n, "candidate", index, planned, Measured())

    @_plan_ends
    def top_up(self, n: int, have: int) -> list[float]:
        """Fresh runs of the new champion up to `calibration_runs` samples.

        The candidate's own samples were selected for looking good (the winner's curse);
        unbiased runs keep the next comparisons honest. A veto or tampering ends the
        top-up early (the keep stands); a stop too.
        """
        extra = Measured()
        want = self.metric.calibration_runs - have
        self.measuring = self.champion.commit
        self._plan(n, [(self.champion.commit, f"champion-{have + i + 1}", False)
                       for i in range(max(0, want))])
        try:
            for i in range(max(0, want)):
                self.state(LoopState.MEASURING, f"new champion {i + 1} of {want}", n)
                if not self.once(n, "champion", have + i, want, extra):
                    break
        except Cancelled:
            if self.controller.stopping:
                return extra.values
            self.controller.take_veto()
        except (Tampered, InfraError) as exc:
            self.emit(WarningRaised(f"topping up the new champion's samples: {exc}"))
        return extra.values

    @_plan_ends
    def remeasure(self, n: int) -> Measured:
        """`repeats` runs of the unchanged champion (raises Cancelled and Tampered)."""
        measured = Measured()
        self.measuring = self.champion.commit
        runs = self.metric.repeats
        self._plan(n, [(self.champion.commit, f"champion-{i + 1}", False) for i in range(runs)])
        for i in range(runs):
            self.state(LoopState.MEASURING, f"re-measuring the champion {i + 1} of {runs}", n)
            if not self.once(n, "champion", i, runs, measured):
                break
        return measured

