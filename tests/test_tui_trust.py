"""What the user approves, vetoes and sees is what the engine does (issue 19 items 1-3).

Each test drives the real engine (scripted agent, real git repository) under Pilot and
tries to get the user to approve or lose something they did not see or mean.
"""

from __future__ import annotations

import time

import pytest

from app.engine.records import Status
from app.tui import AutoresearchApp
from tests.conftest import Project
from tests.test_tui_engine import SIZE, finish, logged, make_app, state, story, until

__all__ = ["story"]  # the fixture, imported for pytest
pytestmark = pytest.mark.anyio


def waiting(app: AutoresearchApp, n: int) -> bool:
    return state(app) == "waiting for approval" and app.view.current == n


def diff_pane_n(app: AutoresearchApp) -> int | None:
    return app.main._diff_n


async def test_a_approves_only_the_proposal_the_diff_pane_shows(story: Project) -> None:
    from widgets.experiment_table import ExperimentTable

    app = make_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: waiting(app, 1), "proposal #1 waiting")
        assert diff_pane_n(app) == 1
        # The user looks at the baseline row: the diff pane now shows #0, not #1.
        table = app.main.query_one(ExperimentTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: diff_pane_n(app) == 0, "the baseline's diff")
        await pilot.pause(1.2)  # live diff refreshes must not snatch the pane back
        assert diff_pane_n(app) == 0
        await pilot.press("a")  # an approval of a diff the user is not looking at
        await pilot.pause(0.5)
        assert waiting(app, 1), "#1 was approved while the pane showed #0"
        assert all(e.n == 0 for e in logged(app))
        assert diff_pane_n(app) == 1 and "nums/a.txt" in app.main.shown_diff()
        await pilot.press("a")  # now it is on screen: approved
        await until(pilot, lambda: any(e.n == 1 for e in logged(app)), "#1 decided")
        await finish(app)


async def test_full_stop_follows_the_live_proposal_again(story: Project) -> None:
    from widgets.experiment_table import ExperimentTable

    app = make_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: waiting(app, 1), "proposal #1 waiting")
        table = app.main.query_one(ExperimentTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: diff_pane_n(app) == 0, "the baseline's diff")
        assert ". back to #1" in str(app.main.query_one("#diff").border_subtitle)
        await pilot.press("full_stop")
        assert diff_pane_n(app) == 1 and app.main.showing_proposal(1)
        assert "nums/a.txt" in app.main.shown_diff()
        await finish(app)
