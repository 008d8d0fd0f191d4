"""The App's plumbing, fed from recorded events: theme, message batching, replaceable
messages. Messages are recorded with `run_test(message_hook=...)`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.message import Message

from app.engine.events import DiffUpdated, OutputLines
from app.tui.activity import ActivityBuffer
from app.tui.bridge import ActivityBuffered, DiffRefreshed
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.tui_replay import ReplaySource, count_messages, fixed_clock, mid_run_events, settle

pytestmark = pytest.mark.anyio


async def test_theme_comes_from_the_user_config() -> None:
    app = make_app(AppOptions(open_source=lambda: ReplaySource([]), theme="nord",
                          clock=fixed_clock))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "nord"
        app.controller.stop()


async def test_an_unknown_theme_is_a_warning_not_a_crash() -> None:
    app = make_app(AppOptions(open_source=lambda: ReplaySource([]), theme="no-such-theme",
                          clock=fixed_clock))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        assert any("no-such-theme" in n.message for n in app._notifications)
        app.controller.stop()


def test_activity_buffer_wakes_the_ui_once_per_burst() -> None:
    buffer = ActivityBuffer(max_entries=100)
    wakes = [buffer.push("lines", "bench", (f"{i}",)) for i in range(500)]
    assert wakes[0] and not any(wakes[1:])
    entries = buffer.drain()
    assert len(entries) == 100 and entries[-1][2] == ("499",)  # the newest are kept
    assert buffer.dropped == 400
    assert buffer.push("lines", "bench", ("again",))  # drained: the next push wakes


def test_only_the_newest_live_diff_of_an_experiment_matters() -> None:
    old, new = DiffRefreshed(DiffUpdated(3, "a")), DiffRefreshed(DiffUpdated(3, "b"))
    other = DiffRefreshed(DiffUpdated(4, "c"))
    assert new.can_replace(old) and not other.can_replace(old)
    assert ActivityBuffered().can_replace(ActivityBuffered())


async def test_a_flood_of_output_becomes_few_messages_and_all_lines_arrive() -> None:
    flood = [OutputLines(6, "bench", tuple(f"line {n}.{i}" for i in range(20)))
             for n in range(2000)]
    events = mid_run_events() + flood
    source = ReplaySource(events)
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))
    seen: list[Message] = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await settle(app, count_messages(events), pilot)
        await asyncio.to_thread(source.emitted.wait, 10)
        await pilot.pause(0.3)
        wakes = sum(1 for m in seen if isinstance(m, ActivityBuffered))
        assert 0 < wakes < len(flood) / 4, wakes
        log = app.main.query_one("#activity")
        assert log.lines[-1].endswith("line 1999.19")  # type: ignore[attr-defined]
        app.controller.stop()


async def test_garbage_collection_is_tamed_while_running_and_restored_after() -> None:
    import gc

    before = gc.get_threshold()
    app = make_app(AppOptions(open_source=lambda: ReplaySource(mid_run_events()),
                          clock=fixed_clock))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        assert gc.get_threshold()[2] >= 1_000_000  # no automatic full passes
        assert gc.get_freeze_count() > 0
        app.controller.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_a_new_best_rings_the_bell_and_nothing_else_does() -> None:
    from app.engine.events import ExperimentDecided
    from app.engine.records import Status
    from tests.tui_replay import decided_events, recorded_history, session_started

    history = recorded_history()  # baseline, keep, discard, keep, crash, vetoed
    # Every decision claims a new best, as a careless engine might: only keeps may ring.
    events = [session_started()] + [
        ExperimentDecided(e.experiment, e.champion, True, e.totals, e.cost_usd)
        if isinstance(e, ExperimentDecided) else e for e in decided_events(history)]
    rings: list[int] = []
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    app.bell = lambda: rings.append(app.view.experiments[-1].n)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        keeps = [e.n for e in history if e.status is Status.KEEP]
        assert keeps == [1, 3] and rings == keeps
        app.controller.stop()


def many(count: int) -> list[Any]:
    from app.engine.records import Status
    from tests.tui_replay import experiment

    return [experiment(0, Status.BASELINE, 812.0, None)] + [
        experiment(n, Status.DISCARD, 820.0 + n % 7, 812.0) for n in range(1, count)]


async def test_a_long_session_shows_the_newest_rows_and_says_so() -> None:
    from tests.tui_replay import session_started
    from widgets.experiment_table import MAIN_ROWS, ExperimentTable

    events = [session_started(many(MAIN_ROWS + 100))]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        table = app.main.query_one(ExperimentTable)
        assert table.row_count == MAIN_ROWS
        assert table.ordered_rows[0].key.value == "100"
        assert table.selected().n == MAIN_ROWS + 99  # type: ignore[union-attr]
        assert table.border_subtitle == (f"showing the newest {MAIN_ROWS} of "
                                         f"{MAIN_ROWS + 100} — h for all")
        app.controller.stop()


async def test_history_caps_its_rows_and_searches_once_typing_pauses() -> None:
    from app.screens.history import SEARCH_DELAY, HistoryScreen
    from tests.tui_replay import session_started
    from widgets.experiment_table import ExperimentTable

    events = [session_started(many(300))]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        screen = HistoryScreen(view=app.view, max_rows=50)
        await app.push_screen(screen)
        await pilot.pause()
        table = screen.query_one(ExperimentTable)
        assert table.row_count == 50 and table.selected().n == 299  # type: ignore[union-attr]
        assert table.border_subtitle.startswith("newest 50 of 300 matching · 300 in all")
        await pilot.press("slash", *"idea 12")
        assert table.row_count == 50  # still typing: no refill per keystroke
        await pilot.pause(SEARCH_DELAY + 0.2)
        for _ in range(100):  # a loaded machine may take longer than the delay to refill
            if not table.border_subtitle.startswith("newest"):
                break
            await pilot.pause(0.1)
        # "idea 12" matches #12 and #120-#129 (and "12" in #212, #112...): every word counts.
        shown = [e.n for e in table.experiments.values()]
        assert shown and all("12" in str(n) for n in shown) and 12 in shown
        assert table.border_subtitle == f"{len(shown)} of 299 experiments"  # and a baseline
        app.controller.stop()


def asked_for(seen: list[Message]) -> list[Any]:
    """The experiments of the `CherryPickRequested` messages seen (the hook sees a message
    at the screen and again where it bubbles to, the App: counted once)."""
    from app.tui.requests import CherryPickRequested

    unique = {id(m): m for m in seen if isinstance(m, CherryPickRequested)}
    return [m.experiment for m in unique.values()]


async def test_screens_ask_for_a_cherry_pick_with_a_message_and_the_app_decides() -> None:
    # The screens post `CherryPickRequested`; only the App queues (or refuses) it.
    from app.engine.records import Status
    from tests.tui_replay import recorded_history, session_started
    from widgets.experiment_table import ExperimentTable

    events = [session_started(recorded_history())]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    seen: list[Message] = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await settle(app, count_messages(events), pilot)
        table = app.main.query_one(ExperimentTable)
        table.focus()
        table.move_cursor(row=list(table.experiments).index("2"))
        await pilot.press("c")
        await pilot.pause()
        asked = asked_for(seen)
        assert [e.n for e in asked if e is not None] == [2]
        assert app.controller.pending_cherry_picks == ("#2",)
        # A kept experiment is asked for too, and refused by the App: nothing more queued.
        table.move_cursor(row=list(table.experiments).index("3"))
        await pilot.press("c")
        await pilot.pause()
        asked = asked_for(seen)
        assert [e.n for e in asked if e is not None] == [2, 3]
        assert asked[-1] is not None and asked[-1].status is Status.KEEP
        assert app.controller.pending_cherry_picks == ("#2",)
        # The history screen asks the same way, for its own selection.
        await pilot.press("h")
        await pilot.pause()
        history = app.screen.query_one(ExperimentTable)
        history.move_cursor(row=list(history.experiments).index("nov27:4"))
        await pilot.press("c")
        await pilot.pause()
        asked = asked_for(seen)
        assert [e.n for e in asked if e is not None] == [2, 3, 4]
        assert app.controller.pending_cherry_picks == ("#2", "#4")
        app.controller.stop()


def test_the_ui_only_states_never_pass_for_a_loop_state() -> None:
    """The UI shows the loop's states as the loop sent them (`LoopState`) beside its own
    (`UiOnlyState`): no value of one may be a value of the other, or a status-line word
    would mean two things; the ones that say the loop ended are what `is_over` says."""
    from app.engine.events import LoopState
    from app.tui.state import UiOnlyState, is_over

    assert not {s.value for s in LoopState} & {s.value for s in UiOnlyState}
    every = [*LoopState, *UiOnlyState]
    assert {s for s in every if is_over(s)} == {LoopState.DONE, LoopState.FAILED,
                                                UiOnlyState.STOPPED}
