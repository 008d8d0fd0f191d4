"""The gates a proposal passes, in order (`STAGES`), after `propose`.

Each stage is a function `(pipeline, trial) -> Verdict`: `PASS` lets the candidate on to
the next stage, any other verdict ends the experiment with its status and reason. A stage
adds what it found out to `trial.facts` (samples, confidence, checks, ...) and never sets
a status itself. A new gate is one more function here, put in `STAGES` where it belongs
(before `measure` if it needs no numbers; between `decide` and `keep` if it judges a gain).

Stages may raise the exceptions of `app/engine/interrupts.py` (a veto, a stop, tampering);
`Pipeline.run` turns those into verdicts too.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.engine import decide
from app.engine import outside_clock as clock_rules
from app.engine.bench import Measured
from app.engine.check_counts import parse_check_counts, shrinkage
from app.engine.duplicates import duplicate_reason
from app.engine.events import ChecksFinished, LoopState, ProposalReady
from app.engine.faults import fault_point
from app.engine.guard import changed_fingerprint
from app.engine.interrupts import Cancelled, StopRequested
from app.engine.pipeline.propose import propose
from app.engine.pipeline.trial import PASS, Trial, Verdict, end
from app.engine.records import Status

if TYPE_CHECKING:
    from app.engine.pipeline.experiment import Pipeline

Stage = Callable[["Pipeline", Trial], Verdict]


def snapshot(p: Pipeline, trial: Trial) -> Verdict:
    """The worktree becomes the candidate commit (`refs/autoresearch/<tag>/<n>`)."""
    facts = trial.facts
    snap = p.git.snapshot(trial.n, facts.description or f"experiment {trial.n}", facts.source)
    fault_point("snapshot")
    trial.snapshot = snap
    facts.commit = facts.candidate = snap.commit
    facts.diffstat = snap.diffstat
    if not facts.description:
        facts.description = snap.diffstat or "(no description)"
    p.emit(ProposalReady(trial.n, facts.description, facts.hypothesis, snap.diff,
                         snap.diffstat, snap.commit))
    if snap.commit is None:
        return end(Status.REJECTED, "the proposal changed nothing")
    return PASS


def guard(p: Pipeline, trial: Trial) -> Verdict:
    """No protected file changed (the config, the program, tests, benchmark scripts...)."""
    assert trial.snapshot is not None
    violations = p.setup.guard.violations(trial.snapshot.changed, p.git.paths.worktree)
    if violations:
        return end(Status.REJECTED, f"changes protected files: {', '.join(violations[:5])}")
    problems = p.tree_rules.problems(p.git.main, trial.snapshot.commit or "",
                                     trial.snapshot.changed)
    if problems:
        return end(Status.REJECTED, "; ".join(problems[:3]))
    return PASS


def duplicate(p: Pipeline, trial: Trial) -> Verdict:
    """Not measured again: the same change (whitespace aside) as one already measured on
    this champion (app/engine/duplicates.py). A user's cherry-pick is always measured."""
    if (trial.facts.source or "").startswith("cherry-pick:"):
        return PASS
    earlier = p.duplicates.earlier(p.champion.commit, trial.candidate, p.history)
    if earlier is None:
        return PASS
    trial.facts.duplicate_of = earlier.n
    return end(Status.DUPLICATE, duplicate_reason(earlier))


def review(p: Pipeline, trial: Trial) -> Verdict:
    """In review mode, wait for the user's approval (a veto cancels)."""
    if p.controller.review:
        p.controller.expect_approval()
        p.state(LoopState.WAITING_APPROVAL, "", trial.n)
        answer = p.controller.wait_for_approval()
        if answer == "stop":
            raise StopRequested()
        if answer == "vetoed":
            raise Cancelled()
    return PASS


def intact(p: Pipeline, trial: Trial) -> Verdict:
    """The worktree still is the snapshot and protected files are as they were (nothing
    changed them behind the harness's back, during a review for instance)."""
    assert trial.snapshot is not None
    now = p.setup.guard.fingerprint(p.git.paths.worktree, p.setup.tracked)
    changed = changed_fingerprint(p.setup.fingerprint, now)
    if changed:
        return end(Status.REJECTED, f"protected files changed behind the harness's back: "
                                    f"{', '.join(changed[:5])}")
    if p.git.snapshot_tree() != trial.snapshot.tree:
        return end(Status.REJECTED, "the worktree changed after the proposal was snapshotted")
    return PASS


def measure(p: Pipeline, trial: Trial) -> Verdict:
    """The candidate's samples against the champion's (app/engine/bench.py), as many as
    the keep rule asks for; a failed run is `crash`, `timeout` or `checks_failed`
    (different results: fingerprints)."""
    assert trial.snapshot is not None
    snap, facts = trial.snapshot, trial.facts
    config = p.config
    simpler = snap.removed_lines > snap.added_lines

    def rule(cand: Measured, champion: list[float], look: int,
             max_looks: int) -> decide.Decision:
        return decide.evaluate(
            cand.values, champion, direction=config.metric.direction,
            alpha=config.decide.alpha, min_effect=config.decide.min_effect, look=look,
            max_looks=max_looks, noise=p.champion.noise, simpler=simpler,
            prefer_simpler=config.decide.prefer_simpler, interleaved=p.bench.interleave,
            within=cand.within, stat=config.metric.stat,
            champion_grows=not p.bench.interleave)

    compared = p.bench.compare(trial.n, trial.candidate, rule)
    trial.comparison = compared
    cand, champion = compared.candidate, compared.champion
    facts.samples = list(cand.values)
    # The delta shown is against the samples the rule compared with (interleaved: the
    # paired runs, not the champion's older samples too): it agrees with the reason.
    if compared.decision is not None and compared.decision.champion_compared:
        champion = list(compared.decision.champion_compared)
    facts.champion_samples = list(champion)
    if champion:
        facts.champion_metric = statistics.median(champion)
    facts.metrics = cand.medians()
    facts.metric = statistics.median(cand.values) if cand.values else None
    if compared.decision is None:
        return end(compared.failure or Status.CRASH, compared.reason, compared.output_tail)
    return PASS


def decide_keep(p: Pipeline, trial: Trial) -> Verdict:
    """The keep rule's outcome (app/engine/decide.py): a gain beyond noise, or discard."""
    assert trial.comparison is not None and trial.comparison.decision is not None
    decision = trial.comparison.decision
    facts = trial.facts
    facts.confidence, facts.p_value = decision.confidence, decision.p_value
    if decision.outcome != "keep":
        return end(Status.DISCARD, decision.reason)
    facts.simplification = decision.simplification
    trial.notes.append(decision.reason)
    return PASS


def outside_clock(p: Pipeline, trial: Trial) -> Verdict:
    """Time metrics: the process's own wall and CPU time must show the reported gain
    (app/engine/outside_clock.py; `settle` says when the champion and the candidate are
    measured again, in fresh interleaved pairs)."""
    clock = p.bench.clock
    if clock is None:
        return PASS
    n = trial.n
    most = clock_rules.CONFIRM_RUNS + clock_rules.MORE_PAIRS
    done = [0]

    def pair(i: int = 0) -> bool:
        done[0] += 1
        return p.bench.pair(n, done[0] - 1, most, trial.candidate, "outside clock")

    def fresh_pairs() -> None:
        clock.forget()
        for _ in range(clock_rules.CONFIRM_RUNS):
            if not pair():
                break

    verdict = clock_rules.settle(lambda: clock.judge(n), fresh_pairs, pair,
                                 knows_champion=clock.knows_champion)
    if verdict.figures:
        trial.facts.outside_clock = {k: round(v, 6) for k, v in verdict.figures.items()}
    return end(Status.REJECTED, verdict.reason) if verdict.reason else PASS


def metric_guards(p: Pipeline, trial: Trial) -> Verdict:
    """`[[guard.metric]]`: secondary metrics may not rise or fall beyond their limits."""
    metrics = trial.facts.metrics
    for g in p.config.guard.metric:
        new, old = metrics.get(g.name), p.champion.metrics.get(g.name)
        if new is None or old is None or old == 0:
            continue
        change = (new - old) / abs(old)
        if g.max_increase is not None and change > g.max_increase:
            return end(Status.DISCARD, f"{g.name} rose {change:+.1%} (limit "
                                       f"+{g.max_increase:.0%}): {old:g} -> {new:g}")
        if g.max_decrease is not None and -change > g.max_decrease:
            return end(Status.DISCARD, f"{g.name} fell {change:+.1%} (limit "
                                       f"-{g.max_decrease:.0%}): {old:g} -> {new:g}")
    return PASS


def checks(p: Pipeline, trial: Trial) -> Verdict:
    """The checks pass, and run at least what they ran on the champion
    (app/engine/check_counts.py)."""
    if not p.config.checks.command:
        return PASS
    n = trial.n
    p.state(LoopState.CHECKS, "", n)
    fault_point("checks")
    result = p.bench.checks(n)
    p.emit(ChecksFinished(n, result.ok, result.duration_s, result.failure()))
    counts = parse_check_counts(result.output)
    trial.facts.checks = counts.to_json() if counts else None
    ran_less = shrinkage(p.champion.checks, counts) if result.ok else ""
    if not result.ok or ran_less:
        return end(Status.CHECKS_FAILED, ran_less or f"checks failed ({result.failure()})",
                   result.output_tail)
    return PASS


def holdout(p: Pipeline, trial: Trial) -> Verdict:
    """The held-out benchmark, which the agent cannot see, must not regress and must show
    a share of the gain (`overfit` otherwise). Champion and candidate run in interleaved
    pairs, compared pair by pair (decide.held_out_regression), with more pairs while the
    answer is unclear."""
    if not (p.config.holdout.command and p.champion.holdout_samples):
        return PASS
    facts = trial.facts
    cfg, direction = p.config.holdout, p.metric.direction
    noise = p.champion.holdout_noise

    def rule(held: Measured, fresh: Measured, look: int, max_looks: int
             ) -> decide.HeldOutDecision:
        return decide.held_out_regression(held.values, fresh.values, direction=direction,
                                          max_regression=cfg.max_regression, noise=noise,
                                          look=look, max_looks=max_looks)

    held_out = p.bench.holdout(trial.n, trial.candidate, rule)
    held, fresh = held_out.candidate, held_out.champion
    if held.failure is Status.CHECKS_FAILED:  # its results changed
        return end(Status.CHECKS_FAILED, held.reason)
    if held.failure is not None:
        return end(Status.OVERFIT, f"the held-out check failed ({held.reason})")
    facts.holdout = statistics.median(held.values)
    facts.holdout_samples = list(held.values)
    facts.holdout_champion_samples = list(fresh.values)
    paired = held_out.decision is not None
    if held_out.decision is not None:
        reference = fresh.values
        bad, why = held_out.decision.outcome == "overfit", held_out.decision.reason
    else:  # a champion run failed: the stored champion runs, unpaired
        reference = p.champion.holdout_samples
        bad, why = decide.regressed(held.values, reference, direction=direction,
                                    max_regression=cfg.max_regression, noise=noise)
    if not bad and facts.metric is not None and facts.champion_metric:
        main_change = (facts.metric - facts.champion_metric) / abs(facts.champion_metric)
        short, transfer = decide.transfer_shortfall(
            held.values, reference, main_change=main_change, direction=direction,
            min_transfer=cfg.min_transfer, noise=noise, paired=paired)
        if short:
            why = transfer
        bad = short
    if bad:
        return end(Status.OVERFIT, why)
    trial.notes.append(why)
    return PASS


def keep(p: Pipeline, trial: Trial) -> Verdict:
    """The candidate becomes the champion: the session branch advances by its tree, its
    samples are topped up with fresh runs, and the champion's figures follow."""
    facts = trial.facts
    assert facts.candidate is not None and trial.comparison is not None
    if p.controller.settle():  # a veto typed while it was being measured
        raise Cancelled()
    result = {"n": facts.n, "status": "keep", p.metric.name: facts.metric,
              "metrics": facts.metrics, "samples": facts.samples,
              "confidence": facts.confidence, "p_value": facts.p_value}
    if facts.worker:
        result["worker"] = facts.worker  # which parallel worker proposed it
    p.champion.commit = p.git.keep(facts.candidate, facts.description, result)
    fault_point("keep")
    facts.commit = p.champion.commit
    if p.bench.clock is not None:
        p.bench.clock.promote()
    cand = trial.comparison.candidate.values
    p.champion.promote(facts, list(cand) + p.bench.top_up(facts.n, len(cand)))
    p.setup.writer.append({"type": "champion_samples", "n": facts.n,
                           "samples": p.champion.samples})
    return end(Status.KEEP, "; ".join(trial.notes))


STAGES: tuple[Stage, ...] = (propose, snapshot, guard, duplicate, review, intact, measure,
                             decide_keep, outside_clock, metric_guards, checks, holdout, keep)
"""The pipeline, in order: the first verdict that is not PASS decides the experiment."""
