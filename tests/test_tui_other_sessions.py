"""Other sessions are first-class (issue 19 item 9): the history shows the diff and the
stored output of any session's experiment, and `c` cherry-picks it onto this session's
champion, where it is measured and decided like any proposal."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.controller import LoopController
from app.engine.history import read_log
from app.engine.records import Status
from tests.conftest import Project, run_session
from tests.test_tui_engine import SIZE, engine_app, finish, logged, state, story, until
from widgets.diff_view import DiffView
from widgets.experiment_table import ExperimentTable

__all__ = ["story"]  # the fixture, imported for pytest
pytestmark = pytest.mark.anyio


@pytest.mark.slow  # two whole sessions: a minute on a busy machine
async def test_history_shows_and_cherry_picks_another_sessions_experiment(
        story: Project) -> None:
    from textual.widgets import Log

    from app.screens.history import HistoryScreen

    status, _, _ = run_session(story, tag="first")  # baseline, keep, discard, keep
    assert status == 0
    app = engine_app(story, review=True)  # a new session: "first" has ended
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "waiting for approval"
                    and app.view.current == 1, "proposal #1 of the new session")
        assert app.view.tag != "first"
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen)
                    and "first:2" in app.screen.rows, "the other session's rows")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one("#history-table", ExperimentTable)
        table.move_cursor(row=list(screen.rows).index("first:2"))  # "Raise b to 30"
        diff = screen.query_one("#history-diff", DiffView)
        await until(pilot, lambda: "nums/b.txt" in diff.diff, "first#2's diff")
        assert "git show" not in diff.diff and "+30" in diff.diff
        output = screen.query_one("#history-output", Log)
        await until(pilot, lambda: "(no stored output)" not in "\n".join(output.lines)
                    and len(output.lines) > 1, "first#2's stored output")
        await pilot.press("c")
        assert app.controller.pending_cherry_picks == ("first#2",)
        await pilot.press("escape")  # back to the main screen
        await pilot.press("a")  # #1 is measured and decided; the cherry-pick comes next
        await until(pilot, lambda: state(app) == "waiting for approval"
                    and app.view.current == 2, "the cherry-pick as #2")
        assert "nums/b.txt" in app.main.shown_diff()
        await pilot.press("a")
        await until(pilot, lambda: any(e.n == 2 for e in logged(app)), "#2 decided")
        two = next(e for e in logged(app) if e.n == 2)
        assert two.source == "cherry-pick:first/2"
        assert two.description == "cherry-pick first#2: Raise b to 30"
        assert two.status is Status.DISCARD and two.metric is not None, \
            "measured and decided like any proposal (b=30 raises the sum)"
        await finish(app)


@pytest.mark.slow  # two whole sessions
def test_a_cherry_pick_of_a_commit_that_is_gone_is_rejected_not_a_crash(
        story: Project) -> None:
    run_session(story, tag="first")
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    engine = open_session(LaunchOptions(cwd=story.root, tag="second"))
    controller = LoopController()
    # Another session's experiment whose candidate was pruned (or a made-up id).
    controller.cherry_pick(2, tag="first", commit="0" * 40, description="Raise b to 30")
    try:
        status = engine.run(lambda event: None, controller)
    finally:
        engine.close()
    assert status == 0
    experiments = read_log(Path(engine.state_dir) / "log.jsonl").experiments
    one = next(e for e in experiments if e.n == 1)
    assert one.status is Status.REJECTED
    assert one.reason == "experiment first#2 has no stored change"
    assert one.source == "cherry-pick:first/2"
    assert [e.status for e in experiments][2:] == [Status.KEEP, Status.DISCARD, Status.KEEP]
