"""The TUI with parallel workers (issue #14): the workers strip, the diff pane following the
selected worker, `tab`/`1`-`9`, and `a`/`v` acting on the selected worker's proposal only.

The App is driven by the engine's own events posted through its bridge (`ReplaySource` calls
the App's sink on the loop thread, as the engine does) and steered through the real
`LoopController`; a fake worker thread waits for approval in that controller exactly as an
engine worker does, so what `a` approves is what the engine would measure.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.engine.controller import LoopController
from app.engine.events import Event, LoopState, StateChanged, WorkerChanged, WorkerState
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.conftest import Project
from tests.test_tui_snapshots import replay_app, settled
from tests.tui_replay import (
    ReplaySource,
    count_messages,
    fixed_clock,
    mid_run_events,
    parallel_events,
    settle,
)

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


@dataclass
class ReviewingWorkers(ReplaySource):
    """Replays `events`, then blocks in `wait_for_approval` for each worker in `waiting`
    (worker -> experiment), as the engine's workers do in review mode, and reports what
    each one's wait returned; an approved worker goes on to `measuring`."""

    waiting: dict[int, int] = field(default_factory=dict)
    answers: dict[int, str] = field(default_factory=dict)

    def run(self, sink: Callable[[Event], None], controller: LoopController) -> int:
        for event in self.events:
            sink(event)

        def wait(worker: int, n: int) -> None:
            answer = controller.wait_for_approval(worker)
            self.answers[worker] = answer
            if answer == "approved":
                sink(WorkerChanged(worker, WorkerState.MEASURING, n))
                sink(StateChanged(LoopState.MEASURING, "1 of 3", n, worker=worker))

        threads = [threading.Thread(target=wait, args=item, daemon=True)
                   for item in self.waiting.items()]
        for thread in threads:
            thread.start()
        self.emitted.set()
        while not controller.stopping:
            controller.cancel.wait(0.05)
        for thread in threads:
            thread.join(5)
        return 0


def both_in_review() -> list[Event]:
    """w2's #7 and w3's #8 wait for approval; w1 measures #6."""
    events = parallel_events(review=True)
    events += [
        WorkerChanged(2, WorkerState.REVIEW, 7, "Lowercase once per line"),
        StateChanged(LoopState.WAITING_APPROVAL, "", 7, worker=2),
    ]
    return events


async def handled(app: AutoresearchApp, pilot: Any, events: list[Event]) -> None:
    await settle(app, count_messages(events), pilot)


@asynccontextmanager
async def replayed(events: list[Event], **options: Any
                   ) -> AsyncIterator[tuple[AutoresearchApp, Any]]:
    """The App running on replayed `events`, once it has handled them all: (app, pilot)."""
    app, _ = replay_app(events, **options)
    async with app.run_test(size=SIZE) as pilot:
        await handled(app, pilot, events)
        yield app, pilot


@asynccontextmanager
async def two_waiting() -> AsyncIterator[tuple[AutoresearchApp, ReviewingWorkers, Any]]:
    """The App with w2's #7 and w3's #8 waiting for approval in the controller (w1
    measures #6): (app, source, pilot)."""
    events = both_in_review()
    source = ReviewingWorkers(events, waiting={2: 7, 3: 8})
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock, review=True))
    async with app.run_test(size=SIZE) as pilot:
        await handled(app, pilot, events)
        await until(pilot, lambda: app.controller.awaiting_approval == (2, 3),
                    "both workers waiting in the controller")
        yield app, source, pilot


async def until(pilot: Any, condition: Callable[[], bool], what: str) -> None:
    for _ in range(250):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def strip_lines(app: AutoresearchApp) -> list[str]:
    from widgets.workers_strip import WorkersStrip

    strip = app.main.query_one(WorkersStrip)
    return [line.rstrip() for line in strip.render().plain.split("\n")] if strip.display else []


async def test_three_workers_strip_and_tab_digits_move_the_diff_pane() -> None:
    async with replayed(parallel_events(review=True), review=True) as (app, pilot):
        lines = strip_lines(app)
        assert len(lines) == 3
        assert lines[0].startswith("▸ w1  measuring") and "#6" in lines[0]
        assert lines[0].endswith("Vectorise the scoring loop")
        assert lines[1].startswith("  w2  proposing") and "#7" in lines[1]
        assert lines[2].startswith("  w3  review") and "#8" in lines[2]
        # w1 is selected: its proposal, its state, its experiment.
        assert app.main.diff_title().startswith("w1 · #6 · proposal")
        assert "score.py" in app.main.shown_diff()
        assert app.view.current == 6 and app.view.state == "measuring"
        await pilot.press("tab")
        assert app.view.selected_worker == 2 and app.view.current == 7
        assert app.main.diff_title() == "w2 · #7 · live"
        assert "lower.py" in app.main.shown_diff(), "w2's live diff"
        assert app.view.state == "proposing"
        await pilot.press("tab")
        assert app.main.diff_title().startswith("w3 · #8 · proposal · Split on whitespace")
        assert "split.py" in app.main.shown_diff()
        assert app.view.state == "waiting for approval"
        await pilot.press("tab")  # wraps around
        assert app.view.selected_worker == 1
        await pilot.press("3")
        assert app.view.selected_worker == 3 and strip_lines(app)[2].startswith("▸ w3")
        await pilot.press("9")  # no ninth worker: nothing changes
        await pilot.press("0")
        assert app.view.selected_worker == 3
        await pilot.press("1")
        assert app.main.diff_title().startswith("w1 · #6")
        # c goes through the session's one queue: the next worker to start takes it.
        from widgets.experiment_table import ExperimentTable

        table = app.main.query_one(ExperimentTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("2"))
        await pilot.press("c")
        assert app.controller.pending_cherry_picks == ("#2",)
        assert "cherry-pick queued: #2" in app.main.query_one(
            "#status").render().plain  # type: ignore[union-attr]
        # p pauses every worker: one controller flag that all workers read.
        await pilot.press("p")
        assert app.controller.paused
        status = app.main.query_one("#status").render().plain  # type: ignore[union-attr]
        assert "(pausing every worker)" in status
        # The workers stop at their next safe point (the engine sends no session-wide
        # PAUSED): once none is at work, the session is paused.
        for worker in (1, 2, 3):
            app.sink(WorkerChanged(worker, WorkerState.IDLE))
        await until(pilot, lambda: app.view.state == "paused", "paused once all are idle")
        await pilot.press("p")
        assert app.view.state == "resuming"
        app.sink(WorkerChanged(1, WorkerState.PROPOSING, 9))
        await until(pilot, lambda: app.view.state == "proposing", "w1 at work again")
        assert app.view.current == 9
        app.sink(WorkerChanged(1, WorkerState.IDLE))
        await until(pilot, lambda: app.view.state == "idle", "w1 idle, not an old state")
        app.controller.stop()


async def test_a_approves_the_selected_workers_displayed_proposal_never_anothers() -> None:
    from widgets.experiment_table import ExperimentTable

    async with two_waiting() as (app, source, pilot):
        # w1 is selected and measures; the status line says who waits, and which key.
        status = app.main.query_one("#status").render().plain  # type: ignore[union-attr]
        assert "w2,w3 waiting (press 2/3)" in status
        # `a` must not approve w2's or w3's proposal unseen.
        await pilot.press("a")
        await pilot.pause(0.2)
        assert source.answers == {}, "a approved a proposal of a worker not selected"
        assert app.controller.awaiting_approval == (2, 3)
        # w3 selected: its proposal is on screen. Then the user pins another row.
        await pilot.press("3")
        assert app.main.showing_proposal(8)
        table = app.main.query_one(ExperimentTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("3"))
        await pilot.press("enter")
        await until(pilot, lambda: app.main._diff_n == 3, "the pinned row's diff")
        await pilot.press("a")  # the pane shows #3, not w3's #8: show #8 first
        await pilot.pause(0.2)
        assert source.answers == {}, "a approved while the pane showed another diff"
        assert app.main.showing_proposal(8) and "split.py" in app.main.shown_diff()
        await pilot.press("a")  # now #8 is on screen: w3, and only w3, is approved
        await until(pilot, lambda: 3 in source.answers, "w3's approval")
        assert source.answers == {3: "approved"}
        assert app.controller.awaiting_approval == (2,), "w2 must still wait"
        await until(pilot, lambda: app.view.worker(3).state == "measuring", "w3 measuring")
        # w2: select, then approve what is shown.
        await pilot.press("2")
        assert app.main.showing_proposal(7) is False  # its live diff, no proposal event
        await pilot.press("a")
        await pilot.pause(0.2)
        assert 2 not in source.answers, "a approved a diff that is not a finished proposal"
        app.controller.stop()
        # w2's wait ends on its own thread: wait for it (under load the app could close
        # before that thread ran again), then check how it ended.
        await until(pilot, lambda: 2 in source.answers, "w2's wait to end")
    assert source.answers.get(2) == "stop"


async def test_v_vetoes_the_selected_worker_only() -> None:
    async with two_waiting() as (app, source, pilot):
        await pilot.press("3", "v")
        await until(pilot, lambda: app.screen.id != "main", "the veto dialog")
        await pilot.press(*"too clever", "enter")
        await until(pilot, lambda: 3 in source.answers, "w3's veto")
        assert source.answers == {3: "vetoed"}
        assert app.controller.peek_veto(3) and not app.controller.peek_veto(2)
        assert not app.controller.peek_veto(1), "w1's measurement must go on"
        assert app.controller.awaiting_approval == (2,)
        app.controller.stop()


async def test_one_worker_keeps_tab_for_focus_and_shows_no_strip() -> None:
    async with replayed(mid_run_events()) as (app, pilot):
        assert strip_lines(app) == []
        assert app.main.query_one("#workers").region.height == 0
        seen = [app.focused.id if app.focused else None]  # the table, from the start
        for _ in range(3):
            await pilot.press("tab")
            seen.append(app.focused.id if app.focused else None)
        assert seen == ["table", "activity", "diff", "table"], \
            "tab must move the focus as before"
        await pilot.press("2")
        assert app.view.selected_worker == 0 and app.view.current == 6
        assert app.main._diff_n == 6
        app.controller.stop()


async def test_help_lists_the_worker_keys_only_with_workers() -> None:
    from app.screens.help import HelpScreen

    for events, listed in ((parallel_events(), True), (mid_run_events(), False)):
        async with replayed(events) as (app, pilot):
            await pilot.press("question_mark")
            await pilot.pause(0.1)
            assert isinstance(app.screen, HelpScreen)
            keys = [row[0] for row in app.screen.key_rows()]
            assert ("tab" in keys and "1-3" in keys) is listed, keys
            panes = str(app.screen.query_one("#help-panes").render())
            assert ("one line per parallel worker" in panes) is listed
            app.controller.stop()


async def test_agent_text_of_parallel_workers_is_not_interleaved_into_one_line() -> None:
    from widgets.activity_log import ActivityLog

    async with replayed(parallel_events()) as (app, pilot):
        await pilot.pause(0.2)
        lines = [line.rstrip() for line in app.main.query_one(ActivityLog).lines]
        assert any(line.startswith("w2 agent") and
                   line.endswith("Lowercasing once per line saves a call per word.")
                   for line in lines), lines
        assert any(line.startswith("w1 agent") and
                   line.endswith("The scoring loop walks every word twice.")
                   for line in lines), lines
        assert any(line.startswith("w1 bench") and "METRIC time_ms=571.2" in line
                   for line in lines)
        assert any("experiment #7 · w2" in line for line in lines)
        # The session's own experiments (the baseline, worker 0) belong to no worker.
        assert not any("w0" in line for line in lines), lines
        assert any(line.startswith("── experiment #0 ──") for line in lines), lines
        app.controller.stop()


@pytest.mark.slow  # a settled snapshot: a few seconds
class TestParallelSnapshots:
    def test_three_workers(self, snap_compare: Any) -> None:
        events = parallel_events(review=True)
        app, _ = replay_app(events, review=True)
        assert snap_compare(app, terminal_size=(120, 40), run_before=settled(app, events))

    def test_three_workers_80x24(self, snap_compare: Any) -> None:
        events = parallel_events(review=True)
        app, _ = replay_app(events, review=True)
        assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app, events))

    def test_three_workers_third_selected(self, snap_compare: Any) -> None:
        events = parallel_events(review=True)
        app, _ = replay_app(events, review=True)

        async def select_w3(pilot: Any) -> None:
            await pilot.press("3")

        assert snap_compare(app, terminal_size=(120, 40),
                            run_before=settled(app, events, select_w3))



def three_workers_in_review(project: Project) -> AutoresearchApp:
    """The real engine's App on `project` with three patches, three workers, review mode."""
    from tests.test_tui_engine import engine_app

    project.patch("01-lower-a.patch", {"nums/a.txt": "40\n"}, subject="Lower a to 40")
    project.patch("02-raise-b.patch", {"nums/b.txt": "30\n"}, subject="Raise b to 30")
    project.patch("03-add-c.patch", {"nums/c.txt": "-5\n"}, subject="Add c, a negative")
    project.config("\n[parallel]\nworkers = 3\n")
    project.commit("patches, three workers")
    return engine_app(project, review=True)


async def all_three_waiting(app: AutoresearchApp, pilot: Any) -> None:
    """Until each of the three workers' proposals waits for approval (a minute at most)."""
    for _ in range(1200):
        if app.controller.awaiting_approval == (1, 2, 3) and all(
                app.view.worker(w).waiting_approval for w in (1, 2, 3)):
            return
        await pilot.pause(0.05)
    raise AssertionError("three proposals did not come to wait for approval")


@pytest.mark.slow  # a real session of three workers
async def test_real_engine_three_workers_a_measures_only_the_selected_workers_proposal(
        project: Project) -> None:
    """The real engine at three workers in review mode: all three proposals wait; the user
    selects the highest-numbered worker (the controller's own default would pick the
    lowest) and presses a: exactly that worker's experiment is measured and recorded,
    the others still wait, unmeasured."""
    from tests.test_tui_engine import finish, logged

    app = three_workers_in_review(project)
    async with app.run_test(size=SIZE) as pilot:
        await all_three_waiting(app, pilot)
        assert len(strip_lines(app)) == 3
        chosen = app.view.worker(3).n
        assert chosen is not None
        await pilot.press("3")
        assert app.main.showing_proposal(chosen)
        await pilot.press("a")
        for _ in range(1200):
            if any(e.n == chosen for e in logged(app)):
                break
            await pilot.pause(0.05)
        measured = [e for e in logged(app) if e.n > 0]
        assert [(e.n, e.worker) for e in measured] == [(chosen, 3)], measured
        assert app.controller.awaiting_approval == (1, 2), "w1 and w2 must still wait"
        assert not any(e.n in (app.view.worker(1).n, app.view.worker(2).n)
                       for e in logged(app))
        await finish(app)


def table_order(app: AutoresearchApp) -> list[tuple[int, str]]:
    """The main table's rows top to bottom: (experiment number, status cell)."""
    from widgets.experiment_table import ExperimentTable

    table = app.main.query_one(ExperimentTable)
    return [(int(str(row.key.value)), table.get_row(row.key)[-2].plain)
            for row in table.ordered_rows]


@pytest.mark.slow  # a real session of three workers
async def test_real_engine_three_workers_table_rows_in_experiment_order(
        project: Project) -> None:
    """Experiments are decided out of order with three workers (here: the highest number
    first, approved by hand); the table still lists them by number, and the ones in flight
    sit at their number's place with their worker's state, not at the bottom."""
    import json
    from pathlib import Path

    from tests.test_tui_engine import finish
    from tests.test_tui_engine import until as wait_until

    app = three_workers_in_review(project)
    async with app.run_test(size=SIZE) as pilot:
        await all_three_waiting(app, pilot)
        by_n = {app.view.worker(w).n: w for w in (1, 2, 3)}
        assert sorted(by_n) == [1, 2, 3], by_n  # type: ignore[type-var]
        await pilot.pause(0.2)
        assert table_order(app) == [(0, "baseline"), (1, "waiting (a/v)"),
                                    (2, "waiting (a/v)"), (3, "waiting (a/v)")]
        # Decide #3 first, then #1, then #2: the log is in that order, the table is not.
        for n in (3, 1, 2):
            await pilot.press(str(by_n[n]))
            await wait_until(pilot, lambda n=n: app.main.showing_proposal(n),
                             f"#{n}'s proposal")
            await pilot.press("a")
            await wait_until(pilot, lambda n=n: app.view.experiment(n) is not None,
                             f"#{n} decided", timeout=60)
            await pilot.pause(0.2)
            order = table_order(app)
            assert [row[0] for row in order] == sorted(row[0] for row in order), order
            assert order[0] == (0, "baseline")
            waiting = [m for m in (1, 2, 3) if not app.view.experiment(m)]
            assert all((m, "waiting (a/v)") in order for m in waiting), order
        assert [row[0] for row in table_order(app)][:4] == [0, 1, 2, 3]
        log = Path(app.source.state_dir) / "log.jsonl"  # type: ignore[union-attr]
        records = [json.loads(line) for line in log.read_text().splitlines()]
        assert [r["n"] for r in records if r["type"] == "experiment"] == [0, 3, 1, 2], \
            "the log is in decision order"
        await finish(app)
