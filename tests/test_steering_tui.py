"""Steering from the keyboard: `i` sends a note (standing or not), `I` clears the standing
ones; the real engine records them and the status line shows the standing ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.engine.history import read_log
from app.engine.records import Experiment
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.conftest import Project
from widgets.status_line import StatusLine


def open_engine(cwd: Path, **options: Any) -> Any:
    """The session on `cwd`, opened as the CLI opens it."""
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    return open_session(LaunchOptions(cwd=cwd, **options))


pytestmark = pytest.mark.anyio


async def until(pilot, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def logged(app: AutoresearchApp) -> dict[int, Experiment]:
    source = app.source
    assert source is not None
    path = Path(source.state_dir) / "log.jsonl"  # type: ignore[attr-defined]
    return {e.n: e for e in read_log(path).experiments}


async def test_i_sends_a_standing_note_and_shift_i_clears_it(project: Project) -> None:
    from app.screens.modals import NoteScreen

    project.patch("01-a.patch", {"nums/a.txt": "40\n"}, subject="Lower a to 40")
    project.patch("02-b.patch", {"nums/b.txt": "30\n"}, subject="Raise b to 30")
    project.patch("03-c.patch", {"nums/c.txt": "-5\n"}, subject="Add c")
    project.commit("patches")
    app = make_app(AppOptions(open_source=lambda: open_engine(cwd=project.root), paused=True))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.source is not None, "the session to open")
        await pilot.press("i")
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"keep [b]it[/b] simple")
        await pilot.click("#standing")
        await pilot.click("#send")
        assert not isinstance(app.screen, NoteScreen)
        await pilot.press("p")  # start: the baseline, then #1 takes the note
        await until(pilot, lambda: 1 in logged(app), "#1 decided")
        assert logged(app)[1].instructions == ["standing: keep [b]it[/b] simple"]
        await until(pilot, lambda: app.view.standing_notes != (), "the status line's note")
        shown = str(app.main.query_one(StatusLine).render())
        assert "NOTE" in shown and "keep [b]it[/b] simple" in shown  # literal, not markup
        app.controller.pause()
        await pilot.press("I")
        app.controller.resume()
        await until(pilot, lambda: 3 in logged(app), "#3 decided")
        by_n = logged(app)
        # #2 may have started before I was pressed; by #3 the clear has been taken.
        assert by_n[3].instructions == []
        await until(pilot, lambda: app.view.standing_notes == (), "the note to go")
        app.controller.stop("test over")
        assert app.loop_finished.wait(20)
    records = read_log(Path(app.source.state_dir) / "log.jsonl").of_type("instruction")  # type: ignore[union-attr]
    assert [(r.get("text"), r.get("standing"), r.get("clear"), r["source"])
            for r in records] == [("keep [b]it[/b] simple", True, None, "tui"),
                                  (None, None, True, "tui")]
