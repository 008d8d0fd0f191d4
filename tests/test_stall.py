"""The stall stop (`[session] stop_after_no_gain`, app/engine/stall.py): a session whose
ideas have run dry ends normally, with the reason in the summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import load_config
from app.engine.history import read_log
from app.engine.records import Experiment, Status
from app.engine.stall import experiments_without_gain, stall_reason
from app.errors import UsageError
from tests.conftest import Project, run_session

REASON = "no gain in the last 2 experiments (stop_after_no_gain = 2)"


def stalling(project: Project) -> None:
    project.patch("01-keep.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.patch("02-worse.patch", {"nums/b.txt": "30\n"}, "grow b")
    (project.root / "patches" / "03-bad.patch").write_text(  # an agent error: not counted
        "diff --git a/nope.txt b/nope.txt\n--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-a\n+b\n")
    project.patch("04-worse.patch", {"nums/c.txt": "5\n"}, "add c")
    project.patch("05-keep.patch", {"nums/a.txt": "1\n"}, "never tried")
    text = (project.root / "autoresearch.toml").read_text()
    (project.root / "autoresearch.toml").write_text(
        text.replace("[metric]", "[session]\nstop_after_no_gain = 2\n\n[metric]", 1))
    project.commit("patches, stall stop")


def test_headless_ends_with_exit_0_and_says_why(project: Project) -> None:
    stalling(project)
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless"],
                          cwd=project.root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    # The stall stop is not a budget: it has its own label.
    assert f"stalled: {REASON}" in done.stdout and "budget:" not in done.stdout
    summary = [line for line in done.stdout.splitlines() if line.startswith("session ")]
    assert summary and REASON in summary[-1]
    logs = list((project.root / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
    contents = read_log(logs[0])
    assert [(e.n, str(e.status)) for e in contents.experiments] == [
        (0, "baseline"), (1, "keep"), (2, "discard"), (3, "agent_error"), (4, "discard")]
    end = contents.of_type("session_end")[-1]
    assert end["finished"] is True and end["exit_status"] == 0 and REASON in end["reason"]


def test_the_tui_summary_says_why(project: Project) -> None:
    from app.engine.events import SessionEnded
    from app.screens.modals import summary_text

    stalling(project)
    status, events, engine = run_session(project)
    assert status == 0
    ended = next(e for e in events if isinstance(e, SessionEnded))
    assert REASON in ended.reason
    from app.engine.events import BudgetReached
    from app.tui.bridge import notice_text

    stop = next(e for e in events if isinstance(e, BudgetReached))
    assert notice_text(stop).startswith(f"Stalled: {REASON}")
    assert f"Why it ended: {ended.reason}" in summary_text(ended.summary, engine.tag).plain


def test_what_counts_towards_a_stall() -> None:
    def run(*statuses: Status) -> list[Experiment]:
        return [Experiment(n=i, status=s) for i, s in enumerate(statuses)]

    assert experiments_without_gain(run(Status.BASELINE, Status.DISCARD, Status.CRASH)) == 2
    assert experiments_without_gain(run(Status.BASELINE, Status.DISCARD, Status.KEEP)) == 0
    assert experiments_without_gain(run(Status.DISCARD, Status.VETOED, Status.DUPLICATE,
                                        Status.AGENT_ERROR, Status.INTERRUPTED)) == 3
    assert experiments_without_gain(run(Status.DISCARD, Status.BASELINE)) == 0  # new baseline
    assert stall_reason(run(Status.BASELINE, Status.DISCARD), 0) == ""
    assert stall_reason(run(Status.BASELINE, Status.DISCARD), 2) == ""
    assert stall_reason(run(Status.BASELINE, Status.DISCARD, Status.DISCARD), 2).startswith(
        REASON)


def test_a_negative_stall_limit_is_one_clear_sentence(tmp_path: Path) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text('[session]\nstop_after_no_gain = -1\n\n[metric]\ncommand = "true"\n')
    with pytest.raises(UsageError, match="`session.stop_after_no_gain` must be 0"):
        load_config(path)
