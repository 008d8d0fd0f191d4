"""The command agent: a small shell script plays the coding agent, for real."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.config import CommandAgentConfig
from app.engine.agents.base import AgentContext, AgentError
from app.engine.agents.command import CommandAgent, parse_fields, render_command
from app.engine.events import AgentActivity, Event
from app.engine.records import Experiment, Status
from tests.conftest import init_repo


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    wt = tmp_path / "work tree"  # a space in the path: the command must quote it
    init_repo(wt)
    (wt / "slow.py").write_text("N = 1000\n")
    subprocess.run(["git", "add", "."], cwd=wt, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=wt, check=True)
    return wt


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-agent.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _context(wt: Path, events: list[Event] | None = None, n: int = 3) -> AgentContext:
    history = [Experiment(n=0, status=Status.BASELINE, metric=2.0),
               Experiment(n=1, status=Status.CRASH, reason="benchmark crashed",
                          description="inline everything", output_tail="ZeroDivisionError"),
               Experiment(n=2, status=Status.VETOED, veto_reason="no global state please")]
    return AgentContext(n=n, worktree=wt, program="# Goal\nFaster.\n", metric_name="time",
                        direction="lower", unit="s", baseline=2.0, champion=2.0,
                        champion_commit="abc", history=history,
                        emit=events.append if events is not None else (lambda e: None))


def test_script_agent_edits_and_describes(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state dir"
    script = _script(tmp_path, """
prompt="$1"
grep -q 'no global state please' "$prompt" || { echo "veto reason missing"; exit 9; }
grep -q 'ZeroDivisionError' "$prompt" || { echo "failure tail missing"; exit 9; }
echo "thinking about $(basename "$PWD")"
sed -i.bak 's/N = 1000/N = 10/' slow.py && rm slow.py.bak
echo "DESCRIPTION: first try"
echo "HYPOTHESIS: fewer iterations"
echo "**DESCRIPTION:** Shrink N to 10"
echo "LEARNED: N dominates"
""")
    events: list[Event] = []
    agent = CommandAgent(CommandAgentConfig(command=f"{script} {{prompt_file}}"),
                         state_dir=state)
    proposal = agent.propose(_context(repo, events))
    assert (repo / "slow.py").read_text() == "N = 10\n"
    assert (proposal.description, proposal.hypothesis, proposal.learned) == (
        "Shrink N to 10", "fewer iterations", "N dominates")
    prompt = agent.prompt_path(3)
    assert prompt.is_file() and prompt.is_relative_to(state)
    assert "DESCRIPTION:" in prompt.read_text()
    streamed = "".join(e.text for e in events if isinstance(e, AgentActivity)
                       and e.kind == "text")
    assert "thinking about work tree" in streamed


def test_without_a_description_line_the_description_is_left_to_the_loop(
        repo: Path, tmp_path: Path) -> None:
    script = _script(tmp_path, "echo 'N = 5' > slow.py\necho done\n")
    agent = CommandAgent(CommandAgentConfig(command=f"{script} {{prompt_file}}"),
                         state_dir=tmp_path / "state")
    assert agent.propose(_context(repo)).description == ""


def test_non_zero_exit_is_an_agent_error_with_the_output_tail(repo: Path,
                                                              tmp_path: Path) -> None:
    script = _script(tmp_path, "for i in $(seq 1 100); do echo line $i; done\n"
                               "echo 'fatal: model overloaded' >&2\nexit 4\n")
    agent = CommandAgent(CommandAgentConfig(command=f"{script} {{prompt_file}}"),
                         state_dir=tmp_path / "state")
    with pytest.raises(AgentError) as info:
        agent.propose(_context(repo))
    message = str(info.value)
    assert "exited with status 4" in message
    assert "fatal: model overloaded" in message and "line 100" in message
    assert "line 1\n" not in message  # only the tail


def test_no_change_is_an_agent_error(repo: Path, tmp_path: Path) -> None:
    agent = CommandAgent(CommandAgentConfig(command="echo nothing to do {prompt_file}"),
                         state_dir=tmp_path / "state")
    with pytest.raises(AgentError, match="without changing any file"):
        agent.propose(_context(repo))


def test_timeout_kills_the_whole_process_group(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    script = _script(tmp_path, f"(sleep 1; touch '{marker}') &\nsleep 30\n")
    agent = CommandAgent(CommandAgentConfig(command=f"{script} {{prompt_file}}",
                                            timeout_s=0.5), state_dir=tmp_path / "state")
    started = time.monotonic()
    with pytest.raises(AgentError, match="timed out after 0.5 s"):
        agent.propose(_context(repo))
    assert time.monotonic() - started < 10
    time.sleep(1.5)
    assert not marker.exists()  # the background child died with its group


def test_cancel_stops_the_command(repo: Path, tmp_path: Path) -> None:
    script = _script(tmp_path, "echo started\nsleep 30\n")
    agent = CommandAgent(CommandAgentConfig(command=f"{script} {{prompt_file}}"),
                         state_dir=tmp_path / "state")
    ctx = _context(repo)
    cancel = threading.Event()
    ctx.cancel = cancel

    def emit(event: Event) -> None:
        if isinstance(event, AgentActivity) and "started" in event.text:
            cancel.set()

    ctx.emit = emit
    started = time.monotonic()
    with pytest.raises(AgentError, match="stopped by the user"):
        agent.propose(ctx)
    assert time.monotonic() - started < 10


def test_cancel_after_a_change_hands_the_change_over(repo: Path, tmp_path: Path) -> None:
    """So that the loop records the user's veto or stop, not an agent error."""
    script = _script(tmp_path, "echo 'N = 7' > slow.py\necho 'DESCRIPTION: seven'\n"
                               "echo started\nsleep 30\n")
    agent = CommandAgent(CommandAgentConfig(command=f"{script} {{prompt_file}}"),
                         state_dir=tmp_path / "state")
    ctx = _context(repo)
    cancel = threading.Event()
    ctx.cancel = cancel
    ctx.emit = lambda e: cancel.set() if isinstance(e, AgentActivity) and "started" in e.text \
        else None
    assert agent.propose(ctx).description == "seven"
    assert (repo / "slow.py").read_text() == "N = 7\n"


def test_render_quotes_the_prompt_path() -> None:
    assert render_command("claude -p \"$(cat {prompt_file})\" ${X:-y}",
                          Path("/tmp/a b/p.md")) == \
        "claude -p \"$(cat '/tmp/a b/p.md')\" ${X:-y}"
    assert parse_fields("x\nDESCRIPTION: a\n  DESCRIPTION:   b  \nDESCRIPTION:\n") == \
        {"description": "b"}


def test_headless_session_with_a_script_as_the_agent_keeps_its_change(
        project: Any, tmp_path: Path) -> None:
    """Through the real loop: the script's change is measured, checked and kept."""
    from app.engine.history import read_log

    script = _script(tmp_path, """
test -f "$1" || exit 7
value=$(cat nums/a.txt)
echo $((value - 20)) > nums/a.txt
echo "working in experiment $AUTORESEARCH_EXPERIMENT"
echo "DESCRIPTION: Lower a by 20"
""")
    text = (project.root / "autoresearch.toml").read_text()
    text = text.replace('kind = "scripted"', 'kind = "command"')
    text += f'\n[agent.command]\ncommand = "{script} {{prompt_file}}"\ntimeout_s = 30\n'
    (project.root / "autoresearch.toml").write_text(text)
    project.commit("use a command agent")
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless",
                           "--max-experiments", "2"], cwd=project.root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    logs = list((project.root / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
    experiments = [e for e in read_log(logs[0]).experiments if e.n > 0]
    assert [(str(e.status), e.metric, e.description) for e in experiments] == [
        ("keep", 30.0, "Lower a by 20"), ("keep", 10.0, "Lower a by 20")]
    prompts = sorted(logs[0].parent.glob("runs/*/agent-prompt.md"))
    assert len(prompts) == 2 and "Lower a by 20" in prompts[1].read_text()
    assert (project.root / "nums/a.txt").read_text() == "50\n"
