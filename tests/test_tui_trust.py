"""What the user approves, vetoes and sees is what the engine does (issue 19 items 1-3).

Each test drives the real engine (scripted agent, real git repository) under Pilot and
tries to get the user to approve or lose something they did not see or mean.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.engine.records import Status
from app.tui.app import AutoresearchApp
from tests.conftest import Project
from tests.test_tui_engine import SIZE, engine_app, finish, logged, state, story, until

__all__ = ["story"]  # the fixture, imported for pytest
pytestmark = pytest.mark.anyio


def waiting(app: AutoresearchApp, n: int) -> bool:
    return state(app) == "waiting for approval" and app.view.current == n


def diff_pane_n(app: AutoresearchApp) -> int | None:
    return app.main._diff_n


async def test_a_approves_only_the_proposal_the_diff_pane_shows(story: Project) -> None:
    from widgets.experiment_table import ExperimentTable

    app = engine_app(story, review=True)
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

    app = engine_app(story, review=True)
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


async def test_review_mode_survives_a_relaunch_and_the_resume_line_says_so(
        story: Project) -> None:
    from widgets.activity_log import ActivityLog

    app = engine_app(story, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        await pilot.press("r")  # review on, then start
        await pilot.press("p")
        await until(pilot, lambda: waiting(app, 1), "proposal #1 waiting")
        await pilot.press("q", "y")  # quit with #1 waiting for review
        await until(pilot, lambda: not app.is_running, "the exit")
    assert [e.status for e in logged(app)][-1] is Status.INTERRUPTED

    again = engine_app(story)  # a plain relaunch: no review option given
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: waiting(again, 2), "proposal #2 waiting for review")
        assert again.controller.review
        time.sleep(0.4)
        await pilot.pause(0.1)
        assert waiting(again, 2) and all(e.n < 2 for e in logged(again)), \
            "#2 was measured without approval after the relaunch"
        lines = "\n".join(again.main.query_one(ActivityLog).lines)
        assert "resumed" in lines and "review mode on" in lines
        assert "1 experiment and the baseline" in lines
        await pilot.press("r")  # off again: remembered too
        await pilot.pause(0.3)
        await finish(again)

    third = engine_app(story, paused=True)
    async with third.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(third) == "paused", "the paused state")
        assert not third.controller.review
        await finish(third)


async def test_no_header_for_an_experiment_that_never_ran(project: Project) -> None:
    from widgets.activity_log import ActivityLog

    project.patch("01-lower-a.patch", {"nums/a.txt": "40\n"}, subject="Lower a to 40")
    project.commit("patches")
    app = engine_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view.summary is not None, "the end of the session")
        await pilot.pause(0.2)
        lines = "\n".join(app.main.query_one(ActivityLog).lines)
        assert "experiment #1" in lines
        assert "experiment #2" not in lines, "a header for an experiment that never ran"


def test_the_headless_summary_counts_experiments_not_the_baseline() -> None:
    from app.engine.records import Experiment, summarize
    from app.headless import format_summary

    one = summarize("t", [Experiment(0, Status.BASELINE, metric=10.0),
                          Experiment(1, Status.KEEP, metric=9.0)],
                    metric_name="ms", unit="", direction="lower")
    assert "  1 experiment: 1 keep" in format_summary(one)
    none = summarize("t", [Experiment(0, Status.BASELINE, metric=10.0)],
                     metric_name="ms", unit="", direction="lower")
    assert "  0 experiments" in format_summary(none)


@pytest.fixture
def slow_keep(project: Project) -> Project:
    """#1 lowers the score (a keep) and makes every run of the benchmark take 0.4 s."""
    from tests.conftest import BENCH_PY

    project.write("bench.py", BENCH_PY.replace(
        "total = 0.0", 'if os.path.exists("slow"):\n    time.sleep(0.4)\ntotal = 0.0'))
    project.config(calibration_runs=5)  # a kept #1 is then measured 3 times more
    project.commit("a benchmark that can be slow")
    project.patch("01-slow-keep.patch", {"nums/a.txt": "40\n", "slow": "x\n"},
                  subject="Lower a, slowly")
    project.patch("02-raise-b.patch", {"nums/b.txt": "30\n"}, subject="Raise b to 30")
    project.commit("patches")
    return project


@pytest.fixture
def gated_keep(project: Project, tmp_path: Path) -> tuple[Project, Path]:
    """#1 lowers the score (a keep); each run of its benchmark waits until the test creates
    the returned gate file (60 s at most), so #1 cannot be measured to its end before the
    test says so. No sandbox: the benchmark must see the test's file."""
    from tests.conftest import BENCH_PY

    gate = tmp_path / "gate"
    project.write("bench.py", BENCH_PY.replace("total = 0.0", (
        'if os.path.exists("slow"):\n'
        "    end = time.monotonic() + 60\n"
        f"    while not os.path.exists({str(gate)!r}) and time.monotonic() < end:\n"
        "        time.sleep(0.05)\n"
        "total = 0.0")))
    project.config('\n[session]\nsandbox = "none"\n')
    project.commit("a benchmark that waits for the test")
    project.patch("01-slow-keep.patch", {"nums/a.txt": "40\n", "slow": "x\n"},
                  subject="Lower a, slowly")
    project.patch("02-raise-b.patch", {"nums/b.txt": "30\n"}, subject="Raise b to 30")
    project.commit("patches")
    return project, gate


async def test_veto_typed_during_measurement_holds_the_decision(
        gated_keep: tuple[Project, Path]) -> None:
    from app.screens.modals import VetoReasonScreen

    project, gate = gated_keep
    app = engine_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "measuring" and app.view.current == 1
                    and not app.view.detail.startswith("champion"), "#1 being measured")
        await pilot.press("v")  # #1's runs wait for the gate: it is still being measured
        assert isinstance(app.screen, VetoReasonScreen)
        await pilot.press(*"too clever")
        # The user takes their time; the measurement and the checks end meanwhile. (With
        # a 0.4 s sleep in place of the gate, a loaded machine could end them before the
        # v arrived, and the veto became a note.)
        gate.touch()
        checked = Path(app.source.state_dir) / "runs" / "1" / "checks.log"  # type: ignore[union-attr]
        await until(pilot, checked.exists, "#1 measured and checked", timeout=120)
        time.sleep(1.0)  # room for a decision that did not wait for the veto
        await pilot.pause(0.2)
        assert all(e.n != 1 for e in logged(app)), "#1 was decided while the veto was typed"
        await pilot.press("enter")
        await until(pilot, lambda: any(e.n == 1 for e in logged(app)), "#1 decided")
        first = next(e for e in logged(app) if e.n == 1)
        assert first.status is Status.VETOED and first.veto_reason == "too clever"
        await finish(app)


async def test_a_reason_typed_for_a_decided_experiment_is_kept_as_a_note(
        slow_keep: Project) -> None:
    from app.screens.history import notes_text

    app = engine_app(slow_keep)
    async with app.run_test(size=SIZE) as pilot:
        # After a keep the new champion is measured again: #1 is kept already.
        await until(pilot, lambda: app.view.current == 1
                    and app.view.detail.startswith("new champion"), "#1's top-up")
        await pilot.press("v", *"I meant to stop this")
        await until(pilot, lambda: any(e.n == 1 for e in logged(app)), "#1 recorded")
        await pilot.press("enter")
        await until(pilot, lambda: logged(app)[1].note == "I meant to stop this",
                    "the note in the log")
        assert logged(app)[1].status is Status.KEEP
        shown = app.view.experiment(1)
        assert shown is not None and "I meant to stop this" in notes_text(shown, "t").plain
        await finish(app)


def footer_keys(app: AutoresearchApp) -> dict[str, str]:
    """What the footer shows now: description -> key."""
    from textual.widgets._footer import FooterKey

    return {key.description: key.key_display for key in app.screen.query(FooterKey)}


async def test_the_footer_shows_only_the_keys_that_apply(story: Project) -> None:
    from widgets.status_line import StatusLine

    app = engine_app(story, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        await pilot.pause(0.1)
        assert "press p to start" in app.main.query_one(StatusLine).render().plain
        keys = footer_keys(app)
        assert keys.get("Resume") == "p" and "Pause" not in keys
        assert "Approve" not in keys and "Veto" not in keys, "nothing waits or runs"
        await pilot.press("r", "p")  # review on, start
        await until(pilot, lambda: waiting(app, 1), "proposal #1 waiting")
        await pilot.pause(0.1)
        keys = footer_keys(app)
        assert {"Approve", "Veto", "Pause", "Review"} <= set(keys) and "Resume" not in keys
        await pilot.press("r")  # review off: #1 goes on, and the session runs to its end
        await until(pilot, lambda: app.view.summary is not None, "the end of the session",
                    timeout=60)
        await pilot.press("escape")  # close the summary
        await pilot.pause(0.2)
        keys = footer_keys(app)
        for loop_key in ("Pause", "Resume", "Approve", "Veto", "Review", "Cherry-pick"):
            assert loop_key not in keys, f"{loop_key} after the session ended"
        assert keys.get("Quit") == "q" and "History" in keys


async def test_the_palette_shows_keys_and_one_quit(story: Project) -> None:
    from app.tui.commands import AutoresearchCommands

    app = engine_app(story, paused=True, keymap={"pause": "x"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "paused", "the paused state")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Quit" not in titles, "Textual's own Quit duplicates ours (which asks first)"
        provider = AutoresearchCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        assert "Quit (q)" in names and "Pause (x)" in names and "Approve (a)" in names
        await finish(app)
