"""The Claude agent: the `anthropic` SDK with tool use, one fresh conversation per experiment.

Why it is shaped this way:
- Each experiment starts a new conversation, so its cost does not grow with the session: a
  stable system prompt and tool list (marked with `cache_control`, so turns and experiments
  read them from the prompt cache) and one bounded history message (see `prompt.py`).
- Within an experiment, old tool results and large old edit arguments are shortened once
  the conversation passes a budget; the newest ones stay whole.
- The SDK retries 429/529/5xx itself (honouring `retry-after`); what still fails becomes an
  `AgentError` carrying the tokens spent and the server's `retry-after`, so the loop can
  back off and go on. A rejected key (401/403), a missing key or an unknown model is an
  `AgentFatalError`: retrying would only repeat it.
- The key comes from `ANTHROPIC_API_KEY` only and lives in this process's memory: it is
  never written anywhere, and `run_command` runs without it in its environment.

This module imports `anthropic` (about 1.5 s), so `make_agent` imports it only when the
config asks for this agent.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import anthropic

from app.config import AnthropicConfig, Prices
from app.engine.agent_git import AgentGitView, agent_git_view, discard
from app.engine.agents.base import (
    AgentContext,
    AgentError,
    AgentFatalError,
    Proposal,
)
from app.engine.agents.prompt import clip, history_message, system_prompt
from app.engine.agents.tools import Sandbox, ToolError, summarize_call, tool_schemas
from app.engine.events import AgentActivity
from app.engine.git_cli import worktree_status
from app.engine.records import Tokens

KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_MAX_RETRIES = 4
RESULT_BUDGET_CHARS = 60_000
"""Above this many characters of tool results and edit arguments in one conversation, the
older ones are shortened (about 15k tokens; the newest stay whole)."""
KEEP_RECENT = 4
"""How many of the newest tool results (and assistant turns) are never shortened."""
SHORT_CHARS = 300
TEXT_FLUSH_CHARS = 200
TEXT_FLUSH_S = 0.25
EPHEMERAL = {"type": "ephemeral"}


def cost_usd(tokens: Tokens, prices: Prices) -> float:
    """The price of `tokens` with a table in USD per million tokens."""
    return (tokens.input * prices.input + tokens.output * prices.output
            + tokens.cache_read * prices.cache_read
            + tokens.cache_write * prices.cache_write) / 1_000_000


def retry_after_seconds(headers: Any) -> float | None:
    """The server's `retry-after-ms` / `retry-after` (seconds) when it sent one."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is not None:
            return max(0.0, float(value))
    except (TypeError, ValueError):
        return None
    return None


@dataclass
class ExperimentStats:
    """What one experiment cost: the figures the closing note and the benchmarks print."""

    n: int
    requests: int = 0
    request_bytes: list[int] = field(default_factory=list)
    """The JSON size of each request sent (the body the API receives, approximately)."""
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    tool_calls: int = 0
    refused: int = 0

    def line(self) -> str:
        largest = max(self.request_bytes, default=0)
        t = self.tokens
        return (f"{self.requests} requests (largest {largest / 1000:.1f} kB), "
                f"{self.tool_calls} tool calls ({self.refused} refused); tokens in {t.input}, "
                f"out {t.output}, cache read {t.cache_read}, cache write {t.cache_write}; "
                f"${self.cost_usd:.4f}")


class AnthropicAgent:
    """`[agent] kind = "anthropic"`. See the module docstring."""

    name = "anthropic"

    def __init__(self, config: AnthropicConfig, *, max_retries: int = DEFAULT_MAX_RETRIES,
                 timeout_s: float = 600.0) -> None:
        self.config = config
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.stats: list[ExperimentStats] = []
        """One entry per experiment proposed by this instance, oldest first."""
        self._client: anthropic.Anthropic | None = None
        # Refused before anything starts: a session without a key would only fail later.
        self._key()

    def for_worker(self, worker: int) -> AnthropicAgent:
        """A parallel worker's own agent (own client and stats; the same system prompt and
        tools, so the workers share the prompt-cache prefix)."""
        return AnthropicAgent(self.config, max_retries=self.max_retries,
                              timeout_s=self.timeout_s)

    @staticmethod
    def _key() -> str:
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            raise AgentFatalError(f"{KEY_ENV} is not set; export your Anthropic API key in "
                                  "that environment variable (it is never written to a file), "
                                  "or use another [agent] kind.")
        return key

    @property
    def base_url(self) -> str | None:
        return self.config.base_url or os.environ.get(BASE_URL_ENV) or None

    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            self._client = anthropic.Anthropic(api_key=self._key(), base_url=self.base_url,
                                               max_retries=self.max_retries,
                                               timeout=self.timeout_s)
        return self._client

    # -- one experiment ---------------------------------------------------------------------

    def propose(self, ctx: AgentContext) -> Proposal:
        cfg = self.config
        stats = ExperimentStats(ctx.n)
        self.stats.append(stats)
        view = agent_git_view(ctx) if cfg.allow_commands else None
        try:
            return self._propose(ctx, stats, view)
        finally:
            discard(view)

    def _propose(self, ctx: AgentContext, stats: ExperimentStats,
                 view: AgentGitView | None) -> Proposal:
        cfg = self.config
        sandbox = Sandbox(ctx.worktree, is_protected=ctx.is_protected, is_hidden=ctx.is_hidden,
                          allow_commands=cfg.allow_commands,
                          isolation=ctx.sandbox.tool(ctx.worktree, hidden=ctx.hidden_paths,
                                                     git_view=view)
                          if ctx.sandbox else None,
                          policy=ctx.sandbox.policy if ctx.sandbox else None)
        before = worktree_status(sandbox.root)
        tools = tool_schemas(cfg.allow_commands)
        tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
        system = [{"type": "text", "cache_control": EPHEMERAL,
                   "text": system_prompt(ctx, allow_commands=cfg.allow_commands)}]
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text",
                                          "text": history_message(ctx, cfg.history_window)}]}]
        ctx.emit(AgentActivity(ctx.n, "info", f"asking {cfg.model} (at most {cfg.max_turns} "
                                              "turns)"))
        last_text = ""
        nudged = False
        outcome = ""
        for _turn in range(1, cfg.max_turns + 1):
            if ctx.cancel.is_set():
                outcome = "was stopped by the user"
                break
            _shorten_old(messages)
            _mark_last_for_cache(messages)
            params = {"model": cfg.model, "max_tokens": cfg.max_tokens, "system": system,
                      "tools": tools, "messages": messages}
            message = self._request(ctx, params, stats)
            if message is None:  # cancelled while streaming
                outcome = "was stopped by the user"
                break
            content = _assistant_content(message)
            texts = [b["text"] for b in content if b["type"] == "text" and b["text"].strip()]
            if texts:
                last_text = texts[-1]
            if content:
                messages.append({"role": "assistant", "content": content})
            calls = [b for b in content if b["type"] == "tool_use"]
            stop = message.stop_reason
            if stop == "refusal":
                raise self._error(stats, "the model refused to continue this experiment")
            if stop == "max_tokens" and calls:
                # The last call may be cut off mid-argument: run none, say why.
                _add_user(messages, [
                    {"type": "tool_result", "tool_use_id": c["id"], "is_error": True,
                     "content": "Your reply was cut off at max_tokens, so this call was not "
                                "run. Make smaller edits (edit_file rather than write_file)."}
                    for c in calls])
                continue
            if calls:
                results, finish = self._run_tools(ctx, sandbox, calls, stats)
                if finish is not None:
                    return self._finish(ctx, stats, sandbox, before, finish, last_text)
                _add_user(messages, results)
                continue
            if stop == "pause_turn":
                continue
            if stop == "max_tokens":
                _add_user(messages, [{"type": "text", "text":
                                      "Continue, and call finish when the change is complete."}])
                continue
            # The model ended its turn without calling finish.
            if _changed(sandbox, before) or nudged:
                outcome = "ended without calling finish"
                break
            nudged = True
            _add_user(messages, [{"type": "text", "text":
                                  "You have not changed any file yet. Make one concrete change "
                                  "with the tools, then call finish."}])
        else:
            outcome = f"reached max_turns ({cfg.max_turns})"
        return self._wrap_up(ctx, stats, sandbox, before, last_text, outcome)

    def _request(self, ctx: AgentContext, params: dict[str, Any], stats: ExperimentStats
                 ) -> Any:
        """One streamed request; text deltas go out as batched AgentActivity events.

        Returns the final message, or None when `ctx.cancel` was set while streaming.
        """
        stats.requests += 1
        stats.request_bytes.append(len(json.dumps(params, ensure_ascii=False).encode()))
        buffer = ""
        flushed = time.monotonic()

        def flush() -> None:
            nonlocal buffer, flushed
            if buffer:
                ctx.emit(AgentActivity(ctx.n, "text", buffer))
            buffer, flushed = "", time.monotonic()

        message = None
        try:
            with self.client().messages.stream(**params) as stream:
                for event in stream:
                    if event.type == "text":
                        buffer += event.text
                        if (len(buffer) >= TEXT_FLUSH_CHARS or ("\n" in event.text and
                                time.monotonic() - flushed >= TEXT_FLUSH_S)):
                            flush()
                    if ctx.cancel.is_set():
                        break
                flush()
                if ctx.cancel.is_set():
                    try:  # what was spent until the stop still counts
                        self._count(stats, stream.current_message_snapshot.usage)
                    except AssertionError:  # stopped before the message started
                        pass
                    return None
                message = stream.get_final_message()
        except anthropic.APIStatusError as exc:
            flush()
            raise self._status_error(exc, stats) from None
        except anthropic.APIConnectionError as exc:
            flush()
            where = self.base_url or "api.anthropic.com"
            raise self._error(stats, f"cannot reach the Anthropic API at {where} "
                                     f"({type(exc).__name__}: {exc})", transient=True) from None
        except (ValueError, anthropic.AnthropicError) as exc:
            flush()
            raise self._error(stats, f"bad response from the Anthropic API: {exc}") from None
        self._count(stats, message.usage)
        return message

    def _count(self, stats: ExperimentStats, usage: Any) -> None:
        if usage is None:
            return
        stats.tokens = stats.tokens + Tokens(
            input=int(getattr(usage, "input_tokens", 0) or 0),
            output=int(getattr(usage, "output_tokens", 0) or 0),
            cache_read=int(getattr(usage, "cache_read_input_tokens", 0) or 0),
            cache_write=int(getattr(usage, "cache_creation_input_tokens", 0) or 0))
        stats.cost_usd = cost_usd(stats.tokens, self.config.prices)

    def _error(self, stats: ExperimentStats, message: str,
               retry_after_s: float | None = None, transient: bool = False) -> AgentError:
        """An AgentError carrying what was spent; `transient` for outages (the loop backs
        off before the next experiment)."""
        return AgentError(message, tokens=stats.tokens, cost_usd=stats.cost_usd,
                          retry_after_s=retry_after_s, transient=transient)

    def _status_error(self, exc: anthropic.APIStatusError, stats: ExperimentStats
                      ) -> Exception:
        status = exc.status_code
        detail = _error_detail(exc)
        if status in (401, 403):
            what = "rejected the API key" if status == 401 else "refused access"
            return AgentFatalError(f"The Anthropic API {what} ({status}: {detail}); check "
                                   f"{KEY_ENV} and the account's permissions.")
        if status == 402 or (status == 400 and "credit balance" in detail.lower()):
            return AgentFatalError(f"The Anthropic API refused the request for billing "
                                   f"reasons ({status}: {detail}); check the account's credit.")
        if status == 404:
            return AgentFatalError(f"The Anthropic API answered 404 ({detail}); check "
                                   f"[agent.anthropic] model ({self.config.model!r}) and "
                                   "base_url.")
        retry = retry_after_seconds(getattr(exc.response, "headers", None))
        transient = status in (408, 409, 429) or status >= 500
        tried = f" after {self.max_retries} retries" if transient else ""
        return self._error(stats, f"Anthropic API error {status}{tried}: {detail}", retry,
                           transient)

    def _run_tools(self, ctx: AgentContext, sandbox: Sandbox, calls: list[dict[str, Any]],
                   stats: ExperimentStats) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        results: list[dict[str, Any]] = []
        finish: dict[str, Any] | None = None
        for call in calls:
            name, args = call["name"], call.get("input") or {}
            stats.tool_calls += 1
            ctx.emit(AgentActivity(ctx.n, "tool", summarize_call(name, args)))
            if name == "finish":
                finish = args if isinstance(args, dict) else {}
                results.append({"type": "tool_result", "tool_use_id": call["id"],
                                "content": "ok"})
                continue
            if ctx.cancel.is_set():
                output, failed = "not run: the user stopped this experiment", True
            else:
                try:
                    output, failed = sandbox.run(name, args), False
                except ToolError as exc:
                    output, failed = str(exc), True
            if failed:
                stats.refused += 1
                ctx.emit(AgentActivity(ctx.n, "info", f"{name}: {clip(output, 200)}"))
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call["id"],
                                      "content": output or "(no output)"}
            if failed:
                result["is_error"] = True
            results.append(result)
        return results, finish

    def _finish(self, ctx: AgentContext, stats: ExperimentStats, sandbox: Sandbox,
                before: str | None, args: dict[str, Any], last_text: str) -> Proposal:
        if not _changed(sandbox, before):
            raise self._error(stats, "the agent called finish without changing any file")
        description = clip(str(args.get("description") or "") or last_text, 500)
        return self._proposal(ctx, stats, description, str(args.get("hypothesis") or ""),
                              str(args.get("learned") or ""))

    def _wrap_up(self, ctx: AgentContext, stats: ExperimentStats, sandbox: Sandbox,
                 before: str | None, last_text: str, outcome: str) -> Proposal:
        """The conversation ended without `finish`: propose what changed, if anything."""
        if not _changed(sandbox, before):
            raise self._error(stats, f"the agent {outcome} without changing any file")
        ctx.emit(AgentActivity(ctx.n, "info", f"the agent {outcome}; proposing what it "
                                              "changed so far"))
        return self._proposal(ctx, stats, clip(last_text, 500), "",
                              f"(the agent {outcome})")

    def _proposal(self, ctx: AgentContext, stats: ExperimentStats, description: str,
                  hypothesis: str, learned: str) -> Proposal:
        ctx.emit(AgentActivity(ctx.n, "info", stats.line()))
        return Proposal(description=description, hypothesis=clip(hypothesis, 1000),
                        learned=clip(learned, 1000), tokens=stats.tokens,
                        cost_usd=stats.cost_usd)


# ---------------------------------------------------------------------------------------
# Conversation helpers


def _assistant_content(message: Any) -> list[dict[str, Any]]:
    """The assistant's blocks as request params (empty text blocks dropped: the API
    rejects them)."""
    out: list[dict[str, Any]] = []
    for block in message.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            if block.text:
                out.append({"type": "text", "text": block.text})
        elif kind == "tool_use":
            out.append({"type": "tool_use", "id": block.id, "name": block.name,
                        "input": block.input if isinstance(block.input, dict) else {}})
        elif kind in ("thinking", "redacted_thinking"):
            out.append(block.model_dump(exclude_none=True))
    return out


def _add_user(messages: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    """Append a user turn; after an empty assistant answer (nothing was appended for it)
    the blocks join the previous user turn, as the API wants the roles to alternate."""
    if messages and messages[-1]["role"] == "user":
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": "user", "content": blocks})


def _mark_last_for_cache(messages: list[dict[str, Any]]) -> None:
    """One `cache_control` breakpoint on the newest message's last block, none earlier, so
    each turn reads the previous turns from the cache (at most 4 breakpoints are allowed:
    tools, system and this one)."""
    for message in messages:
        for block in message["content"]:
            block.pop("cache_control", None)
    messages[-1]["content"][-1]["cache_control"] = EPHEMERAL


def _shorten_old(messages: list[dict[str, Any]]) -> None:
    """Shorten the oldest tool results and edit arguments while the conversation is over
    budget. Shortening is sticky (the texts are replaced in place), so the prefix changes
    only when something is shortened and the prompt cache hits on the other turns."""
    bulky: list[tuple[dict[str, Any], str]] = []
    for message in messages[1:]:
        for block in message["content"]:
            if block.get("type") == "tool_result" and isinstance(block.get("content"), str):
                bulky.append((block, "content"))
            elif block.get("type") == "tool_use" and isinstance(block.get("input"), dict):
                for key in ("content", "old", "new"):
                    if isinstance(block["input"].get(key), str):
                        bulky.append((block["input"], key))
    total = sum(len(holder[key]) for holder, key in bulky)
    # The newest results and arguments stay whole: the model is working with them.
    for holder, key in bulky[:max(0, len(bulky) - KEEP_RECENT)]:
        if total <= RESULT_BUDGET_CHARS:
            break
        value = holder[key]
        if len(value) <= SHORT_CHARS + 80:
            continue
        short = (value[:SHORT_CHARS] + f"\n[... shortened: {len(value) - SHORT_CHARS} more "
                 "characters; call the tool again if you need them]")
        holder[key] = short
        total -= len(value) - len(short)


def _changed(sandbox: Sandbox, before: str | None) -> bool:
    """Whether the experiment changed anything: a file tool wrote, or git sees a change."""
    if sandbox.changed - {"(run_command)"}:
        return True
    after = worktree_status(sandbox.root)
    if before is None or after is None:
        return bool(sandbox.changed)
    return after != before


def _error_detail(exc: anthropic.APIStatusError) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return clip(str(inner["message"]), 300)
    return clip(str(getattr(exc, "message", "") or exc), 300)
