"""The history screen's keys follow the context, as in lazygit and k9s (issue 19 item 8):
escape peels one layer at a time, 1-4 and [ ] switch the detail tabs, j/k/g/G move in the
tables, `/` searches from every screen, `?` lists the keys of the screen it is pressed on;
every one of them is in the one key table, remappable, and in the palette."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.widgets import Input, Select, TabbedContent

from app.screens.help import HelpScreen
from app.screens.history import HistoryScreen
from app.tui.app import AutoresearchApp
from app.tui.commands import AutoresearchCommands
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.tui_replay import (
    ReplaySource,
    count_messages,
    fixed_clock,
    mid_run_events,
    recorded_history,
)
from widgets.experiment_table import ExperimentTable

pytestmark = pytest.mark.anyio
SIZE = (120, 36)


def replay(**options: Any) -> AutoresearchApp:
    events = mid_run_events()
    source = ReplaySource(events, other=[("nov20", recorded_history()[:3])])
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock, **options))
    app.expected = count_messages(events)  # type: ignore[attr-defined]
    return app


async def settled(app: AutoresearchApp, pilot: Any) -> None:
    for _ in range(500):
        if app.events_seen >= app.expected:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert app.events_seen >= app.expected  # type: ignore[attr-defined]
    await pilot.pause(0.1)


async def open_history(app: AutoresearchApp, pilot: Any) -> HistoryScreen:
    await settled(app, pilot)
    await pilot.press("h")
    await pilot.pause(0.2)
    assert isinstance(app.screen, HistoryScreen)
    return app.screen


def history_table(screen: HistoryScreen) -> ExperimentTable:
    return screen.query_one("#history-table", ExperimentTable)


async def test_escape_peels_the_search_then_the_detail_then_the_screen() -> None:
    app = replay()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(app, pilot)
        table = history_table(screen)
        search = screen.query_one("#search", Input)
        all_rows = table.row_count
        await pilot.press("slash")
        assert app.focused is search
        await pilot.press(*"heapq")
        await pilot.pause(0.4)
        assert table.row_count == 1
        await pilot.press("escape")  # layer 1: the search is cleared, focus back on the table
        await pilot.pause(0.4)
        assert app.screen is screen and search.value == "" and table.row_count == all_rows
        assert app.focused is table
        await pilot.press("escape")  # nothing left to peel: leave
        await pilot.pause(0.1)
        assert app.screen is app.main

        screen = await open_history(app, pilot)
        table = history_table(screen)
        await pilot.press("tab")  # from the table into the detail pane (its tabs)
        assert app.focused is not None and app.focused is not table
        assert screen.query_one("#history-detail") in app.focused.ancestors_with_self
        await pilot.press("escape")  # layer 2: back to the table
        assert app.screen is screen and app.focused is table
        status = screen.query_one("#status-filter", Select)
        status.value = "keep"
        await pilot.pause(0.2)
        await pilot.press("escape")  # a status filter is part of the search layer
        await pilot.pause(0.2)
        assert app.screen is screen and status.is_blank()
        await pilot.press("escape")
        assert app.screen is app.main


async def test_number_keys_and_brackets_switch_the_detail_tabs() -> None:
    app = replay()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(app, pilot)
        tabs = screen.query_one("#history-detail", TabbedContent)
        assert tabs.active == "tab-diff"
        for key, tab in (("2", "tab-samples"), ("3", "tab-output"), ("4", "tab-notes"),
                         ("1", "tab-diff")):
            await pilot.press(key)
            assert tabs.active == tab, key
        await pilot.press("left_square_bracket")  # wraps round to the last tab
        assert tabs.active == "tab-notes"
        await pilot.press("right_square_bracket")
        assert tabs.active == "tab-diff"
        assert app.focused is history_table(screen), "switching tabs keeps the table's focus"


async def test_j_k_g_G_move_in_both_tables() -> None:
    app = replay()
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        main_table = app.main.query_one("#table", ExperimentTable)
        main_table.focus()
        await pilot.press("g")
        assert main_table.cursor_row == 0
        await pilot.press("j", "j")
        assert main_table.cursor_row == 2
        await pilot.press("k")
        assert main_table.cursor_row == 1
        await pilot.press("G")
        assert main_table.cursor_row == main_table.row_count - 1

        screen = await open_history(app, pilot)
        table = history_table(screen)
        last = table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == last
        await pilot.press("k")
        assert table.cursor_row == last - 1
        await pilot.press("slash", "j", "k", "g")  # typed into the search, not moves
        assert screen.query_one("#search", Input).value == "jkg"


async def test_slash_on_the_main_screen_opens_the_history_searching() -> None:
    app = replay()
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await pilot.press("slash")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HistoryScreen)
        assert app.focused is app.screen.query_one("#search", Input)


async def test_question_mark_lists_the_keys_of_the_screen_it_is_pressed_on() -> None:
    app = replay()
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        main_rows = {row[1] for row in app.screen.key_rows()}
        assert {"Pause", "History", "Down", "Last"} <= main_rows and "Copy id" not in main_rows
        await pilot.press("escape")
        history = await open_history(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {row[1]: row[0] for row in app.screen.key_rows()}
        assert rows["Back"] == "esc" and rows["Samples"] == "2" and rows["Copy id"] == "y"
        assert rows["Down"] == "j" and rows["Pause"] == "p" and "History" not in rows
        await pilot.press("escape")  # closes the help only
        assert app.screen is history


async def test_history_keys_are_remappable_and_shown_remapped() -> None:
    app = replay(keymap={"search": "s", "history_tab_samples": "S", "table_down": "n"})
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(app, pilot)
        table = history_table(screen)
        await pilot.press("g", "n")
        assert table.cursor_row == 1
        await pilot.press("S")
        assert screen.query_one("#history-detail", TabbedContent).active == "tab-samples"
        await pilot.press("question_mark")
        rows = {row[1]: row[0] for row in app.screen.key_rows()}
        assert rows["Search"] == "s" and rows["Samples"] == "S" and rows["Down"] == "n"
        await pilot.press("escape", "s")
        assert app.focused is screen.query_one("#search", Input)


async def test_the_palette_on_the_history_lists_and_runs_its_keys() -> None:
    app = replay()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(app, pilot)
        provider = AutoresearchCommands(screen)
        names = [name for name, _, _ in provider._commands()]
        for name in ("Back (esc)", "Samples (2)", "Copy id (y)", "Search (/)", "Down (j)",
                     "Last (G)", "Pause (p)", "Quit (q)"):
            assert name in names
        run = {name: runner for name, _, runner in provider._runners()}
        run["Notes (4)"]()
        run["First (g)"]()
        await pilot.pause(0.1)
        assert screen.query_one("#history-detail", TabbedContent).active == "tab-notes"
        assert history_table(screen).cursor_row == 0
