"""Small things that mislead (issue 19 item 12): a cherry-pick queued while paused says
when it runs, the baseline is no "New best", the status line has no empty segment."""

from __future__ import annotations

import pytest

from app.engine.events import ExperimentDecided, ExperimentStarted
from app.engine.records import Status
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.tui_replay import (
    ReplaySource,
    commit_id,
    count_messages,
    experiment,
    fixed_clock,
    recorded_history,
    session_started,
    settle,
)
from widgets.experiment_table import ExperimentTable
from widgets.status_line import StatusLine

pytestmark = pytest.mark.anyio


def toasts(app: AutoresearchApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def test_the_baseline_is_no_new_best_and_leaves_no_empty_status_segment() -> None:
    baseline = experiment(0, Status.BASELINE, 138.6, None)
    events = [session_started([]), ExperimentStarted(0, commit_id(0)),
              ExperimentDecided(baseline, commit_id(0), True)]  # as the loop emits it
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        assert not [t for t in toasts(app) if t[0] == "New best"], toasts(app)
        line = app.main.query_one(StatusLine).render().plain
        assert "138.6" in line
        assert "│   │" not in line and "│  │" not in line, line


async def test_a_cherry_pick_while_paused_with_nothing_running_says_when_it_runs() -> None:
    events = [session_started(recorded_history())]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock,
                          paused=True))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        table = app.main.query_one(ExperimentTable)
        table.focus()
        table.move_cursor(row=list(table.experiments).index("2"))  # a discard
        app.clear_notifications()
        await pilot.press("c")
        messages = [m for _, m in toasts(app)]
        assert messages == ["Cherry-pick of #2 queued: it runs when you resume (p)."]
        assert "after the running experiment" not in messages[0], "nothing is running"


def test_the_samples_tab_explains_a_high_confidence_discard() -> None:
    from app.screens.history import samples_text

    discard = experiment(2, Status.DISCARD, 660.0, 655.0, confidence=3.3)
    discard.p_value = 1.0
    text = samples_text(discard).plain
    assert "confidence: how far the medians moved" in text
    assert "why not kept: confidence 3.3 but p=1: the medians moved, but these samples " \
        "cannot show it beyond chance" in text
    kept = experiment(1, Status.KEEP, 655.0, 812.0, confidence=4.0)
    assert "why not kept" not in samples_text(kept).plain


def test_the_status_line_says_what_is_being_measured_in_words() -> None:
    from widgets.status_line import measuring_words

    assert measuring_words("measuring", "2 of 5") == "the change, run 2 of 5"
    assert measuring_words("measuring", "champion 1 of 5") == "the champion, run 1 of 5"
    assert measuring_words("measuring", "new champion 1 of 3") == "the new champion, run 1 of 3"
    assert measuring_words("proposing", "scripted") == "scripted"


@pytest.mark.parametrize("width", [220, 160])
async def test_a_veto_reason_is_not_cut_while_the_column_has_room(width: int) -> None:
    from textual.app import App, ComposeResult

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ExperimentTable()

    reason = "keep the public API stable: callers outside this repo import top_words"
    vetoed = experiment(5, Status.VETOED, None, 590.0, veto_reason=reason)
    app = Host()
    async with app.run_test(size=(width, 10)) as pilot:
        table = app.query_one(ExperimentTable)
        table.set_experiments([experiment(0, Status.BASELINE, 812.0, None), vetoed])
        await pilot.pause(0.2)
        cell = table.get_row("5")[-1].plain
        room = table.columns[table.ordered_columns[-1].key].width
        assert room > 64 and len(cell) <= room
        if len(f"Read the file in one call (vetoed: {reason})") <= room:
            assert cell.endswith(f"(vetoed: {reason})"), cell
        else:
            assert cell.endswith("…")


@pytest.mark.slow  # two apps: about 2 s
async def test_nothing_to_veto_while_the_baseline_is_measured() -> None:
    """`v` during the baseline opened "Veto experiment #0", and the veto stopped the whole
    session ("No baseline was measured"). The baseline is no proposal: v is not offered
    then, and the experiment after it can be vetoed as usual."""
    from app.engine.events import LoopState, StateChanged
    from app.screens.modals import VetoReasonScreen

    calibrating = [session_started([]), ExperimentStarted(0, commit_id(0)),
                   StateChanged(LoopState.CALIBRATING, "2 of 5", 0),
                   StateChanged(LoopState.HOLDOUT, "1 of 5", 0)]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(calibrating),
                              clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(calibrating), pilot)
        assert app.view.current == 0
        assert app.check_action("veto", ()) is False
        await pilot.press("v")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, VetoReasonScreen)
        assert not app.controller.cancel.is_set(), "the baseline's measurement goes on"

    baseline = experiment(0, Status.BASELINE, 138.6, None)
    proposing = [session_started([]), ExperimentStarted(0, commit_id(0)),
                 StateChanged(LoopState.CALIBRATING, "5 of 5", 0),
                 ExperimentDecided(baseline, commit_id(0), True),
                 ExperimentStarted(1, commit_id(0)),
                 StateChanged(LoopState.MEASURING, "1 of 5", 1)]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(proposing), clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(proposing), pilot)
        assert app.check_action("veto", ()) is True
        await pilot.press("v")
        await pilot.pause(0.1)
        assert isinstance(app.screen, VetoReasonScreen) and app.screen.n == 1


async def test_the_empty_diff_pane_says_its_whole_sentence_at_80x24() -> None:
    """The placeholder was one line, cut at the narrow pane's edge ("...appear here as")."""
    from widgets.diff_view import DiffView

    events = [session_started([])]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, count_messages(events), pilot)
        diff = app.main.query_one("#diff", DiffView)
        width = diff.scrollable_content_region.width
        assert " ".join(diff.lines).startswith("(no diff yet: the agent's changes appear")
        assert " ".join(diff.lines).endswith("writes them)")
        assert all(len(line) <= width for line in diff.lines), (width, diff.lines)


async def test_the_table_has_the_focus_from_the_start_so_its_keys_work() -> None:
    """j/k/g/G and enter did nothing on the main screen until a tab focused the table."""
    events = [session_started(recorded_history())]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, count_messages(events), pilot)
        table = app.main.query_one(ExperimentTable)
        assert app.focused is table
        await pilot.press("g")
        first = table.cursor_row
        await pilot.press("j")
        assert table.cursor_row == first + 1
        await pilot.press("enter")
        await pilot.pause(0.2)
        chosen = table.selected()
        assert chosen is not None and app.main.showing_proposal(chosen.n)
        assert f"#{chosen.n}" in str(app.main.query_one("#diff").border_title)


async def test_the_history_counts_experiments_as_the_status_line_does() -> None:
    """The history said "7 of 7 experiments" where the status line counted 6: the baseline
    is a row of the table, not an experiment."""
    from app.screens.history import HistoryScreen

    history = recorded_history()
    events = [session_started(history)]
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        tried = sum(1 for e in history if e.status is not Status.BASELINE)
        line = app.main.query_one(StatusLine).render().plain
        counts = next(part for part in line.split("│") if " keep" in part)
        assert sum(int(word) for word in counts.split() if word.isdigit()) == tried, line
        await pilot.press("h")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one(ExperimentTable)
        assert table.border_subtitle == f"{tried} of {tried} experiments and the baseline"


async def test_a_resumed_session_shows_the_diff_its_pane_names() -> None:
    """On relaunch the diff pane was titled "#3 · keep" over "(no diff yet: ...)"."""
    from tests.tui_replay import DIFFS
    from widgets.diff_view import DiffView

    events = [session_started(recorded_history()[:4])]  # the last one, #3, has a diff
    app = make_app(AppOptions(open_source=lambda: ReplaySource(events), clock=fixed_clock,
                              paused=True))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, count_messages(events), pilot)
        diff = app.main.query_one("#diff", DiffView)
        for _ in range(100):
            if diff.diff:
                break
            await pilot.pause(0.05)
        assert str(diff.border_title).startswith("diff #3 · keep")
        assert diff.diff == DIFFS[3]
