"""Ctrl+C in the TUI does what the README says (issue 19 item 11): the running experiment
is recorded as `interrupted`, the worktree returns to the champion, exit status 130."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.engine.history import read_log
from app.engine.records import Status
from tests.conftest import Project
from tests.test_tui_engine import SIZE, engine_app, state, story, until
from tests.test_tui_tmux import capture, demo_in_tmux, wait_for

__all__ = ["story"]  # the fixture, imported for pytest


@pytest.mark.anyio
async def test_ctrl_c_records_interrupted_and_exits_130(story: Project) -> None:
    app = engine_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "waiting for approval", "proposal #1")
        await pilot.press("ctrl+c")  # no question first: that is q
        await until(pilot, lambda: not app.is_running, "the app to exit", timeout=30)
    assert app.return_value == 130
    assert app.source is not None
    experiments = read_log(Path(app.source.state_dir) / "log.jsonl").experiments  # type: ignore[attr-defined]
    assert experiments[-1].n == 1 and experiments[-1].status is Status.INTERRUPTED
    worktree = Path(app.source.worktree)  # type: ignore[attr-defined]
    changes = subprocess.run(["git", "status", "--porcelain"], cwd=worktree,
                             capture_output=True, text=True, check=True).stdout
    assert changes == "", "the worktree is back at the champion"


@pytest.mark.tmux
@pytest.mark.slow
def test_ctrl_c_in_a_real_terminal_exits_130(tmp_path: Path) -> None:
    session, demo = demo_in_tmux(tmp_path)
    try:
        wait_for(session, "experiment #1", 120)  # the baseline is in; #1 has begun
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        screen = wait_for(session, "EXIT=", 60)
        assert "EXIT=130" in screen, screen
        assert "Traceback" not in capture(session)
        logs = list((demo / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
        assert len(logs) == 1
        experiments = read_log(logs[0]).experiments
        assert experiments[-1].status is Status.INTERRUPTED and experiments[-1].n >= 1
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False,
                       capture_output=True)
