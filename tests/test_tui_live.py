"""The TUI against things that happen while the user looks: a slow diff load racing a newer
selection, log warnings, experiments decided while the history screen is open."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Select

from app.engine.events import ExperimentDecided
from app.engine.records import Status
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.conftest import Project
from tests.tui_replay import (
    DIFFS,
    ReplaySource,
    commit_id,
    count_messages,
    experiment,
    fixed_clock,
    recorded_history,
    session_started,
    settle,
)
from widgets.diff_view import DiffView
from widgets.experiment_table import ExperimentTable

pytestmark = pytest.mark.anyio


class SlowDiffSource(ReplaySource):
    """Reading #1's diff takes `delay` seconds (a cold git object store); the others are
    instant."""

    delay = 1.0

    def diff_of(self, n: int, tag: str | None = None) -> str:
        if n == 1:
            time.sleep(self.delay)
        return DIFFS.get(n, "")


async def test_a_slow_diff_does_not_overwrite_the_row_selected_since() -> None:
    # A resumed session: no diff is cached, every selection loads from the source.
    events = [session_started(recorded_history())]
    source = SlowDiffSource(events)
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))
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

    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session
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
    app = make_app(AppOptions(open_source=lambda: open_session(LaunchOptions(cwd=project.root,
                                                                          tag=tag)),
                          paused=True, clock=fixed_clock))
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


class GatedSource(ReplaySource):
    """Replays `events`, then each batch of `later` when the test opens the gate."""

    def __init__(self, events: list[Any], later: list[list[Any]]) -> None:
        super().__init__(events)
        self.later = later
        self.gate = threading.Semaphore(0)

    def run(self, sink: Any, controller: Any) -> int:
        for event in self.events:
            sink(event)
        for batch in self.later:
            while not self.gate.acquire(timeout=0.05):
                if controller.stopping:
                    return 0
            for event in batch:
                sink(event)
        while not controller.stopping:
            controller.cancel.wait(0.05)
        return 0


def decided(n: int, status: Status, metric: float | None) -> ExperimentDecided:
    return ExperimentDecided(experiment(n, status, metric, 590.0), commit_id(3))


def history_rows(app: AutoresearchApp) -> list[str]:
    from app.screens.history import HistoryScreen

    assert isinstance(app.screen, HistoryScreen)
    return list(app.screen.rows)


async def test_history_shows_experiments_decided_while_it_is_open() -> None:
    from app.screens.history import HistoryScreen

    events = [session_started(recorded_history())]
    later = [[decided(6, Status.DISCARD, 600.0)],
             [decided(7, Status.KEEP, 580.0), decided(8, Status.DISCARD, 610.0)],
             [decided(9, Status.KEEP, 570.0)]]
    source = GatedSource(events, later)
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        await pilot.press("h")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert history_rows(app)[-1] == "nov27:5"
        table = screen.query_one("#history-table", ExperimentTable)
        assert table.selected_key() == "nov27:5"  # on the newest: it follows

        source.gate.release()
        await settle(app, count_messages(events) + 1, pilot)
        assert history_rows(app)[-1] == "nov27:6"
        assert table.selected_key() == "nov27:6"

        # Reading an older one: the selection stays where the user put it.
        table.move_cursor(row=2)
        await pilot.pause(0.1)
        assert table.selected_key() == "nov27:2"
        # A filter: only keeps. #8 (a discard) must not appear, #7 must.
        screen.query_one("#status-filter", Select).value = "keep"
        await pilot.pause(0.2)
        assert history_rows(app) == ["nov27:1", "nov27:3"]
        table.move_cursor(row=0)
        source.gate.release()
        await settle(app, count_messages(events) + 3, pilot)
        assert history_rows(app) == ["nov27:1", "nov27:3", "nov27:7"]
        assert table.selected_key() == "nov27:1"
        assert "nov27:8" not in history_rows(app)
        app.controller.stop()


async def test_history_keeps_its_row_window_as_experiments_arrive() -> None:
    from app.screens.history import HistoryScreen

    events = [session_started(recorded_history())]
    later = [[decided(n, Status.DISCARD, 600.0 + n) for n in range(6, 9)]]
    source = GatedSource(events, later)
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        await app.push_screen(HistoryScreen(view=app.view, max_rows=4))
        await pilot.pause(0.2)
        assert history_rows(app) == ["nov27:2", "nov27:3", "nov27:4", "nov27:5"]
        source.gate.release()
        await settle(app, count_messages(events) + 3, pilot)
        assert history_rows(app) == ["nov27:5", "nov27:6", "nov27:7", "nov27:8"]
        table = app.screen.query_one("#history-table", ExperimentTable)
        assert table.row_count == 4 and table.total == 9
        assert "newest 4 of 9" in str(table.border_subtitle)
        app.controller.stop()
