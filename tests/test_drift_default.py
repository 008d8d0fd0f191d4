"""Drift with the default configuration (`interleave = false`, `confirm_runs = 3`).

The keep rule compares a candidate with champion samples measured before it. A machine
that speeds up (a cold cache warming, turbo after an idle spell, a neighbour's job ending)
makes a change that does nothing look credibly faster: the attack. The defence
(decide.confirm_keep): before a keep, the champion runs again right after the candidate,
and the candidate must beat those runs too; the same drift now favours the champion.
Figures: benchmarks/decision_quality.py, docs/decisions.md ("Drift by default")."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from app.engine.controller import LoopController
from app.engine.decide import (
    CONFIRM_LEVEL,
    Decision,
    confirm_keep,
    confirmation_runs,
    evaluate,
    rank_test,
)
from app.engine.events import Event
from app.engine.launch import LaunchOptions
from app.engine.session import open_session
from tests.conftest import Project

EARLY_CHAMPION = [100.0, 99.5, 100.5, 99.8, 100.2]


def _confirm(decision: Decision, candidate: list[float], later: list[float],
             runs: int = 3) -> tuple[Decision, int]:
    """confirm_keep as the bench drives it: one more champion run while it says None."""
    fresh: list[float] = []
    while (done := confirm_keep(decision, candidate, fresh, runs=runs, direction="lower",
                                min_effect=0.0)) is None:
        fresh.append(later[len(fresh)])
    return done, len(fresh)


def _keep(candidate: list[float]) -> Decision:
    decision = evaluate(candidate, EARLY_CHAMPION, direction="lower", alpha=0.05,
                        min_effect=0.0, look=1, max_looks=8)
    assert decision.outcome == "keep", decision.reason
    return decision


def test_a_useless_change_flattered_by_a_machine_speeding_up_is_not_confirmed() -> None:
    # Attack: the machine got 3% faster after the champion's samples; the change does
    # nothing, yet the main test calls it credibly better.
    candidate = [97.0, 96.6, 97.3]
    decision = _keep(candidate)
    # Defence: the champion, measured right after, is as fast (faster: still speeding up).
    confirmed, runs = _confirm(decision, candidate, [96.0, 96.3, 95.8])
    assert confirmed.outcome == "discard"
    assert confirmed.reason.startswith("not confirmed by the champion measured again after it")
    assert "machine's speed may have moved" in confirmed.reason
    assert runs == 2  # the third run could not have saved it


def test_a_real_gain_is_confirmed() -> None:
    candidate = [90.0, 90.5, 89.7]
    confirmed, runs = _confirm(_keep(candidate), candidate, [100.1, 99.9, 100.3])
    assert confirmed.outcome == "keep" and runs == 3
    assert "3 champion runs measured right after it" in confirmed.reason


def test_only_keeps_are_confirmed() -> None:
    discard = Decision("discard", "not credibly better: ...")
    assert confirm_keep(discard, [1.0], [], runs=3, direction="lower",
                        min_effect=0.0) is discard
    simpler = Decision("keep", "simpler and equal within noise: ...", simplification=True)
    assert confirm_keep(simpler, [1.0], [], runs=3, direction="lower",
                        min_effect=0.0) is simpler
    keep = Decision("keep", "credibly better: ...")
    assert confirm_keep(keep, [1.0], [], runs=0, direction="lower", min_effect=0.0) is keep


def test_stopping_early_gives_the_outcome_all_the_runs_would() -> None:
    """The bench measures a confirmation run only while it can change the outcome; on
    fixed samples (seeded), the outcome equals the one after all runs, whatever they are."""
    rng = random.Random(17)
    keep = Decision("keep", "credibly better: ...")
    early = 0
    for _ in range(300):
        n, runs = rng.randint(2, 10), rng.randint(1, 5)
        candidate = [rng.gauss(0, 1) for _ in range(n)]
        later = [rng.gauss(rng.choice((-1.5, 0.0, 1.5)), 1) for _ in range(runs)]
        full = rank_test([-v for v in candidate], [-v for v in later])[0] <= CONFIRM_LEVEL
        done, used = _confirm(keep, candidate, later, runs)
        assert (done.outcome == "keep") == full
        early += used < runs
    assert early > 50  # and it does stop early


def test_a_change_measured_many_times_gets_a_third_of_its_runs_as_confirmation() -> None:
    assert [confirmation_runs(3, n) for n in (3, 9, 10, 12, 50)] == [3, 3, 3, 4, 16]
    assert confirmation_runs(0, 50) == 0  # off stays off
    assert confirmation_runs(5, 6) == 5


def test_min_effect_applies_to_the_confirmation_too() -> None:
    candidate = [97.0, 96.9, 97.1]
    keep = Decision("keep", "credibly better by more than 1.00%: ...")
    later = [100.0, 100.1, 99.9]
    fresh: list[float] = []
    while (done := confirm_keep(keep, candidate, fresh, runs=3, direction="lower",
                                min_effect=0.05)) is None:
        fresh.append(later[len(fresh)])
    assert done.outcome == "discard"  # 3% better, 5% wanted


def _drifting_decision(rng: random.Random, confirm_runs: int) -> bool:
    """One decision on a useless change as the loop makes it (5 champion runs, then 3 to 10
    candidate runs, then the confirmation), on a machine getting 0.25% faster per run with
    1% noise: benchmarks/decision_quality.py's 'noise 1% drift' setting."""
    t = 0

    def run() -> float:
        nonlocal t
        t += 1
        return math.exp(0.01 * rng.gauss(0.0, 1.0) - 0.0025 * t)

    champion = [run() for _ in range(5)]
    candidate = [run() for _ in range(3)]
    look = 1
    while (decision := evaluate(candidate, champion, direction="lower", alpha=0.05,
                                min_effect=0.0, look=look, max_looks=8)).outcome == "more":
        candidate.append(run())
        look += 1
    fresh: list[float] = []
    most = confirmation_runs(confirm_runs, len(candidate))
    while (done := confirm_keep(decision, candidate, fresh, runs=most, direction="lower",
                                min_effect=0.0)) is None:
        fresh.append(run())
    return done.outcome == "keep"


@pytest.mark.statistical
def test_on_a_machine_speeding_up_the_default_keeps_few_useless_changes() -> None:
    """600 useless changes under 1% drift: without the confirmation most are kept (70.7%
    in the benchmark); with it, at most 5% plus two standard errors (1.8%)."""
    rng = random.Random(23)
    unconfirmed = sum(_drifting_decision(rng, 0) for _ in range(600)) / 600
    confirmed = sum(_drifting_decision(rng, 3) for _ in range(600)) / 600
    assert unconfirmed >= 0.5
    assert confirmed <= 0.068


# --- through the real loop -------------------------------------------------------------------

# A benchmark on a machine whose speed moves by DRIFT_STEP per run (a counter in a file
# outside the repo, so it outlasts the clean measurement tree); nums/*.txt is the code.
DRIFTING_BENCH = '''\
import os
state = os.environ["DRIFT_STATE"]
count = int(open(state).read()) if os.path.exists(state) else 0
open(state, "w").write(str(count + 1))
speed = 1 + float(os.environ["DRIFT_STEP"]) * count
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={total * speed:.4f}")
'''


def _drifting_session(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      step: float, patch: dict[str, str], **config: object) -> list[str]:
    monkeypatch.setenv("DRIFT_STATE", str(tmp_path / "drift-state"))
    monkeypatch.setenv("DRIFT_STEP", str(step))
    project.write("bench.py", DRIFTING_BENCH)
    project.config(calibration_runs=5, repeats=3, max_repeats=8, remeasure_every=0,
                   extra='\n[session]\nsandbox = "none"\nenv = ["DRIFT_STATE", "DRIFT_STEP"]\n',
                   **config)
    project.commit("a benchmark on a drifting machine")
    project.patch("01.patch", patch, "the change")
    project.commit("patches")
    events: list[Event] = []
    engine = open_session(LaunchOptions(cwd=project.root), agent=None)
    try:
        engine.run(events.append, LoopController())
    finally:
        engine.close()
    assert len(engine.experiments) == 2 and str(engine.experiments[0].status) == "baseline"
    return [str(engine.experiments[1].status), engine.experiments[1].reason]


NO_OP = {"src/x1.py": "# nothing\n"}


@pytest.mark.slow  # a whole session (3-8 s here)
def test_attack_a_machine_speeding_up_gets_a_useless_change_kept_without_confirmation(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack works on the rule without its confirmation (`confirm_runs = 0`, the
    default before): every run 1% faster than the one before, a no-op is kept."""
    status, reason = _drifting_session(project, tmp_path, monkeypatch, -0.01, NO_OP,
                                       confirm_runs=0)
    assert status == "keep", reason


@pytest.mark.slow  # a whole session (3-8 s here)
def test_a_machine_speeding_up_does_not_get_a_useless_change_kept_by_default(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, reason = _drifting_session(project, tmp_path, monkeypatch, -0.01, NO_OP)
    assert status == "discard", reason
    assert reason.startswith("not confirmed by the champion measured again after it"), reason


@pytest.mark.slow  # a whole session (3-8 s here)
def test_a_machine_slowing_down_does_not_get_a_useless_change_kept_by_default(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, reason = _drifting_session(project, tmp_path, monkeypatch, 0.01, NO_OP)
    assert status == "discard", reason
    assert reason.startswith("not"), reason


@pytest.mark.slow  # a whole session (3-8 s here)
def test_a_real_gain_on_a_machine_speeding_up_is_still_kept(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, reason = _drifting_session(project, tmp_path, monkeypatch, -0.01,
                                       {"nums/a.txt": "40\n"})
    assert status == "keep", reason
    assert "champion runs measured right after it" in reason
