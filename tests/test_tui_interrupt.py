"""Ctrl+C in the TUI does what the README says (issue 19 item 11): the running experiment
is recorded as `interrupted`, the worktree returns to the champion, exit status 130."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.engine.history import read_log
from app.engine.records import Status
from app.tui.app import AutoresearchApp
from tests.conftest import Project
from tests.test_tui_engine import SIZE, engine_app, logged, state, story, until
from tests.test_tui_tmux import capture, demo_in_tmux, wait_for

__all__ = ["story"]  # the fixture, imported for pytest


async def ctrl_c_at_proposal_1(story: Project, *keys: str,
                               then: Callable[[AutoresearchApp, Any], Awaitable[None]]
                               | None = None) -> AutoresearchApp:
    """The real app in review mode: once #1 waits for approval, press `keys` (open a
    dialog, type in it), run `then` (wait for the dialog), type nothing more, and press
    Ctrl+C; the app must exit with 130. Returns the app after its exit."""
    app = engine_app(story, review=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state(app) == "waiting for approval", "proposal #1")
        for i, key in enumerate(keys):
            await pilot.press(key)
            if then is not None and i == 0:
                await then(app, pilot)
        await pilot.press("ctrl+c")  # no question first: that is q
        await until(pilot, lambda: not app.is_running, "the app to exit", timeout=30)
    assert app.return_value == 130
    return app


def screen_opened(kind: type, what: str) -> Callable[[AutoresearchApp, Any], Awaitable[None]]:
    """A `then` for `ctrl_c_at_proposal_1`: until the screen on top is a `kind`."""
    async def opened(app: AutoresearchApp, pilot: Any) -> None:
        await until(pilot, lambda: isinstance(app.screen, kind), what)

    return opened


@pytest.mark.anyio
async def test_ctrl_c_records_interrupted_and_exits_130(story: Project) -> None:
    app = await ctrl_c_at_proposal_1(story)
    assert app.source is not None
    experiments = read_log(Path(app.source.state_dir) / "log.jsonl").experiments  # type: ignore[attr-defined]
    assert experiments[-1].n == 1 and experiments[-1].status is Status.INTERRUPTED
    worktree = Path(app.source.worktree)  # type: ignore[attr-defined]
    changes = subprocess.run(["git", "status", "--porcelain"], cwd=worktree,
                             capture_output=True, text=True, check=True).stdout
    assert changes == "", "the worktree is back at the champion"


@pytest.mark.tmux
@pytest.mark.slow
def test_ctrl_c_in_a_real_terminal_exits_130(tmp_path: Path) -> None:
    session, demo = demo_in_tmux(tmp_path)
    try:
        wait_for(session, "experiment #1", 120)  # the baseline is in; #1 has begun
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        screen = wait_for(session, "EXIT=", 60)
        assert "EXIT=130" in screen, screen
        assert "Traceback" not in capture(session)
        logs = list((demo / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
        assert len(logs) == 1
        experiments = read_log(logs[0]).experiments
        assert experiments[-1].status is Status.INTERRUPTED and experiments[-1].n >= 1
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False,
                       capture_output=True)


# -- Ctrl+C while text is being typed (issue 19 leftovers) -----------------------------------
# Ctrl+C in an Input with no text selected does what it does everywhere (interrupt, record
# `interrupted`, exit 130); what was typed is kept, and the user is told where.


@pytest.mark.anyio
@pytest.mark.slow  # a session to its first proposal, then its stop
async def test_ctrl_c_in_the_veto_dialog_keeps_the_typed_reason(story: Project) -> None:
    from app.screens.modals import VetoReasonScreen

    app = await ctrl_c_at_proposal_1(story, "v", *"too risky",
                                     then=screen_opened(VetoReasonScreen, "the dialog"))
    experiments = logged(app)
    assert experiments[-1].n == 1 and experiments[-1].status is Status.INTERRUPTED
    assert "too risky" in experiments[-1].note, "the typed reason is kept as #1's note"
    assert any("#1" in line and "too risky" in line and "note" in line
               for line in app.farewell), app.farewell


@pytest.mark.anyio
@pytest.mark.slow  # a session to its first proposal, then its stop
async def test_ctrl_c_in_the_note_dialog_keeps_the_note_for_the_next_experiment(
        story: Project) -> None:
    from app.engine.steering import take
    from app.screens.modals import NoteScreen

    app = await ctrl_c_at_proposal_1(story, "i", *"try the parser",
                                     then=screen_opened(NoteScreen, "the note dialog"))
    assert logged(app)[-1].status is Status.INTERRUPTED
    notes, _ = take(Path(app.source.state_dir))  # type: ignore[union-attr]
    assert [(note.text, note.standing) for note in notes] == [("try the parser", False)]
    assert any("try the parser" in line and "next experiment" in line
               for line in app.farewell), app.farewell


@pytest.mark.anyio
@pytest.mark.slow  # a session to its first proposal, then its stop
async def test_ctrl_c_in_the_history_search_interrupts_as_everywhere(story: Project) -> None:
    from textual.widgets import Input

    from app.screens.history import HistoryScreen

    async def searching(app: AutoresearchApp, pilot: Any) -> None:
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history")
        await pilot.press("slash", *"lower")
        assert isinstance(app.focused, Input)

    app = await ctrl_c_at_proposal_1(story, "h", then=searching)
    assert logged(app)[-1].n == 1 and logged(app)[-1].status is Status.INTERRUPTED


@pytest.mark.anyio
async def test_ctrl_c_in_the_init_form_writes_nothing_and_says_so(story: Project) -> None:
    from textual.widgets import Input

    from app.screens.init_form import InitScreen

    story.git("rm", "-q", "autoresearch.toml")
    story.commit("no config yet")
    app = engine_app(story, needs_init=story.root)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InitScreen), "the init form")
        assert isinstance(app.focused, Input)
        await pilot.press(*"python bench.py")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_value == 130
    assert not (story.root / "autoresearch.toml").exists()
    assert any("autoresearch.toml was not written" in line for line in app.farewell), \
        app.farewell


def processes_under(folder: Path, *, but: int) -> list[str]:
    """Processes whose command line or working directory names `folder` (leftovers), but
    the test's own: the pane's shell `but` and the tmux server (its command line is that
    of the test's first `tmux new-session`)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == but:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cmdline.startswith("tmux "):
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(f"{proc.name}: {cmdline.strip()}")
    return found


@pytest.mark.tmux
@pytest.mark.slow
@pytest.mark.parametrize("hangup", ["delivered", "ignored"])
def test_the_app_stops_when_its_terminal_closes_with_a_dialog_open(
        tmp_path: Path, hangup: str) -> None:
    """The terminal goes away (tmux kill-session) while the quit dialog is open: the app
    stops as Ctrl+C stops it (the running experiment recorded as `interrupted`, every log
    line whole, the worktree clean, no process left behind) and exits within seconds, also
    when SIGHUP is ignored (nohup, some session managers: it kept running)."""
    import json
    import time

    from tests.test_tui_tmux import app_pid, pane_pid

    session, demo = demo_in_tmux(tmp_path, before="trap '' HUP; " if hangup == "ignored"
                                 else "")
    pid = pane = None
    try:
        wait_for(session, "experiment #1", 120)  # the baseline is in; #1 has begun
        pid, pane = app_pid(session), pane_pid(session)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(session, "Stop the session and quit?", 20)
        subprocess.run(["tmux", "kill-session", "-t", session], check=True)
        closed = time.monotonic()
        while Path(f"/proc/{pid}").exists() and time.monotonic() - closed < 30:
            status = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] \
                if Path(f"/proc/{pid}/stat").exists() else "X"
            if status == "Z":  # exited; its parent (the pane's shell) is gone too
                break
            time.sleep(0.1)
        took = time.monotonic() - closed
        alive = Path(f"/proc/{pid}/stat").exists() and \
            Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
        assert not alive, f"the app still runs {took:.1f} s after its terminal closed"
        print(f"exited {took:.1f} s after the terminal closed (SIGHUP {hangup})")
        pid = None
        logs = list((demo / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
        assert len(logs) == 1
        lines = logs[0].read_text().splitlines()
        records = [json.loads(line) for line in lines]  # every line whole
        contents = read_log(logs[0])
        assert contents.broken is None and not contents.warnings, contents.warnings
        experiments = contents.experiments
        assert experiments[-1].n >= 1 and experiments[-1].status is Status.INTERRUPTED, \
            [(e.n, str(e.status)) for e in experiments]
        assert records[-1]["type"] == "session_end", records[-1]
        assert records[-1]["exit_status"] == 129, records[-1]  # as the process exits
        worktrees = list((demo / ".autoresearch" / "worktrees").iterdir())
        for worktree in worktrees:
            changes = subprocess.run(["git", "status", "--porcelain"], cwd=worktree,
                                     capture_output=True, text=True, check=True).stdout
            assert changes == "", f"{worktree} is not back at the champion: {changes}"
        assert processes_under(demo, but=pane) == [], "processes left behind"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False,
                       capture_output=True)
        if pid is not None and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)  # the app this test started, never another
        if pane is not None:
            # The pane's shell ignored SIGHUP and outlived its session: it and its sleep.
            try:
                for child in Path(f"/proc/{pane}/task/{pane}/children").read_text().split():
                    os.kill(int(child), signal.SIGKILL)
                os.kill(pane, signal.SIGKILL)
            except (OSError, ValueError):
                pass  # gone already
