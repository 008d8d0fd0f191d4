"""The installed `autoresearch-tui` in a real terminal (tmux): launch the demo, pause with p,
see the paused state on screen, quit with q and a confirmation, and see a clean exit.

Textual draws to stderr, so the app's stderr is left alone: the pane shows what a person
would see. The exit status is echoed into the pane after the app ends.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_tool

EXE = Path(sys.executable).parent / "autoresearch-tui"


def pane_pid(session: str) -> int:
    """The PID of the shell in tmux `session`'s pane."""
    return int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"],
                              capture_output=True, text=True, check=True).stdout)


def app_pid(session: str) -> int:
    """The PID of the app this test started in tmux `session`: the child of the pane's
    shell (the only PID a test may signal or wait for)."""
    pane = pane_pid(session)
    children = Path(f"/proc/{pane}/task/{pane}/children").read_text().split()
    assert len(children) == 1, f"the pane's shell runs {children}"
    return int(children[0])


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True, check=False).stdout


def wait_for(session: str, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear within {timeout} s; the pane shows:\n"
                         f"{screen}")


def demo_in_tmux(tmp_path: Path, *, before: str = "") -> tuple[str, Path]:
    """Start `autoresearch-tui demo --dir <tmp_path>/demo` in a new 120x36 tmux session:
    (the tmux session's name, the demo's folder). The pane echoes EXIT=<status> at the end.
    `before`: shell commands run first in the pane (e.g. `trap '' HUP; `)."""
    require_tool("tmux")
    if not EXE.exists():
        pytest.skip(f"{EXE} is not installed (make installs it)")
    demo = tmp_path / "demo"
    session = f"ar-{uuid.uuid4().hex[:8]}"
    command = (f"{before}cd {shlex.quote(str(tmp_path))} && "
               f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path))}"
               f" {shlex.quote(str(EXE))} demo --dir {shlex.quote(str(demo))}; "
               f"echo EXIT=$?; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                    command], check=True)
    return session, demo


@pytest.mark.tmux
@pytest.mark.slow
def test_demo_pauses_and_quits_cleanly_in_tmux(tmp_path: Path) -> None:
    session, demo = demo_in_tmux(tmp_path)
    try:
        wait_for(session, "autoresearch/", 60)  # the status line names the session branch
        subprocess.run(["tmux", "send-keys", "-t", session, "p"], check=True)
        screen = wait_for(session, "● paused", 120)
        assert "Resume" in screen  # the footer offers what p does now (issue 19 item 7)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(session, "Stop the session and quit?", 20)
        subprocess.run(["tmux", "send-keys", "-t", session, "y"], check=True)
        screen = wait_for(session, "EXIT=", 60)
        assert "EXIT=0" in screen, screen
        assert "Traceback" not in screen
        assert (demo / ".git").exists()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False,
                       capture_output=True)
