"""The outside clock: the harness's own wall-clock and CPU time of each measured command
(`os.wait4` resource usage), and the rule that compares them with the reported time."""

from __future__ import annotations

import sys
from pathlib import Path

from app.engine.measure import run_command

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


def test_a_sleeping_command_takes_wall_time_but_no_cpu(tmp_path: Path) -> None:
    result = run_command("sleep 0.4", tmp_path, 30)
    assert result.ok and result.wall_s is not None and result.cpu_s is not None
    assert 0.38 <= result.wall_s < 2.0
    assert result.cpu_s < 0.1


def test_a_killed_command_has_no_outside_figures_to_trust(tmp_path: Path) -> None:
    result = run_command("sleep 5", tmp_path, 0.3)
    assert result.timed_out and result.exit_code is None
    assert result.cpu_s is None and result.wall_s is None
