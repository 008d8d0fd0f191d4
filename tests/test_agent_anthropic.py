"""The Claude agent against a local fake of the Messages API, driven by the real SDK.

No network, no real key: `ANTHROPIC_API_KEY=sk-test-SECRET` and `base_url` pointing at
`tests/fake_messages_api.py`.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from app.config import AnthropicConfig, Prices
from app.engine.agents.anthropic import AnthropicAgent, cost_usd
from app.engine.agents.base import AgentContext, AgentError, AgentFatalError
from app.engine.events import AgentActivity, Event
from app.engine.guard import Guard
from app.engine.records import Experiment, Status
from tests.conftest import init_repo
from tests.fake_messages_api import (
    FakeMessagesAPI,
    Reply,
    error,
    text,
    tool_calls,
    without_cache_control,
)

KEY = "sk-test-SECRET"
PROGRAM = "# Goal\nMake `slow.py` faster.\n\n## Ideas\n- cache the results\n- use a set\n"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    wt = tmp_path / "wt"
    init_repo(wt)
    (wt / "slow.py").write_text("def lookup(xs, v):\n    return v in list(xs)\n")
    (wt / "bench.py").write_text("print(1.0)\n")
    (wt / "big.txt").write_text("".join(f"{i:04} " + "z" * 95 + "\n" for i in range(1000)))
    subprocess.run(["git", "add", "."], cwd=wt, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=wt, check=True)
    return wt


def _context(wt: Path, n: int = 1, history: list[Experiment] | None = None,
             events: list[Event] | None = None) -> AgentContext:
    guard = Guard([], [], protected_paths={"bench.py"}, hidden_paths=set())
    sink = events.append if events is not None else (lambda e: None)
    return AgentContext(n=n, worktree=wt, program=PROGRAM, metric_name="seconds",
                        direction="lower", unit="s", baseline=1.0, champion=0.9,
                        champion_commit="0123456789abcdef", history=history or [],
                        ideas="- cache the results\n- use a set", emit=sink,
                        is_protected=guard.is_protected, is_hidden=guard.is_hidden)


def _agent(api: FakeMessagesAPI, **config: Any) -> AnthropicAgent:
    return AnthropicAgent(AnthropicConfig(base_url=api.base_url, **config), max_retries=2)


EDIT = ("edit_file", {"path": "slow.py", "old": "v in list(xs)", "new": "v in set(xs)"})
FINISH = ("finish", {"description": "Use a set for membership", "hypothesis": "O(1) lookups",
                     "learned": "lists are slow"})


def test_multi_turn_tool_loop_edits_the_worktree(repo: Path) -> None:
    events: list[Event] = []
    script = [
        tool_calls(("list_files", {"path": "."}), ("read_file", {"path": "slow.py"}),
                   say="Let me look at the code first.\nThen I will decide what to change."),
        tool_calls(("search", {"pattern": r"in list\("}), ("write_file",
                   {"path": "../escape.py", "content": "x"})),
        tool_calls(("edit_file", {"path": "bench.py", "old": "1.0", "new": "0.1"}), EDIT,
                   ("write_file", {"path": "notes/idea.md", "content": "sets\n"})),
        tool_calls(FINISH),
    ]
    with FakeMessagesAPI(script) as api:
        proposal = _agent(api).propose(_context(repo, events=events))
        bodies = [r.json for r in api.requests]
    assert (repo / "slow.py").read_text() == "def lookup(xs, v):\n    return v in set(xs)\n"
    assert (repo / "notes/idea.md").read_text() == "sets\n"
    assert (repo / "bench.py").read_text() == "print(1.0)\n"  # protected: refused
    assert not (repo.parent / "escape.py").exists()
    assert (proposal.description, proposal.hypothesis, proposal.learned) == (
        "Use a set for membership", "O(1) lookups", "lists are slow")
    assert len(bodies) == 4 and all(b["stream"] is True for b in bodies)
    # The stable prefix is marked for the prompt cache; one user message carries the history.
    first = bodies[0]
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert [t["name"] for t in first["tools"]] == ["list_files", "read_file", "search",
                                                   "edit_file", "write_file", "delete_file",
                                                   "finish"]
    assert "Make `slow.py` faster." in first["system"][0]["text"]
    assert "lower is better" in first["system"][0]["text"]
    history = first["messages"][0]["content"][0]["text"]
    assert "# Experiment 1" in history and "- use a set" in history
    # Tool results went back, refusals as errors with the reason.
    results = {b["tool_use_id"]: b for m in bodies[2]["messages"] if m["role"] == "user"
               for b in m["content"] if b.get("type") == "tool_result"}
    refused = [b for b in results.values() if b.get("is_error")]
    assert len(refused) == 1 and "`..` is not allowed" in refused[0]["content"]
    protected = [b for m in bodies[3]["messages"] for b in m["content"]
                 if b.get("type") == "tool_result" and b.get("is_error")]
    assert any("bench.py is protected" in b["content"] for b in protected)
    # Exactly one message breakpoint (the newest), plus system and tools.
    for body in bodies:
        marks = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
        assert marks == [body["messages"][-1]["content"][-1]]
    # Accounting: later turns read the prefix from the cache; cost follows the price table.
    t = proposal.tokens
    assert t.output > 0 and t.cache_write > 0 and t.cache_read > t.cache_write
    assert proposal.cost_usd == pytest.approx(cost_usd(t, Prices()))
    # Streamed events: text batched (the server sends 7-character deltas), tools summarised.
    texts = [e.text for e in events if isinstance(e, AgentActivity) and e.kind == "text"]
    assert "".join(texts) == "Let me look at the code first.\nThen I will decide what to change."
    assert len(texts) < 4
    tools = [e.text for e in events if isinstance(e, AgentActivity) and e.kind == "tool"]
    assert tools[:2] == ["list_files .", "read_file slow.py"]
    assert "edit_file slow.py (-1 +1 lines)" in tools
    assert tools[-1] == "finish: Use a set for membership"


def test_rate_limit_with_retry_after_then_success(repo: Path) -> None:
    script = [error(429, "slow down", headers={"retry-after": "0.01"}), tool_calls(EDIT),
              tool_calls(FINISH)]
    with FakeMessagesAPI(script) as api:
        proposal = _agent(api).propose(_context(repo))
        assert len(api.requests) == 3
        assert api.requests[1].headers.get("x-stainless-retry-count") == "1"
    assert proposal.description == "Use a set for membership"


def test_overloaded_until_retries_run_out_is_an_agent_error(repo: Path) -> None:
    script = [tool_calls(("read_file", {"path": "slow.py"})),
              error(529, "Overloaded", headers={"retry-after": "0.01"}, repeat=3)]
    with FakeMessagesAPI(script) as api:
        with pytest.raises(AgentError) as info:
            _agent(api).propose(_context(repo))
        assert len(api.requests) == 4  # one success, then 1 try + 2 retries
    assert "529" in str(info.value) and "Overloaded" in str(info.value)
    assert info.value.retry_after_s == pytest.approx(0.01)
    assert info.value.transient  # the loop backs off before the next experiment
    assert info.value.tokens.total > 0  # what the first turn cost is not lost
    assert info.value.cost_usd > 0


def test_a_bad_request_is_an_agent_error_that_is_not_an_outage(repo: Path) -> None:
    with FakeMessagesAPI([error(400, "prompt is too long")]) as api:
        with pytest.raises(AgentError, match="400: prompt is too long") as info:
            _agent(api).propose(_context(repo))
        assert len(api.requests) == 1
    assert not info.value.transient


def test_unreachable_server_is_a_transient_agent_error(repo: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    agent = AnthropicAgent(AnthropicConfig(base_url=f"http://127.0.0.1:{port}"),
                           max_retries=0)
    with pytest.raises(AgentError, match="cannot reach the Anthropic API") as info:
        agent.propose(_context(repo))
    assert info.value.transient


def test_rejected_key_is_fatal_and_not_retried(repo: Path) -> None:
    with FakeMessagesAPI([error(401, "invalid x-api-key")]) as api:
        with pytest.raises(AgentFatalError, match="rejected the API key"):
            _agent(api).propose(_context(repo))
        assert len(api.requests) == 1
        sent = api.requests[0].headers
        assert KEY in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))
    with (FakeMessagesAPI([error(403, "no access")]) as api,
          pytest.raises(AgentFatalError, match="refused access")):
        _agent(api).propose(_context(repo))


def test_missing_key_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(AgentFatalError, match="ANTHROPIC_API_KEY is not set"):
        AnthropicAgent(AnthropicConfig())


def test_base_url_from_the_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeMessagesAPI([tool_calls(EDIT), tool_calls(FINISH)]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        AnthropicAgent(AnthropicConfig(), max_retries=0).propose(_context(repo))
        assert len(api.requests) == 2


def test_ending_without_finish_proposes_the_change_with_its_last_text(repo: Path) -> None:
    script = [tool_calls(EDIT), text("I replaced the list with a set.")]
    with FakeMessagesAPI(script) as api:
        proposal = _agent(api).propose(_context(repo))
    assert proposal.description == "I replaced the list with a set."


def test_ending_without_any_change_is_an_agent_error_after_one_nudge(repo: Path) -> None:
    with FakeMessagesAPI([text("I have no idea."), text("Still nothing.")]) as api:
        with pytest.raises(AgentError, match="without changing any file") as info:
            _agent(api).propose(_context(repo))
        nudge = api.requests[1].json["messages"][-1]["content"][0]["text"]
    assert "not changed any file" in nudge
    assert info.value.tokens.output > 0


def test_max_turns_proposes_what_changed_so_far(repo: Path) -> None:
    script = [tool_calls(EDIT, say="Edited."), tool_calls(("read_file", {"path": "slow.py"}))]
    with FakeMessagesAPI(script) as api:
        proposal = _agent(api, max_turns=2).propose(_context(repo))
        assert len(api.requests) == 2
    assert proposal.description == "Edited."
    assert "max_turns (2)" in proposal.learned
    with FakeMessagesAPI([tool_calls(("read_file", {"path": "slow.py"}))]) as api:
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
        with pytest.raises(AgentError, match=r"reached max_turns \(1\) without changing"):
            _agent(api, max_turns=1).propose(_context(repo))


def test_cancel_stops_between_turns(repo: Path) -> None:
    cancel = threading.Event()
    ctx = _context(repo)
    ctx.cancel = cancel

    def emit(event: Event) -> None:
        if isinstance(event, AgentActivity) and event.kind == "tool":
            cancel.set()

    ctx.emit = emit
    script = [tool_calls(EDIT), tool_calls(FINISH)]
    with FakeMessagesAPI(script) as api:
        with pytest.raises(AgentError, match="stopped by the user without changing"):
            _agent(api).propose(ctx)
        assert len(api.requests) == 1
    # The edit was requested in the turn the stop came in: it was not run.
    assert (repo / "slow.py").read_text().endswith("list(xs)\n")


def test_old_tool_results_are_shortened_as_the_conversation_grows(repo: Path) -> None:
    reads = [tool_calls(("read_file", {"path": "big.txt", "start_line": 1 + 100 * i}))
             for i in range(10)]
    with FakeMessagesAPI(reads + [tool_calls(EDIT), tool_calls(FINISH)]) as api:
        _agent(api).propose(_context(repo))
        sizes = [r.size for r in api.requests]
        last = api.requests[-1].json
    shortened = [b for m in last["messages"] for b in m["content"]
                 if b.get("type") == "tool_result" and "[... shortened" in b["content"]]
    assert len(shortened) >= 5
    # Without shortening the last request would hold 10 results of ~20 kB each.
    assert max(sizes) < 120_000, sizes
    assert sizes[-1] < sizes[5] * 1.5


def _history(count: int) -> list[Experiment]:
    """`count` experiments after a baseline, with long fields and every failure kind."""
    statuses = [Status.KEEP, Status.DISCARD, Status.CRASH, Status.CHECKS_FAILED,
                Status.VETOED, Status.AGENT_ERROR, Status.TIMEOUT, Status.REJECTED]
    out = [Experiment(n=0, status=Status.BASELINE, metric=1.0, description="baseline")]
    for n in range(1, count + 1):
        status = statuses[n % len(statuses)]
        out.append(Experiment(
            n=n, status=status, metric=1.0 - n / 1000, champion_metric=1.0,
            reason=f"reason {n} " + "because " * 80,
            description=f"experiment {n}: " + "tried something quite elaborate " * 30,
            hypothesis="it should help " * 40, learned=f"lesson {n} " + "noted " * 80,
            veto_reason="not this way " * 30 if status is Status.VETOED else "",
            output_tail="\n".join(f"Traceback line {i} " + "x" * 300 for i in range(40))))
    return out


def test_request_size_stays_bounded_over_fifty_experiments(repo: Path) -> None:
    window = 15
    sizes: dict[int, int] = {}
    tokens: dict[int, Any] = {}
    records = _history(49)
    for n in (window + 1, 50):
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
        with FakeMessagesAPI([tool_calls(EDIT), tool_calls(FINISH)]) as api:
            proposal = _agent(api, history_window=window).propose(
                _context(repo, n=n, history=records[:n]))
            sizes[n] = api.requests[0].size
            tokens[n] = proposal.tokens
            body = api.requests[0].json["messages"][0]["content"][0]["text"]
        assert f"the last {window} of {n - 1}" in body
    print(f"\nfirst-request bytes: experiment {window + 1}: {sizes[window + 1]}, "
          f"experiment 50: {sizes[50]} ({sizes[50] / sizes[window + 1]:.3f}x); "
          f"tokens {tokens[window + 1]} / {tokens[50]}")
    assert sizes[50] <= 1.2 * sizes[window + 1]
    assert sizes[50] < 40_000


def test_the_key_is_written_nowhere(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    script = [tool_calls(("run_command", {"command": "env > env.txt; echo $ANTHROPIC_API_KEY"}),
                         EDIT), tool_calls(FINISH)]
    with FakeMessagesAPI(script) as api:
        _agent(api, allow_commands=True).propose(_context(repo))
        result = [b for m in api.requests[1].json["messages"] for b in m["content"]
                  if b.get("type") == "tool_result"][0]["content"]
    assert result.startswith("exit status 0")
    assert KEY not in result
    assert (repo / "env.txt").exists()
    for path in [*repo.rglob("*"), *state.rglob("*")]:
        if path.is_file() and not path.is_symlink():
            assert KEY.encode() not in path.read_bytes(), path


def test_bad_model_is_fatal(repo: Path) -> None:
    with (FakeMessagesAPI([error(404, "model: claude-nope")]) as api,
          pytest.raises(AgentFatalError, match="claude-nope")):
        _agent(api, model="claude-nope").propose(_context(repo))


def test_unscripted_server_reply_shape_round_trips_json(repo: Path) -> None:
    """The fake server also answers non-streaming requests (other tests may use them)."""
    import anthropic

    with FakeMessagesAPI([Reply(content=[{"type": "text", "text": "hi"}])]) as api:
        client = anthropic.Anthropic(api_key=KEY, base_url=api.base_url, max_retries=0)
        message = client.messages.create(model="m", max_tokens=10,
                                         messages=[{"role": "user", "content": "x"}])
        assert json.loads(api.requests[0].body)["messages"][0]["content"] == "x"
    block = message.content[0]
    assert block.type == "text" and block.text == "hi" and message.usage.output_tokens > 0


# ---------------------------------------------------------------------------------------
# End to end: `autoresearch-tui run --headless` with kind = "anthropic" against the fake.


def _scripted_researcher(request: dict[str, Any], index: int) -> Reply:
    """A fake model that, in each experiment, reads nums/a.txt, lowers it by 10, finishes."""
    messages = request["messages"]
    if len(messages) == 1:
        return tool_calls(("read_file", {"path": "nums/a.txt"}),
                          say="The score sums nums/*.txt; a.txt dominates.")
    if len(messages) == 3:
        result = messages[2]["content"][0]["content"]
        value = int(result.splitlines()[1].split()[-1])
        return tool_calls(("edit_file", {"path": "nums/a.txt", "old": f"{value}\n",
                                         "new": f"{value - 10}\n"}))
    return tool_calls(("finish", {"description": "Lower a by 10",
                                  "hypothesis": "a is summed into the score",
                                  "learned": "each 10 off a is 10 off the score"}))


def _use_claude(project: Any, base_url: str) -> None:
    project.write("autoresearch.toml", f"""\
        [metric]
        command = "python3 bench.py"
        name = "score"
        calibration_runs = 3
        repeats = 2
        max_repeats = 4
        timeout_s = 20

        [checks]
        command = "python3 check.py"

        [agent]
        kind = "anthropic"

        [agent.anthropic]
        base_url = "{base_url}"
        model = "claude-sonnet-5-5"
        history_window = 5

        [guard]
        unprotected = ["nums/**"]  # the code under test here (the benchmark reads it)
        """)
    project.commit("use the claude agent")


@pytest.mark.slow  # a whole headless session (~10 s); requests and tools are tested above
def test_headless_session_with_the_claude_agent_keeps_its_changes(
        project: Any, tmp_path: Path) -> None:
    import os
    import sys

    from app.engine.history import read_log

    with FakeMessagesAPI(responder=_scripted_researcher) as api:
        _use_claude(project, api.base_url)
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
        done = subprocess.run([sys.executable, "-m", "app", "run", "--headless",
                               "--max-experiments", "3"], cwd=project.root, env=env,
                              capture_output=True, text=True, timeout=120)
        requests = list(api.requests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project.root / "nums/a.txt").read_text() == "50\n"  # the user's checkout
    logs = list((project.root / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
    assert len(logs) == 1
    experiments = [e for e in read_log(logs[0]).experiments if e.n > 0]
    assert [str(e.status) for e in experiments] == ["keep", "keep", "keep"], done.stdout
    assert [e.metric for e in experiments] == [40.0, 30.0, 20.0]
    assert all(e.description == "Lower a by 10" and e.tokens.total > 0 and e.cost_usd > 0
               for e in experiments)
    assert len(requests) == 9
    for path in project.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert KEY.encode() not in path.read_bytes(), path
    print()
    for e in experiments:
        sizes = [r.size for r in requests[(e.n - 1) * 3:e.n * 3]]
        print(f"experiment {e.n}: {e.status} {e.metric:g}; tokens in {e.tokens.input}, "
              f"out {e.tokens.output}, cache read {e.tokens.cache_read}, cache write "
              f"{e.tokens.cache_write}; ${e.cost_usd:.4f}; request bytes {sizes}")
    print(done.stdout)


def test_cancel_while_streaming_stops_at_once_and_counts_the_tokens(repo: Path) -> None:
    cancel = threading.Event()
    ctx = _context(repo)
    ctx.cancel = cancel
    seen: list[str] = []

    def emit(event: Event) -> None:
        if isinstance(event, AgentActivity) and event.kind == "text":
            seen.append(event.text)
            cancel.set()

    ctx.emit = emit
    long_text = "I am thinking out loud about this problem. " * 40
    with FakeMessagesAPI([text(long_text), tool_calls(EDIT)]) as api:
        with pytest.raises(AgentError, match="stopped by the user") as info:
            _agent(api).propose(ctx)
        assert len(api.requests) == 1
    assert len("".join(seen)) < len(long_text)  # it did not wait for the whole answer
    assert info.value.tokens.total > 0


def test_system_prompt_is_stable_and_history_is_capped(repo: Path) -> None:
    """The system prompt is the cached prefix: it must not change between experiments."""
    from app.engine.agents.prompt import history_message, system_prompt

    records = _history(30)
    early, late = _context(repo, n=5, history=records[:5]), _context(repo, n=31,
                                                                       history=records)
    assert system_prompt(early) == system_prompt(late)
    message = history_message(late, 4)
    assert "the last 4 of 30" in message and "#26" not in message and "#27 " in message
    assert "vetoed by the user: not this way" in message  # #28 is a veto
    assert message.count("output tail:") == 3  # #27 rejected, #29 crash, #30 checks_failed
    assert "Traceback line 39" in message and "Traceback line 30" not in message
    assert max(len(line) for line in message.splitlines()) <= 320


def test_an_outage_is_an_agent_error_and_the_loop_goes_on(
        project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """529 until the SDK's retries run out: `agent_error`, then the next experiment works."""
    from app.engine.controller import LoopController
    from app.engine.events import StateChanged
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    outage = error(529, "Overloaded", headers={"retry-after": "0.01"}, repeat=5)
    with FakeMessagesAPI([outage], responder=_scripted_researcher) as api:
        _use_claude(project, api.base_url)
        controller = LoopController()
        waits: list[str] = []

        def sink(event: Event) -> None:
            # The loop backs off (a minute at least) after an outage; cut the wait short
            # the way a veto would, so the test stays fast.
            if isinstance(event, StateChanged) and "retrying in" in event.detail:
                waits.append(event.detail)
                controller.cancel.set()

        engine = open_session(LaunchOptions(cwd=project.root, max_experiments=2))
        try:
            status = engine.run(sink, controller)
        finally:
            engine.close()
        requests = len(api.requests)
    assert status == 0
    statuses = [(e.n, str(e.status)) for e in engine.experiments]
    assert statuses == [(0, "baseline"), (1, "agent_error"), (2, "keep")]
    failed = engine.experiments[1]
    assert "529" in failed.reason and "Overloaded" in failed.reason
    assert len(waits) == 1
    assert requests == 5 + 3  # 1 try + 4 SDK retries, then one three-turn experiment


def test_an_empty_answer_keeps_the_roles_alternating(repo: Path) -> None:
    with FakeMessagesAPI([Reply(content=[]), tool_calls(EDIT), tool_calls(FINISH)]) as api:
        _agent(api).propose(_context(repo))
        roles = [[m["role"] for m in r.json["messages"]] for r in api.requests]
    assert roles[1] == ["user"]  # the nudge joined the first user turn
    assert all(a != b for turn in roles for a, b in zip(turn, turn[1:]))


@pytest.mark.slow  # a whole headless session with two workers (~10 s)
def test_parallel_claude_workers_share_one_cached_prefix(project: Any) -> None:
    """With `--workers 2` each worker has its own agent (own client, own turns), but every
    request carries the same tools and system prompt, so the second worker's first request
    reads the prefix the first one cached; what differs between workers (the others'
    in-flight experiments) travels in the user message, after the cached prefix."""
    import os
    import sys

    from app.engine.history import read_log

    with FakeMessagesAPI(responder=_scripted_researcher) as api:
        _use_claude(project, api.base_url)
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
        done = subprocess.run([sys.executable, "-m", "app", "run", "--headless",
                               "--workers", "2", "--max-experiments", "4"],
                              cwd=project.root, env=env, capture_output=True, text=True,
                              timeout=180)
        requests = [r.json for r in api.message_requests]
    assert done.returncode == 0, done.stdout + done.stderr
    logs = list((project.root / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
    experiments = [e for e in read_log(logs[0]).experiments if e.n > 0]
    assert {e.worker for e in experiments} == {1, 2}, [(e.n, e.worker) for e in experiments]
    firsts = [r for r in requests if len(r["messages"]) == 1]
    assert len(firsts) >= 4  # one opening request per experiment
    prefix = (requests[0]["tools"], requests[0]["system"])
    assert all((r["tools"], r["system"]) == prefix for r in requests)
    assert prefix[1][0]["cache_control"] == {"type": "ephemeral"}
    # The cache did its work across workers: every experiment after the first read the
    # shared prefix (tools and system) instead of writing it again.
    prefix_tokens = (len(json.dumps(without_cache_control(prefix[0]), sort_keys=True)) // 4
                     + len(json.dumps(without_cache_control(prefix[1]), sort_keys=True)) // 4)
    later = sorted((e for e in experiments if e.n > 1), key=lambda e: e.n)
    assert later and all(e.tokens.cache_read >= prefix_tokens for e in later), \
        [(e.n, e.worker, e.tokens) for e in experiments]

