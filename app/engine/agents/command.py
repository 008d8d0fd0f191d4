"""The command agent: any command-line coding agent (Claude Code, Codex, pi, aider, a
script) run in the worktree with the experiment's prompt in a file.

It runs through the harness's one process runner, in the session's sandbox (with
bubblewrap: its worktree and the user's HOME writable, where its login lives; the
repository read-only; the session's state and the holdout's files hidden; its git a
throwaway git dir without the holdout's files (app/engine/agent_git.py), the real one and
the other worktrees not there at all; network on; every process it started gone when it
returns). Its environment is the session's
allowlist plus `[agent.command] env` (its API key, say), names passed to it and to no
measured command. What keeps it honest is still the harness: whatever it changed is
snapshotted, changes to protected files get the experiment `rejected`, and the metric is
measured by the harness, in a clean tree, not by the agent.

The description is the last `DESCRIPTION:` line it printed (`HYPOTHESIS:` and `LEARNED:`
lines are read the same way); without one the description is left empty and the loop
uses the diffstat.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from app.config import CommandAgentConfig
from app.engine.agent_git import agent_git_view, discard
from app.engine.agents.base import AgentContext, AgentError, Proposal
from app.engine.agents.prompt import clip, command_prompt
from app.engine.events import AgentActivity
from app.engine.git_cli import worktree_status
from app.engine.process import run_command

HISTORY_WINDOW = 15
TAIL_LINES = 40
TAIL_CHARS = 4_000
BATCH_S = 0.2
_FIELD = re.compile(r"^\s*(?:[*#>`_-]+\s*)?(DESCRIPTION|HYPOTHESIS|LEARNED)\s*:[*_`]*\s*"
                    r"(.*?)[\s`*_]*$")
"""`DESCRIPTION: ...`, also as Markdown agents print it (`**DESCRIPTION:** ...`)."""


def render_command(template: str, prompt_file: Path, worker: int = 0) -> str:
    """The template with `{prompt_file}` replaced by the shell-quoted path and `{worker}`
    by the parallel worker's number (and nothing else: other braces in the template, e.g.
    a shell `${VAR:-x}`, are left alone)."""
    return template.replace("{prompt_file}", shlex.quote(str(prompt_file))).replace(
        "{worker}", str(worker))


def parse_fields(output: str) -> dict[str, str]:
    """The last `DESCRIPTION:`, `HYPOTHESIS:`, `LEARNED:` line of each kind in `output`."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        match = _FIELD.match(line)
        if match and match.group(2).strip():
            found[match.group(1).lower()] = match.group(2).strip()
    return found


class CommandAgent:
    """`[agent] kind = "command"`. See the module docstring."""

    name = "command"

    def __init__(self, config: CommandAgentConfig, *, state_dir: Path,
                 history_window: int = HISTORY_WINDOW) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.history_window = history_window

    def prompt_path(self, n: int) -> Path:
        return self.state_dir / "runs" / str(n) / "agent-prompt.md"

    def propose(self, ctx: AgentContext) -> Proposal:
        prompt_file = self.prompt_path(ctx.n)
        prompt_file.parent.mkdir(parents=True, exist_ok=True)
        prompt_file.write_text(command_prompt(ctx, self.history_window), encoding="utf-8")
        command = render_command(self.config.command, prompt_file, ctx.worker)
        ctx.emit(AgentActivity(ctx.n, "info", f"$ {clip(command, 300)}"))
        before = worktree_status(ctx.worktree)
        status, output, field_lines, why = self._run(ctx, command, prompt_file)
        after = worktree_status(ctx.worktree)
        changed = before is None or after is None or before != after
        if why and not (ctx.cancel.is_set() and changed):
            raise AgentError(f"the agent command {why}" + _tail_note(output))
        # Stopped or vetoed after it changed something: hand the change over, so the loop
        # records it as the user's veto or stop (it measures nothing while cancelled).
        if not why and status != 0:
            raise AgentError(f"the agent command exited with status {status}"
                             + _tail_note(output))
        if not changed:
            raise AgentError("the agent command finished without changing any file"
                             + _tail_note(output))
        fields = parse_fields(field_lines)
        return Proposal(description=clip(fields.get("description", ""), 500),
                        hypothesis=clip(fields.get("hypothesis", ""), 1000),
                        learned=clip(fields.get("learned", ""), 1000))

    def _run(self, ctx: AgentContext, command: str, prompt_file: Path
             ) -> tuple[int | None, str, str, str]:
        """Run `command` in the worktree through the harness's one process runner (its
        sandbox, its environment allowlist plus `[agent.command] env`), streaming its
        output; every process it started is gone when this returns.

        Returns (exit status, output tail, the field lines it printed, why it was stopped
        or ""); field lines are kept apart so they count even when they scroll out of the
        tail.
        """
        kept: list[str] = []
        fields_seen: list[str] = []

        def on_lines(batch: list[str]) -> None:
            for line in batch:
                if _FIELD.match(line):
                    fields_seen.append(line)
                    del fields_seen[:-20]
            kept.extend(batch)
            if len(kept) > TAIL_LINES * 4:
                del kept[:len(kept) - TAIL_LINES * 2]
            ctx.emit(AgentActivity(ctx.n, "text", "\n".join(batch) + "\n"))

        isolation = policy = None
        agent_env: tuple[str, ...] = tuple(self.config.env)
        view = agent_git_view(ctx)
        if ctx.sandbox is not None:
            isolation = ctx.sandbox.agent(
                ctx.worktree, hidden=ctx.hidden_paths, readable=[prompt_file], git_view=view)
            policy = ctx.sandbox.policy
        try:
            result = run_command(command, ctx.worktree, self.config.timeout_s,
                                 on_lines=on_lines, cancel=ctx.cancel, isolation=isolation,
                                 policy=policy, agent_env=agent_env, merge_stderr=True,
                                 env={"AUTORESEARCH_EXPERIMENT": str(ctx.n),
                                      "AUTORESEARCH_WORKER": str(ctx.worker)})
        finally:
            discard(view)
        why = ""
        if result.cancelled:
            why = "was stopped by the user"
        elif result.timed_out:
            why = f"timed out after {self.config.timeout_s:g} s"
        return (result.exit_code, "\n".join(kept[-TAIL_LINES:]), "\n".join(fields_seen),
                why)


def _tail_note(output: str) -> str:
    text = output.strip()
    if not text:
        return "; it printed nothing"
    return ":\n" + text[-TAIL_CHARS:]


