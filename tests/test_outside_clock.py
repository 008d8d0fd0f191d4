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
from app.engine.measure import run_command
from app.engine.outside_clock import Run, enabled, judge
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
