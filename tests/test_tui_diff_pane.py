"""What the diff pane and the running row say when there is no change to show, or nothing
running (found driving the demo in tmux): the baseline is not "no diff yet", `.` with
nothing running shows the newest experiment, and the running row names its proposal."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.events import Event, LoopState, StateChanged
from app.tui.app import AutoresearchApp
from tests.test_tui_snapshots import replay_app
from tests.tui_replay import (
    DESCRIPTIONS,
    count_messages,
    decided_events,
    recorded_history,
    review_waiting_events,
    session_started,
    settle,
)
from widgets.diff_view import DiffView
from widgets.experiment_table import ExperimentTable

pytestmark = pytest.mark.anyio


def pane_text(app: AutoresearchApp) -> str:
    return "\n".join(str(line) for line in app.main.query_one(DiffView).lines)


async def select_row(app: AutoresearchApp, pilot: Any, n: int) -> None:
    table = app.main.query_one(ExperimentTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(str(n)))
    await pilot.press("enter")
    for _ in range(100):
        if app.main._diff_n == n:
            break
        await pilot.pause(0.02)


async def test_the_baseline_row_says_it_is_the_code_as_found_not_no_diff_yet() -> None:
    events = review_waiting_events()
    app, _ = replay_app(events, review=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        # The running row names the proposal that waits, as the workers' rows do.
        table = app.main.query_one(ExperimentTable)
        assert [c.plain for c in table.get_row("6")][-2:] == ["waiting (a/v)",
                                                              DESCRIPTIONS[6]]
        await select_row(app, pilot, 0)
        assert app.main.diff_title() == "#0 · baseline", "not '#0 · baseline · baseline'"
        text = pane_text(app)
        assert "the baseline" in text and "no diff yet" not in text, text
        await pilot.press("full_stop")  # back to #6's proposal: the usual placeholder text
        assert app.main.showing_proposal(6)
        app.controller.stop()


async def test_dot_with_nothing_running_shows_the_newest_experiment() -> None:
    history = recorded_history()
    events: list[Event] = [session_started(), *decided_events(history, toasts=False),
                           StateChanged(LoopState.PAUSED, "")]
    app, _ = replay_app(events)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        await select_row(app, pilot, 1)
        assert app.main.diff_title().startswith("#1 · keep")
        await pilot.press("full_stop")
        for _ in range(100):
            if app.main._diff_n == 5:
                break
            await pilot.pause(0.02)
        assert app.main.diff_title().startswith("#5 · vetoed"), app.main.diff_title()
        assert "#5 (vetoed) left no change" in pane_text(app), pane_text(app)
        app.controller.stop()


async def test_an_experiment_decided_with_no_change_does_not_say_no_diff_yet() -> None:
    """#5 (vetoed before any diff) ends the session: the pane under the summary said "no
    diff yet: the agent's changes appear here as it writes them"."""
    from tests.tui_replay import ended_events

    events = ended_events()
    app, _ = replay_app(events)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        assert app.main.diff_title().startswith("#5 · vetoed")
        text = pane_text(app)
        assert "#5 (vetoed) left no change" in text and "no diff yet" not in text, text
        app.controller.stop()
