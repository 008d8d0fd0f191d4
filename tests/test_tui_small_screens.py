"""What a small (80x24) or a wide terminal shows (issue 19 item 10): the footer keeps
`q Quit` and `? Help` on every screen, the history gives the session column's room to the
description, and the chart's y labels name the values of the points on their rows."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from textual.app import App, ComposeResult

from app.engine.records import Status
from app.screens.history import HistoryScreen
from tests.conftest import Project
from tests.test_tui_engine import engine_app, finish, story, until
from tests.test_tui_history_keys import open_history, replay, settled
from tests.tui_replay import experiment, recorded_history
from widgets.experiment_table import ExperimentTable
from widgets.metric_chart import MetricChart

pytestmark = pytest.mark.anyio
__all__ = ["story"]  # the fixture, imported for pytest


async def footer_line(app: Any, pilot: Any, until: str = "Quit") -> str:
    """The footer as drawn: the text of its row on the screen (once it has keys: it
    recomposes after the keys that apply settle)."""
    from textual.widgets import Footer

    for _ in range(100):
        footer = app.screen.query_one(Footer)
        text: str = app.screen._compositor.render_strips()[footer.region.y].text
        if until in text:
            break
        await pilot.pause(0.05)
    return text


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (160, 40)])
async def test_the_history_footer_keeps_help_and_quit_at_every_width(
        size: tuple[int, int]) -> None:
    app = replay()
    async with app.run_test(size=size) as pilot:
        await settled(app, pilot)
        line = await footer_line(app, pilot)
        assert "? Help" in line and "q Quit" in line
        await open_history(app, pilot)
        line = await footer_line(app, pilot)
        for key in ("esc Back", "/ Search", "c Cherry-pick", "? Help", "q Quit"):
            assert key in line, f"{key!r} missing from the footer at {size}: {line!r}"
        assert not re.search(r"\bq\s*$", line.split("^p")[0].rstrip()), "a bare q"
        await pilot.press("p")  # the loop's keys still work there, out of the footer
        assert app.controller.paused


async def test_the_history_drops_the_session_column_at_80_columns() -> None:
    app = replay()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_history(app, pilot)
        await pilot.pause(0.3)
        table = screen.query_one("#history-table", ExperimentTable)
        assert "session" not in [str(c.key.value) for c in table.columns.values()]
        other = list(screen.rows).index("nov20:1")
        description = table.get_row_at(other)[-1].plain
        assert description.startswith("nov20: "), "another session's row names its session"
        mine = list(screen.rows).index("nov27:1")
        assert not table.get_row_at(mine)[-1].plain.startswith("nov27")
        await pilot.resize_terminal(140, 36)
        await pilot.pause(0.3)
        assert "session" in [str(c.key.value) for c in table.columns.values()]
        assert isinstance(app.screen, HistoryScreen)


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MetricChart()


@pytest.mark.parametrize("size", [(40, 9), (50, 16), (70, 30)])
async def test_chart_labels_name_the_value_of_the_point_on_their_row(
        size: tuple[int, int]) -> None:
    history = recorded_history() + [experiment(6, Status.DISCARD, 700.0, 590.0),
                                    experiment(7, Status.KEEP, 570.0, 590.0)]
    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(MetricChart)
        chart.set_experiments(history)
        await pilot.pause(0.5)
        assert chart._plot is not None
        lines = chart._plot.render().plain.splitlines()  # type: ignore[union-attr]
        labelled = {}
        for line in lines:
            match = re.match(r"\s*([\d.,]+)\s*[┤├]", line)
            if match:
                labelled[float(match.group(1).replace(",", ""))] = line
        assert {812.0, 570.0} <= set(labelled), "the baseline and the best are named"
        values = {e.metric for e in history if e.metric is not None}
        for value, line in labelled.items():
            assert value in values, f"label {value} is no point's value"
            plot = line[re.match(r"\s*[\d.,]+\s*[┤├]", line).end():]  # type: ignore[union-attr]
            assert "●" in plot or "•" in plot, f"no point on the row labelled {value}"


async def test_the_main_footer_keeps_quit_at_80_columns_while_a_proposal_waits() -> None:
    from app.tui.launch import make_app
    from app.tui.state import AppOptions
    from tests.tui_replay import ReplaySource, count_messages, fixed_clock, review_waiting_events

    events = review_waiting_events()
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock,
                              review=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.sleep(0)
        for _ in range(500):
            if app.events_seen >= count_messages(events):
                break
            await pilot.pause(0.01)
        line = await footer_line(app, pilot, until="Approve")
        for key in ("a Approve", "v Veto", "? Help", "q Quit"):
            assert key in line, f"{key!r} missing at 80x24: {line!r}"


class StatusHost(App[None]):
    """A StatusLine alone, on a fixed clock."""

    def compose(self) -> ComposeResult:
        from widgets.status_line import StatusLine

        yield StatusLine(clock=lambda: 100.0)


async def test_the_status_line_keeps_the_metric_row_when_the_first_row_is_long() -> None:
    from widgets.status_line import StatusInfo, StatusLine

    app = StatusHost()
    async with app.run_test(size=(80, 4)) as pilot:
        line = app.query_one(StatusLine)
        line.update_info(StatusInfo(
            tag="nov29", branch="autoresearch/nov29", state="measuring",
            detail="outside clock: champion 2 of 5", n=6, state_since=90.0, metric_name="time_ms",
            unit="ms", baseline=126.4, best=49.86, counts={"baseline": 1, "keep": 2},
            session_since=0.0))
        await pilot.pause(0.1)
        rows = [strip.text for strip in app.screen._compositor.render_strips()]
        assert "measuring the champion by the outside clock, run 2 of 5" in rows[0]
        assert "time_ms 126.4 → 49.86 ms" in rows[1], rows[:2]


async def test_the_palette_hint_leaves_the_main_footer_when_the_terminal_narrows() -> None:
    app = replay()
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(app, pilot)
        assert "^p palette" in await footer_line(app, pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        line = await footer_line(app, pilot)
        assert "palette" not in line and "q Quit" in line, line


STATUS_AT_80 = {
    "measuring, a pause on its way": (
        dict(state="measuring", detail="2 of 3", n=6, pause_requested=True, review=True,
             isolation="bwrap, no network", branch="autoresearch/nov29-night"),
        ["measuring", "#6", "paus", " REVIEW "]),
    "the champion by the outside clock": (
        dict(state="measuring", detail="outside clock: champion 2 of 5", n=16,
             pause_requested=True, review=True, isolation="none (bwrap is not installed)",
             branch="autoresearch/nov29", queued=("#3", "nov20#4"),
             notes=("keep the parser",)),
        ["measuring", "#16", "paus", " REVIEW ", " NOTE ", "no sandbox", "queued"]),
    "parallel workers, others waiting": (
        dict(state="measuring", detail="outside clock: champion 2 of 5", n=16, worker="w1",
             workers=3, pause_requested=True, review=True, others_waiting=("w2", "w3"),
             isolation="bwrap, no network", branch="autoresearch/nov29"),
        ["w1 measuring", "#16", "pausing all", "w2,w3 waiting (2/3)", " REVIEW "]),
    "paused": (
        dict(state="paused", n=None, review=True, started=True, pause_requested=True,
             isolation="bwrap, no network", branch="autoresearch/nov29"),
        ["paused", "to resume", " REVIEW "]),
}


@pytest.mark.parametrize("case", list(STATUS_AT_80))
async def test_nothing_important_in_the_status_line_is_cut_at_80_columns(case: str) -> None:
    """At 80 columns the REVIEW badge read "RE…" while a pause waited: the least important
    parts (branch, sandbox details, long wording, durations) give way, never the state, the
    pause, a badge or a waiting worker's key, and nothing is cut mid-word."""
    from widgets.status_line import StatusInfo, StatusLine

    fields, wanted = STATUS_AT_80[case]
    app = StatusHost()
    async with app.run_test(size=(80, 4)) as pilot:
        line = app.query_one(StatusLine)
        line.update_info(StatusInfo(tag="nov29", state_since=90.0, metric_name="time_ms",
                                    baseline=126.4, best=49.86, session_since=0.0,
                                    counts={"baseline": 1, "keep": 2}, **fields))
        await pilot.pause(0.1)
        first = app.screen._compositor.render_strips()[0].text
        for part in wanted:
            assert part in first, f"{part!r} is cut: {first!r}"
        assert "…" not in first, first


async def test_review_badge_whole_at_80x24_while_a_pause_waits_real_engine(
        story: Project) -> None:
    """The real app at 80x24 in review mode: p while #1 waits for approval, then a (#1 is
    measured, the pause waits for its decision): the first row keeps the REVIEW badge and
    the pause whole in every frame seen."""
    app = engine_app(story, review=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.view.state == "waiting for approval", "proposal #1")
        await pilot.press("p")
        await pilot.pause(0.1)

        def first_row() -> str:
            return str(app.screen._compositor.render_strips()[0].text)

        row = first_row()
        assert " REVIEW " in row and "(paus" in row and "#1" in row, row
        assert "…" not in row, row
        await pilot.press("a")
        seen = []
        while app.view.state != "paused":
            row = first_row()
            if app.view.state not in ("waiting for approval", "paused"):
                seen.append(row)
                assert " REVIEW " in row and "paus" in row, row
                # (after #1's decision the loop may still check the new champion: no #n)
                assert "#1" in row or app.view.current != 1, row
            await pilot.pause(0.02)
        row = first_row()
        assert "paused (press p to resume)" in row and " REVIEW " in row, row
        await finish(app)
