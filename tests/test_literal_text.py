"""Text from agents, commands, logs, git and config is shown literally, never as markup.

The attack: a proposal, a reason, a command's output or a metric name that holds `[/tmp]`
(a closing tag matching nothing: MarkupError, the app dies), `list[str]` or `[link]` (the
brackets vanish), `[@click=app.quit]` (an action), or an escape sequence that would reach
the terminal. The defence is one helper (`widgets.literal`) every widget uses; this file
pushes arbitrary text through each place that shows such text, in the real App, and reads
the screen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from app.engine.controller import LoopController
from app.engine.events import (
    AgentActivity,
    Event,
    ExperimentDecided,
    ExperimentStarted,
    LoopState,
    OutputLines,
    ProposalReady,
    SessionEnded,
    StateChanged,
    WarningRaised,
)
from app.engine.records import Experiment, Status, summarize
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.tui_replay import (
    ReplaySource,
    commit_id,
    count_messages,
    decided_events,
    experiment,
    fixed_clock,
    recorded_history,
    session_started,
)
from widgets.activity_log import ActivityLog
from widgets.literal import assemble, literal, one_line, visible

TRICKY = ["[", "]", "\\", "[/]", "[/tmp]", "[link]", "list[str]", "[b]", "[@click=app.quit]",
          "\x1b[31m", "\x1b]0;pwned\x07", "\x9b2J", "$", "$text-error", "\r", "\x00", "\x7f",
          "\\[b]", "[b", "中", "é"]

texts = st.lists(st.text(st.characters(min_codepoint=0, max_codepoint=0x17F), max_size=5)
                 | st.sampled_from(TRICKY), min_size=1, max_size=3).map("".join).filter(
    lambda text: "\n" not in text and text.strip())
"""Arbitrary short text (so it is never clipped): any Latin character or control code but
the newline (one line, so every place shows all of it), mixed with the fragments markup
parsers and terminals care about."""


def screen_text(app: AutoresearchApp) -> str:
    """What the terminal shows now, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def squeezed(text: str) -> str:
    """Without whitespace: for wrapped places (toasts, notes) where a line break may fall
    anywhere in the text."""
    return "".join(text.split())


class TwoActSource(ReplaySource):
    """Replays `events`, waits until the test says go, then replays `second` (the session's
    end), so the test can read the screen in between."""

    def __init__(self, events: list[Event], second: list[Event]) -> None:
        super().__init__(events)
        self.second = second
        self.go = threading.Event()

    def run(self, sink: Callable[[Event], None], controller: LoopController) -> int:
        for event in self.events:
            sink(event)
        self.emitted.set()
        while not self.go.wait(0.02):
            if controller.stopping:
                return 0
        for event in self.second:
            sink(event)
        while not controller.stopping:
            controller.cancel.wait(0.05)
        return 0


def hostile_session(text: str) -> tuple[list[Event], list[Event], dict[int, dict[str, str]]]:
    """A session in which `text` is in every field that comes from outside."""
    history = recorded_history()[:2]  # baseline and a keep
    started = dataclasses.replace(session_started(), unit=text)
    described = experiment(1, Status.KEEP, 655.0, 812.0, reason="")
    described = dataclasses.replace(
        described, description=text, hypothesis=text, learned=text, diffstat=text,
        metrics={text: 1.5, "time_ms": 655.0}, output_tail=text)
    crashed = experiment(2, Status.CRASH, None, 655.0, reason=text)
    crashed = dataclasses.replace(crashed, description="")
    vetoed = dataclasses.replace(experiment(3, Status.VETOED, None, 655.0, veto_reason=text),
                                 description="v")
    events: list[Event] = [started, *decided_events([history[0]])]
    events += [ExperimentStarted(1, commit_id(0)),
               AgentActivity(1, "tool", text),
               AgentActivity(1, "text", text + "\n"),
               ProposalReady(1, text, text, f"+{text}\n", text, commit_id(1)),
               OutputLines(1, "bench", (text,)),
               ExperimentDecided(described, commit_id(1), True),
               *decided_events([crashed, vetoed], toasts=False),
               WarningRaised(text),
               ExperimentStarted(4, commit_id(1)),
               StateChanged(LoopState.MEASURING, text, 4)]
    summary = summarize("nov27", [history[0], described, crashed, vetoed],
                        metric_name="time_ms", unit=text, direction="lower", reason=text)
    second: list[Event] = [StateChanged(LoopState.DONE, text),
                           SessionEnded(text, summary, 0)]
    outputs = {1: {"bench": text}}
    return events, second, outputs


async def wait_for(pilot: Any, done: Callable[[], bool]) -> None:
    for _ in range(500):
        if done():
            return
        await pilot.pause(0.01)
    assert done(), "the app did not get there in 5 s"


async def show_everywhere(text: str) -> None:
    events, second, outputs = hostile_session(text)
    source = TwoActSource(events, second)
    source.outputs = outputs
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))
    notify = app.notify

    def lasting_notify(*args: Any, **kwargs: Any) -> None:
        # What is checked is each toast's text, not how long it stays: on a loaded machine
        # the checks below outlasted the new best's 4 s toast (one toast left, not two).
        notify(*args, **{**kwargs, "timeout": 600})

    app.notify = lasting_notify  # type: ignore[method-assign]
    line = one_line(text).strip()
    whole = squeezed(visible(text))

    async with app.run_test(size=(200, 60), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.events_seen >= count_messages(events))
        await pilot.pause(0.1)
        shown = screen_text(app)
        rows = shown.splitlines()
        # Status line (detail, unit), table cells (description, reason, veto reason, metric
        # name), chart title (unit), activity pane (tool line, agent text, output, warning),
        # toasts (the new best, the warning).
        assert any(f"measuring {line}" in row for row in rows[:1]) or not line
        assert f"(vetoed: {line}" in shown or not line
        for source_name, body in (("agent", f"▸ {text}"), ("agent", text), ("bench", text),
                                  ("note", text)):
            expected = visible(ActivityLog.format_line(source_name, body), tab_size=8).rstrip()
            assert expected in app.main.query_one(ActivityLog).lines, (source_name, body)
            assert expected.strip() in shown, (source_name, body)
        assert whole in squeezed(shown)
        toasts = [toast for toast in app.screen.query("Toast")]
        assert len(toasts) == 2
        assert any(squeezed(f"#1:{visible(text)}") in squeezed(str(t.render()))
                   for t in toasts)

        # The diff pane with #1 selected: its title and its lines.
        table = app.main.query_one("ExperimentTable")
        table.focus()
        table.move_cursor(row=1)
        await pilot.pause()
        await pilot.press("enter")
        # The pane shows the diff as `git diff` does: a tab stops at a multiple of 8 counted
        # from the line's start, its `+` included (one_line(text) expands tabs by 4, in the
        # text alone: not what the pane shows).
        added = visible(f"+{text}", tab_size=8).rstrip()
        await wait_for(pilot, lambda: added in screen_text(app))
        shown = screen_text(app)
        assert f"diff #1 · keep · {line}" in shown or not line
        assert added in shown

        # The session ends: the summary (its reason) and the rule in the activity pane.
        app.clear_notifications()
        source.go.set()
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SummaryScreen")
        await pilot.pause(0.1)
        assert squeezed(f"Why it ended:{visible(text)}") in squeezed(screen_text(app))

        # History: the notes, the samples' metric names and the stored output.
        await pilot.press("h")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen")
        history_table = app.screen.query_one("ExperimentTable")
        history_table.move_cursor(row=1)
        await pilot.pause(0.2)
        notes = app.screen.query_one("#history-notes")
        notes_shown = squeezed(str(notes.render()))  # type: ignore[attr-defined]
        for label in ("description", "hypothesis", "learned", "diffstat", "lastoutput"):
            assert squeezed(f"{label}:{visible(text)}") in notes_shown, label
        samples = squeezed(str(app.screen.query_one("#history-samples").render()))  # type: ignore[attr-defined]
        assert squeezed(f"{visible(text)}=1.5") in samples
        output = app.screen.query_one("#history-output")
        # (Log folds an empty first line into the header line before it: compare the rest.)
        assert [visible(x, tab_size=8) for x in text.splitlines() if x] == \
            [x for x in output.lines[1:] if x]  # type: ignore[attr-defined]
        await pilot.press("escape")


SLOW_EXAMPLES = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
"""Each example drives the whole app (a second or more)."""


@settings(deadline=None, phases=[Phase.explicit], suppress_health_check=SLOW_EXAMPLES)
@given(texts)
@example("fix [/tmp] leak")
@example("use list[str] and [link]")
@example("trailing backslash \\")
@example("[/] \x1b[31mred\x1b[0m \x07")
@example("\r0")
@example("ab\tcd[b")
def test_outside_text_is_shown_literally_everywhere(text: str) -> None:
    asyncio.run(show_everywhere(text))


@pytest.mark.slow  # the hand-picked attacks above run in `make test`; generated ones here
@settings(max_examples=5, deadline=None, phases=[Phase.generate],
          suppress_health_check=SLOW_EXAMPLES)
@given(texts)
def test_generated_outside_text_is_shown_literally_everywhere(text: str) -> None:
    asyncio.run(show_everywhere(text))


def test_visible_shows_control_characters_and_keeps_the_rest() -> None:
    assert visible("a\x1b[31mb\x07\x00\x7f\x9b") == "a␛[31mb␇␀␡\ufffd"
    assert visible("line\nnext\tx") == "line\nnext    x"
    assert visible(visible("\x1b")) == "␛"  # idempotent
    assert one_line("first\r\nsecond") == "first"


def test_literal_content_is_never_markup() -> None:
    for text in ("[/tmp]", "[b]bold[/b]", "[@click=app.quit]x", "\\[x]", "$text-error"):
        assert literal(text).plain == text
        assert literal(text).spans == []
    joined = assemble(("label:", "bold"), " ", "[/tmp]")
    assert joined.plain == "label: [/tmp]"
    assert [(s.start, s.end) for s in joined.spans] == [(0, 6)]


def test_description_with_brackets_snapshot(snap_compare: Any) -> None:
    """The picture of the main screen whose diff title, table and toast carry brackets."""
    from tests.test_tui_snapshots import replay_app, settled

    history = recorded_history()
    history[3] = dataclasses.replace(history[3], description="Cache [/tmp] list[str] [link]")
    history[5] = dataclasses.replace(history[5], description="Read [b]all[/b] at once \\",
                                     veto_reason="not [@click=app.quit]this[/]")
    events: list[Event] = [session_started(), *decided_events(history, toasts=False)]
    app, _ = replay_app(events)
    assert snap_compare(app, terminal_size=(120, 36), run_before=settled(app, events))


def test_the_markup_of_our_own_labels_still_applies() -> None:
    """Escaping outside text must not flatten our own bold labels."""
    from app.screens.history import notes_text

    e: Experiment = experiment(1, Status.KEEP, 1.0, 2.0)
    notes = notes_text(dataclasses.replace(e, description="[b]not bold[/b]"), "t")
    assert "description: [b]not bold[/b]" in notes.plain
    bold = [notes.plain[s.start:s.end] for s in notes.spans if s.style == "bold"]
    assert "description:" in bold and "not bold" not in bold
