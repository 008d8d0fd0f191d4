"""How big is the memory digest, and does it still cover every experiment? (issue 16)

Run: `python benchmarks/memory_digest.py [--budget TOKENS] [--seeds N]` (about 20 s).

On simulated sessions (tests/memory_history.py: 20 ideas that agents come back to in new
words, ~70% discarded, ~8% kept, each keep moving the champion), for 50, 300 and 1,000
experiments it prints:

* the digest's size (estimated tokens, bytes), its lines and its coarseness level;
* coverage: how many experiments its lines account for (own line or group line), read
  back from the text, against how many there are (must be 100%);
* the size of the Claude agent's first request of the experiment (system prompt, tools,
  the last 15 experiments in full, the digest), sent by the real `anthropic` SDK to the
  local fake of the Messages API (tests/fake_messages_api.py), and its ratio to
  experiment 50's (issue 16's goal: at most 1.2x at experiment 300).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from bench_cli import arguments

from app.config import AnthropicConfig
from app.engine.agents.anthropic import AnthropicAgent
from app.engine.agents.base import AgentContext
from app.engine.memory import Champion, digest
from app.engine.records import Experiment, Status
from tests.fake_messages_api import FakeMessagesAPI, tool_calls
from tests.memory_history import simulated_session
from tests.test_memory import represented

POINTS = (50, 300, 1000)
PROGRAM = "# Goal\nMake `slow.py` faster.\n\n## Ideas\n- cache the results\n- use a set\n"


def champion_now(history: list[Experiment]) -> Champion:
    kept = [e for e in history if e.status in (Status.KEEP, Status.BASELINE)][-1]
    return Champion(metric=kept.metric, commit=kept.commit or "", noise=0.01)


def first_request_bytes(worktree: Path, history: list[Experiment], budget: int) -> int:
    now = champion_now(history)
    ctx = AgentContext(n=len(history), worktree=worktree, program=PROGRAM,
                       metric_name="seconds", direction="lower", unit="s", baseline=100.0,
                       champion=now.metric, champion_commit=now.commit, history=history,
                       ideas="- cache the results\n- use a set",
                       memory=digest(history, now, budget).text)
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=worktree, check=True)
    edit = ("edit_file", {"path": "slow.py", "old": "list(xs)", "new": "set(xs)"})
    finish = ("finish", {"description": "Use a set", "hypothesis": "O(1)"})
    with FakeMessagesAPI([tool_calls(edit), tool_calls(finish)]) as api:
        AnthropicAgent(AnthropicConfig(base_url=api.base_url), max_retries=0).propose(ctx)
        return api.requests[0].size


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--budget", type=int, default=2000, help="[agent] memory_tokens")
    parser.add_argument("--seeds", type=int, default=3, help="simulated sessions per point")
    args = parser.parse_args()
    os.environ["ANTHROPIC_API_KEY"] = "sk-benchmark-not-a-key"
    os.environ.pop("ANTHROPIC_BASE_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp)
        for cmd in (["init", "-q"], ["config", "user.name", "B"],
                    ["config", "user.email", "b@example.com"]):
            subprocess.run(["git", *cmd], cwd=wt, check=True)
        (wt / "slow.py").write_text("def lookup(xs, v):\n    return v in list(xs)\n")
        subprocess.run(["git", "add", "."], cwd=wt, check=True)
        subprocess.run(["git", "commit", "-qm", "init"], cwd=wt, check=True)
        print(f"memory_tokens = {args.budget}")
        print(f"{'seed':>4} {'experiments':>11} {'tokens':>6} {'bytes':>6} {'lines':>5} "
              f"{'level':>5} {'coverage':>13} {'request B':>9} {'vs #50':>6}")
        worst = 0.0
        for seed in range(16, 16 + args.seeds):
            session = simulated_session(max(POINTS), seed=seed)
            at_50 = 0
            for n in POINTS:
                history = session[:n]  # the baseline and experiments 1..n-1: experiment n
                d = digest(history, champion_now(history), args.budget)
                covered = represented(d.text)
                size = first_request_bytes(wt, history, args.budget)
                at_50 = at_50 or size
                ratio = size / at_50
                if n == 300:
                    worst = max(worst, ratio)
                print(f"{seed:>4} {n:>11} {d.tokens:>6} {len(d.text.encode()):>6} "
                      f"{d.lines:>5} {d.level:>5} {covered:>5}/{d.total:<5} "
                      f"{100 * covered / max(1, d.total):>3.0f}% {size:>6} {ratio:>5.3f}x")
        print(f"worst first-request ratio, experiment 300 vs 50: {worst:.3f}x (goal <= 1.2x)")


if __name__ == "__main__":
    main()
