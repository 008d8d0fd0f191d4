"""Pilot tests that drive each key of the TUI against the real engine.

A scripted agent in a real git repository (the `project` fixture of conftest.py) proposes
three small patches; the benchmark is a tiny Python script. Each test presses keys and then
asserts what the *engine* did: its controller, its experiments, its log on disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.engine.history import read_log
from app.engine.records import Experiment, Status
from app.tui.app import AutoresearchApp
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.conftest import Project

SIZE = (120, 36)
pytestmark = pytest.mark.anyio


@pytest.fixture
def story(project: Project) -> Project:
    """Three proposals: a keep, a discard (it raises the score), another keep."""
    project.patch("01-lower-a.patch", {"nums/a.txt": "40\n"}, subject="Lower a to 40")
    project.patch("02-raise-b.patch", {"nums/b.txt": "30\n"}, subject="Raise b to 30")
    project.patch("03-add-c.patch", {"nums/c.txt": "-5\n"}, subject="Add c, a negative")
    project.commit("patches")
    return project


def engine_app(project: Project, **options: Any) -> AutoresearchApp:
    def open_source():  # type: ignore[no-untyped-def]
        from app.engine.launch import LaunchOptions
        from app.engine.session import open_session

        return open_session(LaunchOptions(cwd=project.root))

    return make_app(AppOptions(open_source=open_source, **options))


async def until(pilot, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def logged(app: AutoresearchApp) -> list[Experiment]:
    """The experiments in the session's log on disk."""
    source = app.source
    assert source is not None
    return read_log(Path(source.state_dir) / "log.jsonl").experiments  # type: ignore[attr-defined]


def summary_shown(app: AutoresearchApp) -> bool:
    from app.screens.modals import SummaryScreen

    return isinstance(app.screen, SummaryScreen) and bool(app.screen.query("#summary-text"))


def state(app: AutoresearchApp) -> str:
    return app.view.state


async def finish(app: AutoresearchApp) -> None:
    app.controller.stop("test over")
    assert app.loop_finished.wait(20), "the loop did not stop"


@pytest.mark.slow  # a whole session: a few seconds on a busy machine
async def test_a_session_runs_to_its_summary_and_q_quits(story: Project) -> None:
    from widgets.experiment_table import ExperimentTable

    app = engine_app(story)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: summary_shown(app), "the summary")
        statuses = [e.status for e in logged(app)]
        assert statuses == [Status.BASELINE, Status.KEEP, Status.DISCARD, Status.KEEP]
        table = app.main.query_one(ExperimentTable)
        assert table.row_count == 4
        assert app.view.best == 35.0 and app.view.baseline == 50.0
        text = str(app.screen.query_one("#summary-text").render())
        assert "50 → " in text and "35" in text and "-30.0%, better" in text
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_value == 0


async def test_paused_launch_runs_nothing_until_p(story: Project) -> None:
    app = engine_app(story, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        time.sleep(0.4)
        await pilot.pause(0.1)
        assert logged(app) == [] and app.controller.paused
        await pilot.press("p")
        assert not app.controller.paused
        await until(pilot, lambda: len(logged(app)) >= 2, "the baseline and #1")
        await finish(app)


async def test_p_pauses_after_the_running_experiment(story: Project) -> None:
    app = engine_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "waiting for approval", "a proposal")
        await pilot.press("p")
        assert app.controller.paused
        await pilot.press("a")  # #1 is measured and decided; then the loop pauses
        await until(pilot, lambda: state(app) == "paused", "the pause")
        decided = len(logged(app))
        assert [e.n for e in logged(app)] == [0, 1]
        time.sleep(0.4)
        await pilot.pause(0.1)
        assert len(logged(app)) == decided and app.view.current is None, \
            "no experiment may start while paused"
        await finish(app)


async def test_review_mode_waits_for_approval(story: Project) -> None:
    app = engine_app(story)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")  # hold the loop so review mode is on before #1
        await pilot.press("r")
        assert app.controller.review
        await pilot.press("p")
        await until(pilot, lambda: state(app) == "waiting for approval", "a proposal")
        time.sleep(0.4)
        await pilot.pause(0.1)
        assert state(app) == "waiting for approval"
        assert all(e.n == 0 for e in logged(app)), "nothing is measured before approval"
        await pilot.press("a")
        await until(pilot, lambda: any(e.n == 1 for e in logged(app)), "#1 decided")
        assert next(e for e in logged(app) if e.n == 1).status is Status.KEEP
        await finish(app)


async def test_veto_with_a_reason_records_vetoed(story: Project) -> None:
    from app.screens.modals import VetoReasonScreen

    app = engine_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "waiting for approval", "a proposal")
        await pilot.press("v")
        assert isinstance(app.screen, VetoReasonScreen)
        await pilot.press(*"keep b", "enter")
        await until(pilot, lambda: any(e.n == 1 for e in logged(app)), "#1 decided")
        first = next(e for e in logged(app) if e.n == 1)
        assert first.status is Status.VETOED and first.veto_reason == "keep b"
        assert app.view.experiment(1) is not None
        assert app.view.experiment(1).status is Status.VETOED  # type: ignore[union-attr]
        await finish(app)


@pytest.mark.slow  # a whole session: a few seconds on a busy machine
async def test_c_queues_a_cherry_pick_of_the_selected_experiment(story: Project) -> None:
    from widgets.experiment_table import ExperimentTable

    app = engine_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        for n in (1, 2):
            await until(pilot, lambda n=n: state(app) == "waiting for approval"
                        and app.view.current == n, f"proposal #{n}")
            await pilot.press("a")
        await until(pilot, lambda: state(app) == "waiting for approval"
                    and app.view.current == 3, "proposal #3")
        table = app.main.query_one(ExperimentTable)
        table.move_cursor(row=list(table.experiments).index("2"))
        await pilot.press("c")
        assert app.controller.pending_cherry_picks == ("#2",)
        await pilot.press("a")  # decide #3; the cherry-pick comes next
        await until(pilot, lambda: state(app) == "waiting for approval"
                    and app.view.current == 4, "the cherry-pick as #4")
        await pilot.press("a")
        await until(pilot, lambda: any(e.n == 4 for e in logged(app)), "#4 decided")
        four = next(e for e in logged(app) if e.n == 4)
        assert four.source == "cherry-pick:2"
        assert four.status in (Status.DISCARD, Status.KEEP)
        await finish(app)


async def test_q_confirms_then_stops_and_records_interrupted(story: Project) -> None:
    from app.screens.modals import ConfirmScreen

    app = engine_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "waiting for approval", "a proposal")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # changed my mind: nothing stops
        assert not app.controller.stopping
        await pilot.press("q")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, "a clean exit")
    assert app.loop_finished.is_set()
    assert app.source is not None
    experiments = read_log(Path(app.source.state_dir) / "log.jsonl").experiments  # type: ignore[attr-defined]
    assert experiments[-1].n == 1 and experiments[-1].status is Status.INTERRUPTED
    assert app.return_value == 0


@pytest.mark.slow  # a whole session: a few seconds on a busy machine
async def test_history_shows_the_selected_diff_and_output(story: Project) -> None:
    from app.screens.history import HistoryScreen
    from app.screens.modals import DiffScreen
    from widgets.diff_view import DiffView
    from widgets.experiment_table import ExperimentTable

    app = engine_app(story)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: summary_shown(app), "the summary")
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen)
        history = app.screen
        table = history.query_one(ExperimentTable)
        assert table.row_count == 4
        table.move_cursor(row=1)  # #1, a keep
        diff = history.query_one("#history-diff", DiffView)
        await until(pilot, lambda: "nums/a.txt" in diff.diff, "the diff of #1")
        assert "+40" in diff.diff
        output = history.query_one("#history-output")
        assert any("METRIC score=" in line for line in output.lines)  # type: ignore[attr-defined]
        await pilot.press("y")
        assert app.clipboard == logged(app)[1].candidate
        await pilot.press("f")
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("escape")
        await pilot.press("slash", *"raise", "enter")
        assert table.row_count == 1 and table.selected().n == 2  # type: ignore[union-attr]
        await pilot.press("escape", "escape")  # clears the search, then leaves (issue 19)
        assert app.screen is app.main


async def test_keymap_remaps_and_help_shows_it(story: Project) -> None:
    from app.screens.help import HelpScreen

    app = engine_app(story, paused=True, keymap={"pause": "x"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        await pilot.press("p")
        assert app.controller.paused, "p no longer pauses once remapped"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {action: key for key, action, _ in app.screen.key_rows()}
        assert rows["Pause"] == "x" and rows["Veto"] == "v"
        await pilot.press("escape")
        await pilot.press("x")
        assert not app.controller.paused
        await finish(app)


async def test_a_loop_error_is_shown_not_swallowed(tmp_path: Path) -> None:
    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    app = make_app(AppOptions(open_source=broken))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.state == "failed", "the failure")
        assert "disk on fire" in app.view.error
        status = str(app.main.query_one("#status").render())
        assert "disk on fire" in status
        assert app.is_running


async def test_a_usage_error_at_open_exits_with_status_2(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.chdir(tmp_path)

    def open_source():  # type: ignore[no-untyped-def]
        from app.engine.launch import LaunchOptions
        from app.engine.session import open_session

        return open_session(LaunchOptions(cwd=tmp_path))

    app = make_app(AppOptions(open_source=open_source))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not app.is_running, "the exit")
    assert app.return_value == 2
    assert app.usage_error is not None and "not inside a git repository" in str(app.usage_error)


async def test_without_a_config_the_init_form_comes_first_then_the_loop(story: Project
                                                                       ) -> None:
    from app.screens.init_form import InitScreen

    config = (story.root / "autoresearch.toml").read_text()
    story.git("rm", "-q", "autoresearch.toml")
    story.commit("no config yet")
    app = engine_app(story, needs_init=story.root, paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InitScreen), "the init form")
        assert app.source is None, "nothing may open before there is a config"
        (story.root / "autoresearch.toml").write_text(config)  # as the form would
        app.screen.dismiss(story.root / "autoresearch.toml")
        await until(pilot, lambda: state(app) == "paused", "the session to open")
        assert app.source is not None
        await finish(app)


async def test_every_key_action_is_in_the_command_palette(story: Project) -> None:
    app = engine_app(story, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        await pilot.press("ctrl+p")
        await pilot.press(*"review", "enter")
        await until(pilot, lambda: app.controller.review, "review mode from the palette")
        await pilot.press("ctrl+p")
        await pilot.press(*"pause", "enter")
        await until(pilot, lambda: not app.controller.paused, "resume from the palette")
        await finish(app)


async def test_resizing_to_80x24_keeps_the_screen_usable(story: Project) -> None:
    from widgets.experiment_table import ExperimentTable

    app = engine_app(story, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        table = app.main.query_one(ExperimentTable)
        assert not table.compact
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert table.compact, "the narrow table drops the secondary column"
        for name in ("#status", "#diff", "#chart", "#table", "#activity"):
            region = app.main.query_one(name).region
            assert region.width > 0 and region.height > 0, name
            assert region.right <= 80 and region.bottom <= 24, name
        await pilot.press("p")
        assert not app.controller.paused
        await finish(app)


async def test_veto_during_measurement_stops_it(project: Project) -> None:
    project.patch("01-hang.patch", {"hang": "x\n"}, subject="Sleep in the benchmark")
    project.commit("patches")
    app = engine_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "measuring" and app.view.current == 1,
                    "#1 being measured")
        started = time.monotonic()
        await pilot.press("v", *"too slow", "enter")
        await until(pilot, lambda: any(e.n == 1 for e in logged(app)), "#1 decided")
        assert time.monotonic() - started < 15, "the hanging benchmark was not stopped"
        first = next(e for e in logged(app) if e.n == 1)
        assert first.status is Status.VETOED and first.veto_reason == "too slow"
        await finish(app)
