"""The keep rule as pure functions: false keeps, power, small samples, ties, signs, drift.

The loop drives `evaluate` look by look; `run_decision` below does the same (3 candidate
samples, then one more per "more", up to 10) so the tests see the rule as users will.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable

import pytest

from app.engine.decide import (
    Decision,
    champion_first,
    drifted,
    evaluate,
    rank_test,
    regressed,
    relative_noise,
)

ALPHA = 0.05


def run_decision(candidate: Callable[[], float], champion: list[float], *,
                 direction: str = "lower", repeats: int = 3, max_repeats: int = 10,
                 **kwargs: object) -> tuple[Decision, int]:
    """Drive evaluate like the loop: returns the final decision and the candidate runs used."""
    max_looks = max_repeats - repeats + 1
    min_effect = float(kwargs.pop("min_effect", 0.0))  # type: ignore[arg-type]
    samples = [candidate() for _ in range(repeats)]
    for look in range(1, max_looks + 1):
        d = evaluate(samples, champion, direction=direction, alpha=ALPHA,
                     min_effect=min_effect, look=look, max_looks=max_looks,
                     **kwargs)  # type: ignore[arg-type]
        if d.outcome != "more":
            return d, len(samples)
        samples.append(candidate())
    raise AssertionError("evaluate returned 'more' at the last look")


def test_relative_noise_is_mad_over_median() -> None:
    assert relative_noise([10.0, 11.0, 9.0, 10.0, 30.0]) == pytest.approx(0.1)
    assert relative_noise([5.0]) is None
    assert relative_noise([-1.0, 0.0, 1.0]) is None  # median 0: relative noise undefined
    assert relative_noise([3.0, 3.0, 3.0]) == 0.0


def test_rank_test_p_values_are_exact_with_ties() -> None:
    """Compare with brute-force enumeration of every split of the pooled values."""
    rng = random.Random(5)
    for _ in range(60):
        a = [rng.choice([1.0, 2.0, 2.0, 3.5]) for _ in range(rng.randint(1, 4))]
        b = [rng.choice([1.0, 2.0, 3.5, 4.0]) for _ in range(rng.randint(1, 5))]
        pooled = a + b
        if len(set(pooled)) == 1:
            continue
        score = {v: sum((w < v) + 0.5 * (w == v) for w in pooled) for v in pooled}
        observed = sum(score[v] for v in a)
        splits = list(itertools.combinations(pooled, len(a)))
        expected = sum(sum(score[v] for v in s) >= observed - 1e-9 for s in splits) / len(splits)
        assert rank_test(a, b)[0] == pytest.approx(expected)


def test_identical_distributions_are_rarely_kept() -> None:
    rng = random.Random(2026)
    kept = 0
    for _ in range(300):
        champion = [rng.gauss(100.0, 5.0) for _ in range(5)]
        d, _ = run_decision(lambda: rng.gauss(100.0, 5.0), champion)
        kept += d.outcome == "keep"
    assert kept / 300 < ALPHA + 0.04  # 300 decisions: the standard error is about 0.013


def test_clear_improvement_is_kept_at_the_first_look() -> None:
    rng = random.Random(1)
    champion = [rng.gauss(100.0, 1.0) for _ in range(5)]
    d, runs = run_decision(lambda: rng.gauss(90.0, 1.0), champion)
    assert (d.outcome, runs) == ("keep", 3)
    assert d.p_value is not None and d.p_value <= ALPHA
    assert d.confidence is not None and d.confidence >= 2


def test_useless_changes_stop_early_on_average() -> None:
    """Futility: a change that does nothing costs fewer runs than median-of-5 would."""
    rng = random.Random(3)
    runs = []
    for _ in range(100):
        champion = [rng.gauss(50.0, 2.0) for _ in range(5)]
        runs.append(run_decision(lambda: rng.gauss(50.0, 2.0), champion)[1])
    assert sum(runs) / len(runs) < 5


def test_three_against_three() -> None:
    champion = [10.0, 10.1, 10.2]
    clearly_better = [9.0, 9.1, 9.2]
    # One look: complete separation is the only way to p <= 0.05 (p = 1/20 exactly).
    d = evaluate(clearly_better, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=1, max_looks=1)
    assert d.outcome == "keep" and d.p_value == pytest.approx(0.05)
    one_swap = [9.0, 9.1, 10.05]  # beats two of the three champion runs
    d = evaluate(one_swap, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=1, max_looks=1)
    assert d.outcome == "discard" and d.p_value == pytest.approx(0.10)
    # With more looks ahead, 3 vs 3 cannot be credible yet: measure more, not keep.
    d = evaluate(clearly_better, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=1, max_looks=8)
    assert d.outcome == "more"
    assert d.p_value is not None and d.p_value > ALPHA


def test_a_long_champion_history_stays_fast_and_uses_recent_samples() -> None:
    """A session that re-measured its champion for hours: old, slower samples are ignored."""
    old = [120.0 + i * 0.01 for i in range(500)]
    recent = [100.0 + (i % 7) * 0.1 for i in range(50)]
    d = evaluate([100.05, 100.25, 100.15], old + recent, direction="lower", alpha=ALPHA,
                 min_effect=0.0, look=1, max_looks=1)
    assert d.outcome == "discard"  # against all 550 samples it would look 17% faster


def test_never_more_at_the_last_look() -> None:
    rng = random.Random(8)
    for _ in range(200):
        interleaved = rng.random() < 0.3
        # Few distinct shapes: each new (champion size, looks) costs one boundary simulation.
        max_looks = 8 if interleaved else rng.choice([1, 8])
        n = 3 + max_looks - 1
        cand = [rng.gauss(0.0, 1.0) for _ in range(n)]
        champ = [rng.gauss(0.3, 1.0) for _ in range(rng.choice([3, 5, 11]))]
        d = evaluate(cand, champ, direction=rng.choice(["lower", "higher"]), alpha=ALPHA,
                     min_effect=0.0, look=max_looks, max_looks=max_looks,
                     interleaved=interleaved)
        assert d.outcome in ("keep", "discard")
        assert d.p_value is not None and 0.0 <= d.p_value <= 1.0
        assert (d.outcome == "keep") == (d.p_value <= ALPHA)  # the shown p-value tells


def test_outliers_neither_hide_a_win_nor_fake_one() -> None:
    champion = [100.0, 101.0, 99.5, 100.5, 100.2, 99.8]
    # A real 5% speed-up with one run hit by a 3x pause is still kept.
    better = [95.1, 94.8, 95.3, 300.0, 95.0, 94.9, 95.2]
    d = evaluate(better, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=5, max_looks=8)
    assert d.outcome == "keep"
    # A useless change with one absurdly fast run (a cached result) is not kept.
    lucky = [100.3, 1.0, 99.9]
    d = evaluate(lucky, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=1, max_looks=1)
    assert d.outcome == "discard"
    # An outlier in the champion's calibration does not make a useless change look good.
    d = evaluate([100.1, 99.9, 100.4], champion + [400.0], direction="lower", alpha=ALPHA,
                 min_effect=0.0, look=1, max_looks=1)
    assert d.outcome == "discard"


def test_zero_noise_constant_benchmarks() -> None:
    """A deterministic metric (bundle size, op count): MAD 0 everywhere."""
    champion = [1000.0] * 5
    d, runs = run_decision(lambda: 990.0, champion)
    assert d.outcome == "keep" and runs == 3
    assert d.confidence is not None and math.isfinite(d.confidence) and d.confidence > 2
    json.dumps(d.confidence, allow_nan=False)  # the log stays plain JSON
    d, runs = run_decision(lambda: 1000.0, champion)
    assert d.outcome == "discard" and runs == 3
    assert d.confidence == 0.0 and d.p_value == 1.0
    d, _ = run_decision(lambda: 1001.0, champion)
    assert d.outcome == "discard"
    # min_effect holds with zero noise too: 1% better is not "more than 2% better".
    d, _ = run_decision(lambda: 990.0, champion, min_effect=0.02)
    assert d.outcome == "discard"


def test_negative_and_zero_metrics() -> None:
    # Negative values, lower is better (say, a log-likelihood cost): -6 beats -5.
    champion = [-5.0, -5.05, -4.95, -5.02, -4.98]
    better = [-6.0, -6.05, -5.95]
    d = evaluate(better, champion, direction="lower", alpha=ALPHA, min_effect=0.1,
                 look=1, max_looks=1)
    assert d.outcome == "keep"  # 20% better than |-5| by more than 10%
    d = evaluate(better, champion, direction="lower", alpha=ALPHA, min_effect=0.3,
                 look=1, max_looks=1)
    assert d.outcome == "discard"
    # A champion at exactly zero: no relative change, but the ranks still decide.
    zeros = [0.0] * 5
    d = evaluate([-0.5, -0.4, -0.6], zeros, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=1, max_looks=1)
    assert d.outcome == "keep"
    d = evaluate([0.0, 0.0, 0.0], zeros, direction="lower", alpha=ALPHA, min_effect=0.0,
                 look=1, max_looks=1)
    assert d.outcome == "discard"


def test_higher_is_better() -> None:
    champion = [0.80, 0.81, 0.79, 0.80, 0.805]
    higher = [0.90, 0.91, 0.905]
    up = evaluate(higher, champion, direction="higher", alpha=ALPHA, min_effect=0.0,
                  look=1, max_looks=8)
    down = evaluate(higher, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                    look=1, max_looks=8)
    assert up.outcome == "keep" and up.confidence is not None and up.confidence > 0
    assert down.outcome == "discard" and down.confidence is not None and down.confidence < 0


def test_prefer_simpler_keeps_an_equal_change_that_removes_code() -> None:
    champion = [10.0, 10.2, 9.9, 10.1, 10.0]

    def decide(candidate: list[float], simpler: bool, prefer_simpler: bool) -> Decision:
        return evaluate(candidate, champion, direction="lower", alpha=ALPHA, min_effect=0.0,
                        look=1, max_looks=8, simpler=simpler, prefer_simpler=prefer_simpler)

    equal = [10.05, 9.95, 10.1]
    d = decide(equal, simpler=True, prefer_simpler=True)
    assert d.outcome == "keep" and d.simplification
    assert decide(equal, simpler=True, prefer_simpler=False).outcome != "keep"
    assert decide(equal, simpler=False, prefer_simpler=True).outcome != "keep"
    d = decide([11.0, 11.2, 10.9], simpler=True, prefer_simpler=True)
    assert d.outcome == "discard" and not d.simplification


def test_interleaving_cancels_drift() -> None:
    """The machine speeds up 1% per run: a useless change measured later looks faster."""
    rng = random.Random(4)
    t = 0

    def run() -> float:
        nonlocal t
        t += 1
        return 100.0 * (1 - 0.01 * t) * math.exp(rng.gauss(0.0, 0.005))

    calibration = [run() for _ in range(5)]
    plain, _ = run_decision(run, calibration)
    assert plain.outcome == "keep"  # the trap: drift alone looks like a win

    kept = 0
    for _ in range(20):
        t = 0
        champion = [run() for _ in range(5)]

        def interleaved_run(champion: list[float] = champion) -> float:
            # The loop's order: champion first in even pairs, last in odd ones.
            first = champion_first(len(champion) - 5)
            if first:
                champion.append(run())
            value = run()
            if not first:
                champion.append(run())
            return value

        d, _ = run_decision(interleaved_run, champion, interleaved=True)
        kept += d.outcome == "keep"
    assert kept <= 2


def test_interleaving_still_finds_a_real_win_under_drift() -> None:
    rng = random.Random(6)
    t = 0

    def run(true: float) -> float:
        nonlocal t
        t += 1
        return true * (1 + 0.01 * t) * math.exp(rng.gauss(0.0, 0.005))  # slowing down

    champion = [run(100.0) for _ in range(5)]

    def interleaved_run() -> float:
        first = champion_first(len(champion) - 5)
        if first:
            champion.append(run(100.0))
        value = run(98.0)
        if not first:
            champion.append(run(100.0))
        return value

    d, _ = run_decision(interleaved_run, champion, interleaved=True)
    assert d.outcome == "keep"


def test_regressed_holdout() -> None:
    champion = [50.0, 50.5, 49.5, 50.2, 49.8]
    bad, why = regressed([55.0, 55.5, 54.8], champion, direction="lower", max_regression=0.02,
                         noise=0.01)
    assert bad and "worse" in why
    ok, _ = regressed([50.6, 50.1, 49.9], champion, direction="lower", max_regression=0.0,
                      noise=0.01)
    assert not ok  # a wobble within noise is not a regression
    ok, _ = regressed([51.0, 51.2, 50.9], champion, direction="lower", max_regression=0.05,
                      noise=0.01)
    assert not ok  # 2% worse is within the allowed 5%
    bad, _ = regressed([0.70, 0.71, 0.69], [0.80, 0.81, 0.79, 0.80, 0.80], direction="higher",
                       max_regression=0.0, noise=0.01)
    assert bad
    ok, _ = regressed([0.90, 0.91, 0.89], [0.80, 0.81, 0.79, 0.80, 0.80], direction="higher",
                      max_regression=0.0, noise=0.01)
    assert not ok


def test_drifted() -> None:
    old = [10.0, 10.1, 9.9, 10.05, 9.95]
    assert drifted(old, [11.0, 11.1, 10.9], noise=0.005)
    assert not drifted(old, [10.02, 9.98, 10.08], noise=0.005)
    assert not drifted([7.0] * 5, [7.0] * 3, noise=0.0)
    assert drifted([7.0] * 5, [7.5] * 3, noise=0.0)
