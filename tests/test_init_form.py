"""The init form, driven by Pilot in real git repos: it writes and commits, or says why not
next to the field concerned."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from app.config import load_config
from app.screens.init_form import InitApp, InitScreen
from tests.conftest import init_repo

pytestmark = pytest.mark.anyio

SIZE = (110, 48)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("def test_x():\n    assert True\n")
    (root / "bench.py").write_text("print('METRIC score=0.75')\n")
    (root / "broken.py").write_text("print('loading data')\nraise SystemExit('boom: no data')\n")
    (root / "patches").mkdir()  # for the scripted agent (empty: git does not see it)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


async def fill(pilot, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    screen = pilot.app.screen
    assert isinstance(screen, InitScreen)
    for name, value in values.items():
        widget = screen.query_one(f"#{name}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
    await pilot.pause()


async def submit_and_wait(pilot, times: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Press the form's button `times` times (check, then write), waiting for its work."""
    for _ in range(times - 1):
        await submit_and_wait(pilot)
    button = pilot.app.screen.query_one("#submit")
    button.scroll_visible(animate=False)
    await pilot.pause()
    assert await pilot.click("#submit"), "the click did not reach the button"
    await pilot.app.workers.wait_for_complete()
    # The worker's result arrives as a message: wait until the form has handled it (busy
    # is cleared there), not a fixed number of frames, which a loaded machine outran (the
    # failure snapshot was once taken before the error was drawn).
    for _ in range(400):
        if not getattr(pilot.app.screen, "busy", False):
            break
        await pilot.pause(0.05)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await pilot.pause()


async def test_form_writes_and_commits(repo: Path) -> None:
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        # Detection pre-filled the checks command.
        assert screen.query_one("#checks", Input).value == "python3 -m pytest -q"
        await fill(pilot, {"bench": "python3 bench.py", "direction": "higher",
                           "agent": "scripted"})
        await submit_and_wait(pilot)
        # The first press runs the benchmark and shows what it parsed; nothing written.
        assert "Parsed score = 0.75" in str(screen.query_one("#init-status").render())
        assert not (repo / "autoresearch.toml").exists()
        await submit_and_wait(pilot)
    assert app.return_value == repo / "autoresearch.toml"
    config = load_config(repo / "autoresearch.toml")
    assert (config.metric.command, config.metric.name, config.metric.direction) == (
        "python3 bench.py", "score", "higher")
    assert config.checks.command == "python3 -m pytest -q"
    assert config.agent.kind == "scripted"
    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == [
        "autoresearch.md", "autoresearch.toml"]
    assert git(repo, "status", "--porcelain") == ""


async def test_failing_benchmark_shows_under_the_benchmark_field(repo: Path) -> None:
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        await fill(pilot, {"bench": "python3 broken.py", "agent": "scripted"})
        await submit_and_wait(pilot)
        assert app.screen is screen  # still on the form
        message = screen.error_text("bench")
        assert "failed (exit status 1)" in message and "boom: no data" in message
        assert screen.query_one("#error-bench").region.y > screen.query_one("#bench").region.y
        assert screen.error_text("metric") == ""
        # Fixing the answer clears the message and succeeds.
        await fill(pilot, {"bench": "python3 bench.py"})
        await submit_and_wait(pilot, times=2)
    assert app.return_value == repo / "autoresearch.toml"


async def test_bad_metric_name_is_caught_before_running_anything(repo: Path) -> None:
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        await fill(pilot, {"bench": "python3 bench.py", "metric": "my score",
                           "agent": "scripted"})
        await submit_and_wait(pilot)
        assert "metric name 'my score' is not valid" in screen.error_text("metric")
        assert screen.error_text("bench") == ""
        # A valid name that the benchmark does not print is caught by the trial run.
        await fill(pilot, {"metric": "latency"})
        await submit_and_wait(pilot)
        assert "no METRIC line named 'latency'" in screen.error_text("metric")
    assert not (repo / "autoresearch.toml").exists()
    assert git(repo, "status", "--porcelain") == ""


async def test_empty_benchmark_and_command_agent_need_answers(repo: Path) -> None:
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        await fill(pilot, {"agent": "command"})
        assert screen.query_one("#agent_command", Input).display
        await submit_and_wait(pilot)
        assert "benchmark command is empty" in screen.error_text("bench")
        assert "{prompt_file}" in screen.error_text("agent")


async def test_cancel_writes_nothing(repo: Path) -> None:
    app = InitApp(repo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_value is None
    assert not (repo / "autoresearch.toml").exists()


async def test_enter_moves_to_the_next_field_and_writes_nothing(repo: Path) -> None:
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        screen.query_one("#checks", Input).focus()
        await pilot.press("enter")
        assert app.focused is screen.query_one("#setup")
        await pilot.press("enter")
        assert app.focused is screen.query_one("#bench")
        await pilot.press(*"python3 bench.py", "enter")
        assert app.focused is screen.query_one("#metric")
        await pilot.pause(0.3)
        assert not (repo / "autoresearch.toml").exists(), "Enter submitted the form"
        assert git(repo, "status", "--porcelain") == ""


async def test_submit_validates_everything_before_running_anything(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        await fill(pilot, {"checks": "", "bench": "python3 bench.py", "agent": "anthropic"})
        await submit_and_wait(pilot)
        assert "checks command is empty" in screen.error_text("checks")
        assert "ANTHROPIC_API_KEY is not set" in screen.error_text("agent")
        assert app.focused is screen.query_one("#checks")
        assert str(screen.query_one("#init-status").render()).strip() == "", "it ran"
        # '-' says "no checks" on purpose; a command agent can run without a key.
        await fill(pilot, {"checks": "-", "agent": "command",
                           "agent_command": "cat {prompt_file}"})
        await submit_and_wait(pilot, times=2)
    assert app.return_value == repo / "autoresearch.toml"
    config = load_config(repo / "autoresearch.toml")
    assert config.checks.command in ("", None) and config.agent.kind == "command"


async def test_the_form_asks_what_cli_init_asks(repo: Path) -> None:
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        await fill(pilot, {"bench": "python3 bench.py", "agent": "scripted",
                           "setup": "true", "scope": "src/**, lib/*.py",
                           "protected": "data/**", "goal": "Make scoring cheaper."})
        await submit_and_wait(pilot, times=2)
    config = load_config(repo / "autoresearch.toml")
    assert config.session.setup == "true"
    assert "data/**" in config.guard.protected
    program = (repo / "autoresearch.md").read_text()
    assert "Make scoring cheaper." in program and "`src/**`" in program


def test_tests_at_the_repository_root_are_detected(tmp_path: Path) -> None:
    from app.onboard import detect_project

    (tmp_path / "slow.py").write_text("x = 1\n")
    (tmp_path / "test_slow.py").write_text("def test_x():\n    assert True\n")
    assert detect_project(tmp_path).checks == "python3 -m pytest -q"


async def steady_cursor(pilot) -> None:  # type: ignore[no-untyped-def]
    """The focused field's cursor shown without blinking: it blinks every 0.5 s, and a
    loaded machine took the failure snapshot in the half second it was hidden."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


class TestInitFormSnapshots:
    """What the form looks like, empty and with a benchmark failure under its field."""

    def test_empty_form(self, snap_compare: Any, repo: Path) -> None:
        assert snap_compare(InitApp(repo), terminal_size=(100, 40), run_before=steady_cursor)

    def test_benchmark_failure(self, snap_compare: Any, repo: Path) -> None:
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await fill(pilot, {"bench": "python3 broken.py", "agent": "scripted"})
            await submit_and_wait(pilot)
            await steady_cursor(pilot)

        assert snap_compare(InitApp(repo, timeout_s=60), terminal_size=(100, 40),
                            run_before=run_before)


async def test_every_hint_in_a_field_fits_it_at_80x24(repo: Path) -> None:
    """The placeholders were cut at 80 columns ("prints METRIC name=value or a number,
    e.g." lost its example)."""
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        fields = [f for f in app.screen.query(Input) if f.content_region.width > 0]
        assert len(fields) >= 8
        for field in fields:
            # One cell stays for the cursor.
            assert len(field.placeholder) < field.content_region.width, (
                field.id, field.placeholder, field.content_region.width)


async def test_started_in_a_subfolder_the_form_says_where_commands_run(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A monorepo's package folder: `python3 speed.py` works there, not at the root, where
    # the trial (like a session) runs it. The form said only "can't open file".
    package = repo / "pkgs" / "fast [lib]"
    package.mkdir(parents=True)
    (package / "speed.py").write_text("print('METRIC score=1.5')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a package")
    monkeypatch.chdir(package)
    app = InitApp(repo, timeout_s=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InitScreen)
        hint = str(screen.query_one(".init-hint").render())
        assert f"Commands run at the repository's root, {repo}, not in pkgs/fast [lib]/" in \
            " ".join(hint.split())
        await fill(pilot, {"bench": "python3 speed.py", "agent": "scripted"})
        await submit_and_wait(pilot)
        assert app.screen is screen
        assert ("not in pkgs/fast [lib]/ where you are: to run it there, give `cd "
                "'pkgs/fast [lib]' && python3 speed.py`") in " ".join(
                    screen.error_text("bench").split())
        await fill(pilot, {"bench": "cd 'pkgs/fast [lib]' && python3 speed.py"})
        await submit_and_wait(pilot, times=2)
    assert app.return_value == repo / "autoresearch.toml"
    assert load_config(repo / "autoresearch.toml").metric.command == \
        "cd 'pkgs/fast [lib]' && python3 speed.py"
