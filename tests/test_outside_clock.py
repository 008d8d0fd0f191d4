"""The outside clock: the harness's own wall-clock and CPU time of each measured command
(`os.wait4` resource usage), the rule that compares them with the reported time, and the
output fingerprints' parsing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from app.config import load_config
from app.engine.fingerprints import OutputFingerprints, parse_fingerprint, short
from app.engine.outside_clock import MORE_PAIRS, ClockVerdict, Run, enabled, judge, settle
from app.engine.process import run_command
from app.errors import UsageError
from tests.conftest import require_tool

BUSY = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def test_cpu_time_of_the_command_and_the_children_it_waited_for(tmp_path: Path) -> None:
    (tmp_path / "busy.py").write_text(BUSY.format(s=0.3))
    # The shell runs two children one after the other and waits for both: their CPU time
    # is in the shell's resource usage, which the harness reads when it reaps the shell.
    result = run_command(f"{sys.executable} busy.py; {sys.executable} busy.py", tmp_path, 30)
    assert result.ok
    assert result.cpu_s is not None and result.wall_s is not None
    assert 0.55 <= result.cpu_s <= 1.5
    assert result.wall_s >= result.cpu_s * 0.9
    assert result.wall_s <= result.duration_s + 0.01


BWRAP = "bwrap --ro-bind / / --dev /dev --proc /proc --die-with-parent"


@pytest.mark.parametrize("sandbox", [
    "",
    f"{BWRAP} --unshare-net --unshare-ipc --",
    # With a PID namespace the payload must be pid 1 (--as-pid-1): otherwise bwrap's own
    # init reaps it inside and the resource usage never reaches the harness (measured:
    # 0.002 s of CPU for a 0.5 s busy loop), and the outside clock sees nothing.
    f"{BWRAP} --unshare-pid --as-pid-1 --",
])
def test_cpu_time_reaches_the_harness_through_the_sandbox(tmp_path: Path, sandbox: str) -> None:
    if sandbox:
        require_tool("bwrap")
    (tmp_path / "busy.py").write_text(BUSY.format(s=0.4))
    result = run_command(f"{sandbox} {sys.executable} {tmp_path / 'busy.py'}".strip(),
                         tmp_path, 60)
    assert result.ok, result.output_tail
    assert result.cpu_s is not None and result.cpu_s >= 0.35


def test_a_sleeping_command_takes_wall_time_but_no_cpu(tmp_path: Path) -> None:
    result = run_command("sleep 0.4", tmp_path, 30)
    assert result.ok and result.wall_s is not None and result.cpu_s is not None
    assert 0.38 <= result.wall_s < 2.0
    assert result.cpu_s < 0.1


def test_a_killed_command_has_no_outside_figures_to_trust(tmp_path: Path) -> None:
    result = run_command("sleep 5", tmp_path, 0.3)
    assert result.timed_out and result.exit_code is None
    assert result.cpu_s is None and result.wall_s is None


# -- the rule -------------------------------------------------------------------------------

def runs(reported: float, wall: float, cpu: float, count: int = 5,
         spread: float = 0.01) -> list[Run]:
    return [Run(reported * (1 + spread * k), wall * (1 + spread * k), cpu * (1 + spread * k))
            for k in (-2, -1, 0, 1, 2)[:count]]


def test_a_reported_gain_the_process_does_not_show_is_a_disagreement() -> None:
    champion = runs(0.200, 0.320, 0.300)
    candidate = runs(0.004, 0.318, 0.299, count=3)  # a slower clock: 50x "faster"
    verdict = judge(champion, candidate, 0.25)
    assert not verdict.ok
    assert verdict.reason.startswith("the reported time disagrees with the measured process "
                                     "time: reported -196.0 ms (-98%)")
    assert "wall time moved" in verdict.reason and "CPU time" in verdict.reason
    assert verdict.figures["reported_gain_s"] > 0.19


def test_a_small_timed_part_of_a_long_process_counts_in_seconds_not_ratios() -> None:
    # 10 s of set-up, a timed section of 1 s that becomes 0.5 s: -50% reported, -5% of the
    # process, the same 0.5 s both ways.
    champion = runs(1.0, 11.0, 10.9, spread=0.002)
    honest = runs(0.5, 10.5, 10.4, count=3, spread=0.002)
    assert judge(champion, honest, 0.25).ok
    lie = runs(0.5, 11.0, 10.9, count=3, spread=0.002)
    assert not judge(champion, lie, 0.25).ok


def test_less_waiting_shows_in_wall_time_only_and_is_believed_when_it_is_clear() -> None:
    champion = runs(0.300, 0.350, 0.040)
    waits_less = runs(0.100, 0.150, 0.040, count=3)
    assert judge(champion, waits_less, 0.25).ok


def test_noise_in_the_process_figures_is_no_disagreement() -> None:
    # A modest honest gain (10 ms) inside a process whose CPU time wobbles by 5%.
    champion = runs(0.100, 0.500, 0.480, spread=0.05)
    candidate = runs(0.090, 0.505, 0.478, count=3, spread=0.05)
    assert judge(champion, candidate, 0.25).ok


def test_no_gain_or_too_few_runs_is_never_judged() -> None:
    assert judge(runs(0.1, 0.2, 0.2), runs(0.12, 0.2, 0.2, count=3), 0.25).ok
    assert judge(runs(0.1, 0.2, 0.2, count=1), runs(0.001, 0.2, 0.2, count=3), 0.25).ok


# -- unsettled verdicts: more runs of both sides, bounded ----------------------------------

PATTERN = (-2, 1, 0, 2, -1)


def wobbly(reported: float, cpu: float, count: int, spread: float, start: int = 0
           ) -> list[Run]:
    """Fixed samples whose CPU (and wall) time wobbles by `spread` (a busy machine)."""
    out = []
    for k in range(count):
        step = PATTERN[(k + start) % len(PATTERN)]
        out.append(Run(reported * (1 + 0.01 * step), cpu * (1 + spread * step),
                       cpu * (1 + spread * step)))
    return out


class Sides:
    """What the loop does for `settle`, on fixed samples: fresh pairs of runs, then one run
    of each side per extra pair, taken in turn from `champion_source` and
    `candidate_source`."""

    def __init__(self, champion: list[Run], candidate: list[Run],
                 champion_source: list[Run], candidate_source: list[Run]) -> None:
        self.champion, self.candidate = list(champion), list(candidate)
        self.champion_source, self.candidate_source = champion_source, candidate_source
        self.fresh = self.pairs = 0

    def verdict(self) -> ClockVerdict:
        return judge(self.champion, self.candidate, 0.25)

    def fresh_pairs(self) -> None:
        self.fresh += 1
        self.champion = self.champion_source[:3]
        self.candidate = self.candidate_source[:3]

    def one_more_pair(self, i: int) -> bool:
        self.pairs += 1
        self.champion.append(self.champion_source[3 + i])
        self.candidate.append(self.candidate_source[3 + i])
        return True

    def settle(self, more_pairs: int = MORE_PAIRS) -> ClockVerdict:
        return settle(self.verdict, self.fresh_pairs, self.one_more_pair,
                      more_pairs=more_pairs)


def test_an_unclear_verdict_is_unsettled_and_believed_not_rejected() -> None:
    # A 50x slower clock in a process whose CPU time wobbles by 5%: on 5 runs against 3
    # the process's figures neither show the claim nor credibly fall short of it.
    verdict = judge(wobbly(0.2, 0.3, 5, 0.05), wobbly(0.004, 0.3, 3, 0.05, start=2), 0.25)
    assert verdict.ok and not verdict.settled
    plain = judge(runs(0.2, 0.3, 0.3), runs(0.1, 0.2, 0.2, count=3), 0.25)
    assert plain.ok and plain.settled


def test_a_lie_left_unclear_by_a_busy_machine_is_caught_on_more_runs_of_both_sides() -> None:
    sides = Sides(wobbly(0.2, 0.3, 5, 0.05), wobbly(0.004, 0.3, 3, 0.05, start=2),
                  wobbly(0.2, 0.3, 3 + MORE_PAIRS, 0.05, start=1),
                  wobbly(0.004, 0.3, 3 + MORE_PAIRS, 0.05, start=2))
    # Without the extra pairs (the procedure before them) the lie gets the benefit of the
    # doubt.
    before = Sides(sides.champion, sides.candidate, sides.champion_source,
                   sides.candidate_source)
    assert before.settle(more_pairs=0).ok
    verdict = sides.settle()
    assert not verdict.ok and verdict.settled, verdict.figures
    assert verdict.reason.startswith("the reported time disagrees with the measured process")
    assert sides.fresh == 1 and 1 <= sides.pairs < MORE_PAIRS
    assert verdict.figures["champion_runs"] == 3 + sides.pairs
    assert verdict.figures["candidate_runs"] == 3 + sides.pairs


def test_an_honest_gain_left_unclear_is_kept_on_more_runs() -> None:
    # A real 100 ms CPU gain reported as 196 ms (a wall clock on a busy machine), through
    # the same 5% wobble: the extra runs show it, the candidate stays.
    sides = Sides(wobbly(0.2, 0.3, 5, 0.05), wobbly(0.004, 0.28, 3, 0.05, start=2),
                  wobbly(0.2, 0.3, 3 + MORE_PAIRS, 0.05, start=1),
                  wobbly(0.004, 0.2, 3 + MORE_PAIRS, 0.05, start=5))
    verdict = sides.settle()
    assert verdict.ok and verdict.settled


def test_a_lucky_honest_gain_is_judged_on_fresh_runs_not_on_the_runs_that_kept_it() -> None:
    # The keep rule kept the candidate on runs that came out lucky: they report 80 ms
    # against the champion's 200, while its true gain is 20 ms (10 ms of CPU, more than a
    # quarter of 20). Judged on those runs the claim looks four times too big for the
    # process (the winner's curse); fresh runs of both sides report the true gain.
    tight = 0.002
    champion = runs(0.2, 0.3, 0.3, spread=tight)
    lucky = runs(0.12, 0.29, 0.29, count=3, spread=tight)
    fresh_champion = runs(0.2, 0.3, 0.3, count=3, spread=tight)
    assert not judge(fresh_champion, lucky, 0.25).ok  # as it was judged before
    sides = Sides(champion, lucky, runs(0.2, 0.3, 0.3, spread=tight) * 2,
                  runs(0.18, 0.29, 0.29, spread=tight) * 2)
    verdict = sides.settle()
    assert verdict.ok, verdict.reason
    assert sides.fresh == 1
    assert verdict.figures["reported_gain_s"] == pytest.approx(0.02, rel=0.01)


def test_a_plainly_believed_gain_costs_no_extra_run_and_the_extra_runs_are_bounded() -> None:
    plain = Sides(runs(0.2, 0.3, 0.3), runs(0.1, 0.2, 0.2, count=3), [], [])
    assert plain.settle().ok and (plain.fresh, plain.pairs) == (0, 0)
    # CPU noise so wide that no number of runs settles it: MORE_PAIRS pairs, then the
    # benefit of the doubt.
    hopeless = Sides(wobbly(0.2, 0.3, 5, 0.5), wobbly(0.004, 0.3, 3, 0.5, start=2),
                     wobbly(0.2, 0.3, 3 + MORE_PAIRS, 0.5, start=1),
                     wobbly(0.004, 0.3, 3 + MORE_PAIRS, 0.5, start=5))
    verdict = hopeless.settle()
    assert verdict.ok and not verdict.settled
    assert (hopeless.fresh, hopeless.pairs) == (1, MORE_PAIRS)


def test_a_failed_extra_run_stops_the_extra_runs() -> None:
    sides = Sides(wobbly(0.2, 0.3, 5, 0.5), wobbly(0.004, 0.3, 3, 0.5, start=2),
                  wobbly(0.2, 0.3, 3, 0.5, start=1), wobbly(0.004, 0.3, 3, 0.5, start=2))
    calls = []
    verdict = settle(sides.verdict, sides.fresh_pairs,
                     lambda i: calls.append(i) is not None)  # the pair's run failed
    assert calls == [0] and verdict.ok


@pytest.mark.parametrize("metric, guard, on", [
    ('unit = "ms"', "", True),
    ('unit = "s"\ndirection = "higher"', "", False),
    ('unit = "KB"', "", False),
    ('unit = "ms"', "outside_clock = false", False),
    ('unit = "ms"\nkind = "other"', "", False),
    ('unit = "ns"\nkind = "time"', "", True),
    # Tools that run for a time budget: off unless switched on (their unit is seconds).
    ('unit = "ms"\nformat = "hyperfine"', "", False),
    ('format = "pytest-benchmark"', "outside_clock = true", True),
])
def test_on_for_time_metrics_unless_switched_off(tmp_path: Path, metric: str, guard: str,
                                                on: bool) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text(f'[metric]\ncommand = "true"\n{metric}\n\n[guard]\n{guard}\n')
    assert enabled(load_config(path)) is on


@pytest.mark.parametrize("metric, guard, message", [
    ('unit = ""\nkind = "time"', "", "`metric.kind` is \"time\" but `metric.unit` is ''"),
    ('unit = "KB"', "outside_clock = true", "`guard.outside_clock` needs a time metric"),
    ('unit = "ms"\ndirection = "higher"', "outside_clock = true", "needs `metric.direction"),
    ('unit = "ms"', "outside_clock_fraction = 0", "`guard.outside_clock_fraction` must be"),
])
def test_bad_outside_clock_settings_are_one_sentence(tmp_path: Path, metric: str, guard: str,
                                                     message: str) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text(f'[metric]\ncommand = "true"\n{metric}\n\n[guard]\n{guard}\n')
    with pytest.raises(UsageError, match=re.escape(message)):
        load_config(path)


# -- fingerprints ---------------------------------------------------------------------------

def test_fingerprint_lines_are_read_in_order_and_shown_briefly() -> None:
    assert parse_fingerprint("x\nMETRIC t=1\n") is None
    assert parse_fingerprint("FINGERPRINT abc123\nMETRIC t=1\n") == "abc123"
    assert parse_fingerprint("FINGERPRINT a\nnoise\n  FINGERPRINT b c \n") == "a\nb c"
    assert short("abc123") == "abc123"
    assert len(short("words=1234 vocabulary=99")) == 10


def test_a_candidate_that_drops_the_fingerprint_line_changed_its_results() -> None:
    outputs = OutputFingerprints()
    assert outputs.check("FINGERPRINT abc\n", holdout=False, unchanged=True).ok
    verdict = outputs.check("METRIC t=1\n", holdout=False, unchanged=False)
    assert not verdict.ok and verdict.reason == ("benchmark results changed: fingerprint "
                                                 "abc -> (none printed)")
    held = outputs.check("FINGERPRINT h1\n", holdout=True, unchanged=True)
    assert held.ok
    verdict = outputs.check("FINGERPRINT h2\n", holdout=True, unchanged=False)
    assert verdict.reason == "held-out results changed: fingerprint h1 -> h2"


def test_the_history_screen_shows_the_outside_clock_figures() -> None:
    from app.engine.records import Experiment, Status
    from app.screens.history import samples_text

    e = Experiment(n=2, status=Status.REJECTED, outside_clock={
        "reported_gain_s": 0.196, "cpu_stretch": 2.5, "wall_gain_s": 0.0012,
        "wall_s": 0.31, "cpu_gain_s": -0.0004, "cpu_s": 0.3, "champion_runs": 9,
        "candidate_runs": 9})
    assert ("outside clock: reported -196.0 ms, process wall -1.2 ms, CPU +0.4 ms "
            "(x2.50 for waiting), on 9 champion and 9 candidate runs") in samples_text(e).plain
    assert "outside clock" not in samples_text(Experiment(n=3, status=Status.KEEP)).plain
