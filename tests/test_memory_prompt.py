"""The memory digest reaches the agents: the Claude agent's request (through the real
`anthropic` SDK, against tests/fake_messages_api.py) and the command agent's prompt file
(through the real loop)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.config import AnthropicConfig
from app.engine.agents.anthropic import AnthropicAgent
from app.engine.agents.base import AgentContext
from app.engine.memory import Champion, digest
from app.engine.records import Experiment, Status
from tests.conftest import init_repo, run_session
from tests.fake_messages_api import FakeMessagesAPI, tool_calls
from tests.memory_history import simulated_session
from tests.test_memory import represented

PROGRAM = "# Goal\nMake `slow.py` faster.\n\n## Ideas\n- cache the results\n- use a set\n"
EDIT = ("edit_file", {"path": "slow.py", "old": "v in list(xs)", "new": "v in set(xs)"})
FINISH = ("finish", {"description": "Use a set for membership", "hypothesis": "O(1)"})


@pytest.fixture()
def worktree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-SECRET")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    wt = tmp_path / "wt"
    init_repo(wt)
    (wt / "slow.py").write_text("def lookup(xs, v):\n    return v in list(xs)\n")
    subprocess.run(["git", "add", "."], cwd=wt, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=wt, check=True)
    return wt


def _context(wt: Path, history: list[Experiment]) -> AgentContext:
    kept = [e for e in history if e.status in (Status.KEEP, Status.BASELINE)][-1]
    now = Champion(metric=kept.metric, commit=kept.commit or "", noise=0.01)
    return AgentContext(n=len(history), worktree=wt, program=PROGRAM, metric_name="seconds",
                        direction="lower", unit="s", baseline=100.0, champion=kept.metric,
                        champion_commit=kept.commit or "", history=history,
                        ideas="- cache the results\n- use a set",
                        memory=digest(history, now, 2000).text)


def test_first_request_at_experiment_300_is_at_most_1_2x_experiment_50s(
        worktree: Path) -> None:
    """Issue 16's figure: with the digest of every experiment in each prompt, the first
    request of experiment 300 is at most 1.2x the size of experiment 50's."""
    session = simulated_session(300)
    sizes: dict[int, int] = {}
    for n in (50, 300):
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=worktree, check=True)
        with FakeMessagesAPI([tool_calls(EDIT), tool_calls(FINISH)]) as api:
            AnthropicAgent(AnthropicConfig(base_url=api.base_url), max_retries=0).propose(
                _context(worktree, session[:n]))
            sizes[n] = api.requests[0].size
            body = api.requests[0].json["messages"][0]["content"][0]["text"]
        memory = body[body.index("## Memory"):body.index("## Recent experiments")]
        assert represented(memory) == n - 1  # every past experiment, by line or group
    ratio = sizes[300] / sizes[50]
    print(f"\nfirst-request bytes: experiment 50: {sizes[50]}, experiment 300: {sizes[300]} "
          f"({ratio:.3f}x)")
    assert ratio <= 1.2


def test_the_command_agents_prompt_file_carries_the_digest(project: Any, tmp_path: Path
                                                             ) -> None:
    """Three real experiments by a script agent: the third prompt file lists the first two
    in its memory section."""
    project.use_script_agent(
        tmp_path / "agent.sh",
        'n=$AUTORESEARCH_EXPERIMENT\necho "$n" > nums/b.txt\n'
        'echo "DESCRIPTION: set b to $n, idea $n"\n')
    status, _, engine = run_session(project, max_experiments=3)
    assert status == 0
    prompt = (engine.state_dir / "runs" / "3" / "agent-prompt.md").read_text()
    memory = prompt[prompt.index("## Memory"):]
    assert "## Memory: all 2 experiments" in memory
    assert "- #1 discard" in memory and "set b to 1, idea 1" in memory
    assert "- #2 discard" in memory
    assert "- shrink a (untried)" in prompt  # the program's ideas, with their outcomes


def test_a_discard_on_an_older_champion_is_marked_after_a_keep(project: Any, tmp_path: Path
                                                               ) -> None:
    """#1 is discarded, #2 is kept (the champion improves far beyond the noise): the
    digest in #3's prompt marks #1 as discarded on an older champion, and invites a retry."""
    project.use_script_agent(
        tmp_path / "agent.sh",
        'case "$AUTORESEARCH_EXPERIMENT" in\n'
        '1) echo 30 > nums/b.txt; echo "DESCRIPTION: grow b";;\n'
        '2) echo 10 > nums/a.txt; echo "DESCRIPTION: shrink a";;\n'
        '*) echo 7 > nums/c.txt; echo "DESCRIPTION: add c";;\nesac\n')
    status, _, engine = run_session(project, max_experiments=3)
    assert status == 0
    assert [str(e.status) for e in engine.experiments] == ["baseline", "discard", "keep",
                                                           "discard"]
    second = prompt_memory(engine, 2)
    assert "[older champion]" not in second  # the champion had not moved yet
    third = prompt_memory(engine, 3)
    assert "- #1 discard +60.0%: grow b [older champion]" in third
    assert "- #2 keep -80.0%: shrink a" in third
    assert "worth a retry" in third


def prompt_memory(engine: Any, n: int) -> str:
    text = (engine.state_dir / "runs" / str(n) / "agent-prompt.md").read_text()
    return text[text.index("## Memory"):text.index("## Recent experiments")]
