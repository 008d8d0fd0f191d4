"""Snapshot tests of the TUI's screens, fed from recorded events (tests/tui_replay.py) with a
fixed clock and fixed commit ids, so every run draws the same picture.

Update the pictures after an intended change with `pytest --snapshot-update` and look at
them (`snapshot_report.html` shows the differences).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from app.engine.events import Event
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.tui_replay import (
    ReplaySource,
    count_messages,
    ended_events,
    fixed_clock,
    mid_run_events,
    recorded_history,
    review_waiting_events,
)
from widgets.experiment_table import ExperimentTable


def replay_app(events: list[Event], **options: Any) -> tuple[AutoresearchApp, ReplaySource]:
    source = ReplaySource(events, block=options.pop("block", True),
                          other=options.pop("other", []))
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock, **options))
    return app, source


def settled(app: AutoresearchApp, events: list[Event],
            then: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """A `run_before` that waits until the App has handled every recorded event."""

    async def run_before(pilot: Any) -> None:
        expected = count_messages(events)
        for _ in range(400):
            if app.events_seen >= expected:
                break
            await asyncio.sleep(0.01)
        assert app.events_seen >= expected, "the recorded events were not all handled"
        await pilot.pause()
        app.clear_notifications()
        if then is not None:
            await then(pilot)
        # A table scrolls to its newest row when idle: under load that can come after the
        # pauses below (the third worker's row was not yet in view in one CI run).
        for _ in range(500):
            if not any(t.scroll_pending for t in app.screen.query(ExperimentTable)):
                break
            await pilot.pause(0.01)
        # DataTable recomputes column widths on idle and the chart mounts its plot after the
        # first frame: let both settle, then repaint everything once before the picture.
        await pilot.pause(0.3)
        for widget in app.screen.walk_children():
            widget.refresh()
        await pilot.pause(0.1)
        await pilot.pause()
        # Then until two frames 0.1 s apart are the same: what is still settling (a scroll
        # after a refresh, on a loaded machine) is not caught half-way.
        frame = app.export_screenshot()
        for _ in range(50):
            await pilot.pause(0.1)
            again = app.export_screenshot()
            if again == frame:
                break
            frame = again

    return run_before


class TestMainScreen:
    def test_mid_run(self, snap_compare: Any) -> None:
        events = mid_run_events()
        app, _ = replay_app(events)
        assert snap_compare(app, terminal_size=(120, 36), run_before=settled(app, events))

    def test_mid_run_80x24(self, snap_compare: Any) -> None:
        events = mid_run_events()
        app, _ = replay_app(events)
        assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app, events))

    def test_mid_run_80x24_without_a_sandbox(self, snap_compare: Any) -> None:
        """The status line names the isolation in force: here none, and why (issue #11)."""
        events = mid_run_events(isolation="none (bubblewrap (bwrap) is not installed)")
        app, _ = replay_app(events)
        assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app, events))

    def test_mid_run_with_bwrap(self, snap_compare: Any) -> None:
        events = mid_run_events(isolation="bwrap, no network")
        app, _ = replay_app(events)
        assert snap_compare(app, terminal_size=(120, 36), run_before=settled(app, events))

    def test_review_mode_waiting(self, snap_compare: Any) -> None:
        events = review_waiting_events()
        app, _ = replay_app(events, review=True)
        assert snap_compare(app, terminal_size=(120, 36), run_before=settled(app, events))


class TestHistoryScreen:
    def test_history_with_another_session(self, snap_compare: Any) -> None:
        events = mid_run_events()
        older = [e for e in recorded_history()[:3]]
        app, _ = replay_app(events, other=[("nov20", older)])

        async def open_history(pilot: Any) -> None:
            await pilot.press("h")
            await pilot.pause(0.2)
            await pilot.press("up")  # #5 -> #4... the table starts on the newest
            await pilot.pause(0.2)

        assert snap_compare(app, terminal_size=(120, 36),
                            run_before=settled(app, events, open_history))


    def test_history_80x24(self, snap_compare: Any) -> None:
        events = mid_run_events()
        older = [e for e in recorded_history()[:3]]
        app, _ = replay_app(events, other=[("nov20", older)])

        async def open_history(pilot: Any) -> None:
            await pilot.press("h")
            await pilot.pause(0.2)
            await pilot.press("G")  # the other session's newest row

        assert snap_compare(app, terminal_size=(80, 24),
                            run_before=settled(app, events, open_history))


class TestHelpScreen:
    def test_help(self, snap_compare: Any) -> None:
        events = mid_run_events()
        app, _ = replay_app(events)

        async def open_help(pilot: Any) -> None:
            await pilot.press("question_mark")

        assert snap_compare(app, terminal_size=(110, 40), run_before=settled(app, events,
                                                                             open_help))


class TestSummary:
    def test_end_of_session_summary(self, snap_compare: Any) -> None:
        events = ended_events()
        app, _ = replay_app(events, block=False)
        assert snap_compare(app, terminal_size=(120, 36), run_before=settled(app, events))
