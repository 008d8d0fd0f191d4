"""The peer rules of benchmarks/decision_quality.py compute what their tools compute."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import decision_quality as dq  # noqa: E402


def test_student_t_matches_the_tables() -> None:
    # two-sided 5% critical values of Student's t for 8 and 18 degrees of freedom
    assert 2 * (1 - dq._student_cdf(2.306, 8)) == pytest.approx(0.05, abs=2e-4)
    assert 2 * (1 - dq._student_cdf(2.101, 18)) == pytest.approx(0.05, abs=2e-4)


def test_mann_whitney_two_sided_extremes() -> None:
    low, high = [1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10]
    assert dq._two_sided_u(low, high) == pytest.approx(2 / 252)  # C(10, 5) = 252
    assert dq._two_sided_u(high, low) == pytest.approx(2 / 252)
    assert dq._two_sided_u([1.0, 3, 5, 7, 9], [2.0, 4, 6, 8, 10]) > 0.5


@pytest.mark.parametrize("name", sorted(dq.PEERS))
def test_each_peer_keeps_a_huge_win_and_not_a_loss(name: str) -> None:
    setting = dq.Setting(noise=0.01, drift=False, outliers=False)
    rule = dq.PEERS[name](10)
    rng = random.Random(1)
    # 30 times the noise faster: every rule sees it (asv's factor 1.1 too)
    kept, runs = rule(dq.Bench(rng, setting, effect=30.0))
    assert kept and runs >= 10
    kept, _ = rule(dq.Bench(rng, setting, effect=-30.0))
    assert not kept


def test_asv_cannot_keep_at_five_runs() -> None:
    setting = dq.Setting(noise=0.01, drift=False, outliers=False)
    kept, _ = dq.asv_rule(5)(dq.Bench(random.Random(2), setting, effect=30.0))
    assert not kept  # p >= 2/252 > 0.002: documented in docs/decisions.md
