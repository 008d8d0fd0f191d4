"""The reusable widgets on their own: each mounted in a small App and given records."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from textual.app import App, ComposeResult

from app.engine.records import Experiment, Status
from widgets.activity_log import ActivityLog
from widgets.diff_view import DiffView
from widgets.experiment_table import ExperimentTable, format_delta, format_number
from widgets.metric_chart import ChartPoint, MetricChart, bin_points, champion_steps, integer_ticks
from widgets.status_line import StatusInfo, StatusLine, format_duration

pytestmark = pytest.mark.anyio


class Host(App[None]):
    def __init__(self, *widgets: Any) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self.widgets


def exp(n: int, status: Status, metric: float | None, champion: float | None = None,
        **extra: Any) -> Experiment:
    return Experiment(n=n, status=status, metric=metric, champion_metric=champion,
                      commit=f"{n:040x}", candidate=f"{n:040x}", **extra)


def test_widgets_and_the_tui_module_import_no_heavy_modules() -> None:
    code = ("import sys, app.tui.app, app.tui.launch, app.screens.main, app.screens.history, "
            "widgets.metric_chart;"
            "heavy = [m for m in ('pygit2', 'anthropic', 'plotext', 'textual_plotext') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_diff_view_shows_the_first_part_and_says_how_much_is_hidden() -> None:
    files = "".join(f"diff --git a/f{i}.py b/f{i}.py\n--- a/f{i}.py\n+++ b/f{i}.py\n"
                    "@@ -1 +1 @@\n-old\n+new\n" for i in range(20_000))
    view = DiffView(max_lines=500)
    async with Host(view).run_test(size=(80, 20)) as pilot:
        view.set_diff(files)
        await pilot.pause()
        assert view.line_count == 501
        assert view.hidden_lines == 120_000 - 500
        assert view.lines[-1].startswith("… 119,500 more lines not shown in 19,916 more files")
        assert DiffView.role_of("+new") == "added" and DiffView.role_of("-old") == "removed"
        assert DiffView.role_of("@@ -1 +1 @@") == "hunk"
        assert DiffView.role_of("+++ b/x") == "file"
        view.set_diff("")
        assert view.hidden_lines == 0 and view.line_count == 0


async def test_diff_view_colours_added_and_removed_lines_differently() -> None:
    view = DiffView()
    async with Host(view).run_test(size=(60, 10)) as pilot:
        view.set_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n")
        await pilot.pause()
        removed = view.render_line(3)
        added = view.render_line(4)
        assert removed.text.startswith("-old") and added.text.startswith("+new")
        assert removed._segments[0].style.color != added._segments[0].style.color


async def test_activity_log_is_bounded_and_joins_streamed_text() -> None:
    log = ActivityLog(max_lines=100)
    async with Host(log).run_test(size=(80, 10)) as pilot:
        log.add_lines("bench", [f"line {i}" for i in range(1000)])
        await pilot.pause()
        assert log.line_count <= 101
        assert "line 999" in log.lines[-2] or "line 999" in log.lines[-1]
        log.add_agent_text("Thinking about ")
        log.add_agent_text("the loop.\nNext")
        assert any(line.endswith("Thinking about the loop.") for line in log.lines)
        assert not any(line.endswith("Next") for line in log.lines)
        log.add_rule("experiment #3")  # flushes the unfinished line first
        assert any(line.endswith("Next") for line in log.lines)
        assert "experiment #3" in log.lines[-2] or "experiment #3" in log.lines[-1]


async def test_activity_log_keeps_following_the_end() -> None:
    log = ActivityLog(max_lines=500)
    async with Host(log).run_test(size=(60, 8)) as pilot:
        for batch in range(30):
            log.add_lines("bench", [f"batch {batch} line {i}" for i in range(40)])
            await pilot.pause()
        assert log.scroll_y == log.max_scroll_y > 0


async def test_activity_log_follows_across_resizes_but_not_after_scrolling_up() -> None:
    log = ActivityLog(max_lines=500)
    async with Host(log).run_test(size=(60, 12)) as pilot:
        log.add_lines("bench", [f"a {i}" for i in range(100)])
        await pilot.pause()
        await pilot.resize_terminal(60, 6)  # the end moves; following must not stop
        await pilot.pause()
        log.add_lines("bench", [f"b {i}" for i in range(10)])
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        log.scroll_to(y=10, animate=False, immediate=True)  # the user reads older lines
        log.add_lines("bench", [f"c {i}" for i in range(10)])
        await pilot.pause()
        assert log.scroll_y == 10


async def test_experiment_table_rows_newest_visible_and_running_row() -> None:
    table = ExperimentTable(metric_name="ms", direction="lower")
    async with Host(table).run_test(size=(140, 8)) as pilot:
        table.set_experiments([exp(0, Status.BASELINE, 100.0)] + [
            exp(n, Status.DISCARD, 101.0, 100.0, description=f"idea {n}") for n in range(1, 30)])
        table.set_running(30, "proposing")
        await pilot.pause(0.1)
        assert table.row_count == 31
        assert table.cursor_row == 30 and table.scroll_y == table.max_scroll_y > 0
        assert table.selected() is None  # the running row has no record yet
        table.add_experiment(exp(30, Status.KEEP, 90.0, 100.0, description="faster",
                                 metrics={"ms": 90.0, "mem": 3.0}))
        await pilot.pause()
        assert table.row_count == 31 and table.running is None
        row = [cell.plain for cell in table.get_row("30")]
        assert row[:4] == ["30", f"{30:040x}"[:7], "90", "-10.0%"]
        assert "mem=3" in row[4] and row[5] == "keep" and row[6] == "faster"
        keep_style = table.get_row("30")[5].style
        discard_style = table.get_row("1")[5].style
        assert keep_style and keep_style != discard_style


async def test_experiment_table_orders_rows_by_number_whatever_the_decision_order() -> None:
    """Parallel workers decide out of order (#3 before #1, a slow #2 last): the rows stay in
    number order, in-flight ones at their place, and the row the user looks at stays under
    the cursor as rows arrive above it; a resumed log in any order is shown by number."""
    table = ExperimentTable(metric_name="ms", direction="lower", limit=3)
    async with Host(table).run_test(size=(140, 10)) as pilot:
        def keys() -> list[str]:
            return [str(row.key.value) for row in table.ordered_rows]

        table.set_experiments([exp(0, Status.BASELINE, 100.0)])
        table.set_in_flight({1: ("proposing", "w1"), 2: ("measuring", "w2 · b"),
                             3: ("waiting (a/v)", "w3 · c")})
        assert keys() == ["0", "1", "2", "3"]
        assert table.get_row("2")[-1].plain == "w2 · b"
        table.add_experiment(exp(3, Status.KEEP, 90.0, 100.0, description="c"))
        table.set_in_flight({1: ("measuring", "w1"), 2: ("measuring", "w2 · b"),
                             4: ("proposing", "w3")})
        assert keys() == ["0", "1", "2", "3", "4"]
        assert table.get_row("1")[-2].plain == "measuring"
        table.move_cursor(row=table.get_row_index("3"))  # the user looks at #3
        table.add_experiment(exp(1, Status.DISCARD, 99.0, 90.0))
        await pilot.pause()
        assert keys() == ["0", "1", "2", "3", "4"]
        assert table.selected_key() == "3", "the row under the cursor moved"
        # The limit drops the lowest number, not the first decided.
        table.add_experiment(exp(2, Status.DISCARD, 98.0, 90.0))
        table.set_in_flight({4: ("measuring", "w3")})
        assert keys() == ["1", "2", "3", "4"] and len(table.experiments) == 3
        table.set_in_flight({})
        table.set_experiments([exp(n, Status.DISCARD, 1.0, 1.0) for n in (0, 3, 1, 2)])
        assert keys() == ["1", "2", "3"], "the newest three by number"


async def test_experiment_table_leaves_the_cursor_where_the_user_put_it() -> None:
    table = ExperimentTable()
    async with Host(table).run_test(size=(140, 8)) as pilot:
        table.set_experiments([exp(n, Status.DISCARD, 1.0, 1.0) for n in range(10)])
        await pilot.pause()
        table.move_cursor(row=2)
        table.add_experiment(exp(10, Status.DISCARD, 1.0, 1.0))
        await pilot.pause()
        assert table.cursor_row == 2 and table.selected().n == 2  # type: ignore[union-attr]


def test_formats() -> None:
    assert format_number(None) == "–" and format_number(0.1234567) == "0.1235"
    assert format_number(12345.6) == "12,346" and format_number(1e-5) == "1e-05"
    assert format_delta(-0.1) == "-10.0%" and format_delta(None) == "–"
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"


def test_binning_keeps_each_status_and_the_best_of_each_bin() -> None:
    points = [ChartPoint(n, 100.0 - (n % 7), "discard") for n in range(10_000)]
    points[5000] = ChartPoint(5000, 50.0, "keep")
    shown = bin_points(points, 100, "lower")
    assert len(shown) <= 2 * 101
    assert ChartPoint(5000, 50.0, "keep") in shown
    assert all(p.value == 94.0 for p in shown if p.look == "discard")
    assert bin_points(points[:50], 100, "lower") == points[:50]


def test_champion_steps_follow_baseline_and_keeps() -> None:
    history = [exp(0, Status.BASELINE, 10.0), exp(1, Status.DISCARD, 11.0),
               exp(2, Status.KEEP, 8.0), exp(3, Status.CRASH, None), exp(4, Status.KEEP, 7.0),
               exp(5, Status.DISCARD, 9.0)]
    xs, ys = champion_steps(history, "lower")
    assert list(zip(xs, ys)) == [(0, 10.0), (2, 10.0), (2, 8.0), (4, 8.0), (4, 7.0),
                                 (5, 7.0)]
    assert integer_ticks(0, 100, 6) == [0, 20, 40, 60, 80, 100]
    assert integer_ticks(3, 3) == [3]


async def test_metric_chart_draws_long_histories_in_bounded_time() -> None:
    import time

    chart = MetricChart(metric_name="ms", unit="ms")
    async with Host(chart).run_test(size=(100, 24)) as pilot:
        history = [exp(0, Status.BASELINE, 100.0)] + [
            exp(n, Status.KEEP if n % 500 == 0 else Status.DISCARD, 100.0 - n / 1000 - n % 3,
                100.0) for n in range(1, 20_000)]
        await pilot.pause(0.1)
        chart.set_experiments(history)
        # Wait for the repaint however long a loaded machine takes (a fixed 0.1 s pause
        # was sometimes too short), then time one redraw by this thread's CPU time: what
        # the chart costs, not how long other processes held the CPU.
        deadline = time.monotonic() + 30
        while chart.draws < 1 and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert chart.draws >= 1
        plot = chart.query_one("PlotextPlot")
        started = time.thread_time()
        rendered = "\n".join(plot.render().plain.splitlines())  # type: ignore[union-attr]
        assert time.thread_time() - started < 2.0
        assert chart.draws >= 2, "the timed render drew the 20,000 experiments again"
        assert "ms (ms)" in rendered  # the y label names the metric and unit


async def test_status_line_says_state_best_and_counts() -> None:
    line = StatusLine(clock=lambda: 130.0)
    async with Host(line).run_test(size=(140, 3)) as pilot:
        line.update_info(StatusInfo(
            tag="t", branch="autoresearch/t", state="measuring", detail="2 of 3", n=7,
            state_since=100.0, session_since=10.0, review=True, metric_name="ms", unit="ms",
            baseline=200.0, best=150.0, counts={"baseline": 1, "keep": 2, "discard": 4},
            tokens=12_345, cost_usd=0.5))
        await pilot.pause()
        text = line.render().plain
        assert "measuring the change, run 2 of 3" in text and "#7" in text and "0:30" in text
        assert "REVIEW" in text and "autoresearch/t" in text
        assert "200 → 150 ms (-25.0%)" in text  # the metric's own change
        assert "2 keep · 4 discard" in text and "12k tok · $0.50 · 2:00" in text


async def test_experiment_table_with_a_limit_keeps_the_newest_rows() -> None:
    table = ExperimentTable(limit=5)
    async with Host(table).run_test(size=(140, 12)) as pilot:
        table.set_experiments([exp(n, Status.DISCARD, 1.0, 1.0) for n in range(8)])
        await pilot.pause()
        assert table.row_count == 5 and table.total == 8 and table.hidden == 3
        assert [row.key.value for row in table.ordered_rows] == ["3", "4", "5", "6", "7"]
        assert table.cursor_row == 4  # on the newest
        table.add_experiment(exp(8, Status.KEEP, 0.9, 1.0))
        await pilot.pause()
        assert table.row_count == 5 and table.total == 9 and table.hidden == 4
        assert table.ordered_rows[0].key.value == "4"
        assert table.selected().n == 8  # type: ignore[union-attr]
        # Looking at an older row: it stays under the cursor as the oldest leaves.
        table.move_cursor(row=1)
        table.add_experiment(exp(9, Status.DISCARD, 1.0, 0.9))
        await pilot.pause()
        assert table.row_count == 5 and table.selected().n == 5  # type: ignore[union-attr]
        # An update of a shown experiment is not a new one.
        table.add_experiment(exp(9, Status.DISCARD, 1.1, 0.9))
        assert table.total == 10 and table.row_count == 5
