"""The TUI against things that happen while the user looks: a slow diff load racing a newer
selection, log warnings, experiments decided while the history screen is open."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.engine.records import Experiment
from app.tui import AutoresearchApp
from tests.conftest import Project
from tests.tui_replay import (DIFFS, ReplaySource, count_messages, fixed_clock,
                              recorded_history, session_started)
from widgets.diff_view import DiffView

pytestmark = pytest.mark.anyio


async def settle(app: AutoresearchApp, expected: int, pilot: Any) -> None:
    for _ in range(500):
        if app.events_seen >= expected:
            break
        await asyncio.sleep(0.01)
    assert app.events_seen >= expected
    await pilot.pause(0.1)


class SlowDiffSource(ReplaySource):
    """Reading #1's diff takes `delay` seconds (a cold git object store); the others are
    instant."""

    delay = 1.0

    def diff_of(self, n: int) -> str:
        if n == 1:
            time.sleep(self.delay)
        return DIFFS.get(n, "")


async def test_a_slow_diff_does_not_overwrite_the_row_selected_since() -> None:
    # A resumed session: no diff is cached, every selection loads from the source.
    events = [session_started(recorded_history())]
    source = SlowDiffSource(events)
    app = AutoresearchApp(open_source=lambda: source, clock=fixed_clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        table = app.main.query_one("ExperimentTable")
        table.focus()
        table.move_cursor(row=1)  # #1: slow
        await pilot.press("enter")
        await pilot.pause(0.1)
        table.move_cursor(row=2)  # #2: instant
        await pilot.press("enter")
        await pilot.pause(0.2)
        view = app.main.query_one(DiffView)
        assert view.diff == DIFFS[2]
        await pilot.pause(source.delay + 0.3)  # the slow load of #1 has finished by now
        assert view.diff == DIFFS[2], "the stale diff of #1 replaced the selected #2"
        assert app.main.diff_title().startswith("#2 ")
        app.controller.stop()


async def test_log_load_warnings_show_as_a_toast_and_in_the_activity_pane(
        project: Project) -> None:
    """A torn line at the end of the log (power loss) is skipped with a warning that the
    headless mode printed and the TUI dropped."""
    import os
    import subprocess
    import sys

    from app.engine.runner import open_engine
    from widgets.activity_log import ActivityLog

    project.config(calibration_runs=1, repeats=1, max_repeats=1)
    project.commit("fast config")
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless",
                           "--max-experiments", "1"], cwd=project.root, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    (log,) = (project.root / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl")
    lines = log.read_text().count("\n")
    with log.open("a") as handle:
        handle.write('{"type": "experiment", "n": 1, "sta')  # torn mid-write
    tag = log.parent.name
    app = AutoresearchApp(open_source=lambda: open_engine(cwd=project.root, tag=tag),
                          paused=True, clock=fixed_clock)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        deadline = time.monotonic() + 30
        while not app.view.tag and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        warning = f"line {lines + 1} is not a complete JSON record"
        assert any(warning in n.message for n in app._notifications), \
            [n.message for n in app._notifications]
        activity = app.main.query_one(ActivityLog)
        assert any(warning in line and line.startswith("note") for line in activity.lines), \
            activity.lines
        app.controller.stop()
        assert app.loop_finished.wait(20)
