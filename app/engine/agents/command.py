"""The command agent: any command-line coding agent (Claude Code, Codex, pi, aider, a
script) run in the worktree with the experiment's prompt in a file.

The harness does not sandbox it: it runs with the user's environment (it needs its own API
key) and can read anything the user can, protected files included. What keeps it honest is
the harness: whatever it changed is snapshotted, changes to protected files get the
experiment `rejected`, and the metric is measured by the harness, not by the agent.

The description is the last `DESCRIPTION:` line it printed (`HYPOTHESIS:` and `LEARNED:`
lines are read the same way); without one the description is left empty and the loop
uses the diffstat.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from app.config import CommandAgentConfig
from app.engine.agents.base import AgentContext, AgentError, Proposal, worktree_status
from app.engine.agents.prompt import clip, command_prompt
from app.engine.agents.tools import kill_group
from app.engine.events import AgentActivity

HISTORY_WINDOW = 15
TAIL_LINES = 40
TAIL_CHARS = 4_000
BATCH_S = 0.2
_FIELD = re.compile(r"^\s*(?:[*#>`_-]+\s*)?(DESCRIPTION|HYPOTHESIS|LEARNED)\s*:[*_`]*\s*"
                    r"(.*?)[\s`*_]*$")
"""`DESCRIPTION: ...`, also as Markdown agents print it (`**DESCRIPTION:** ...`)."""


def render_command(template: str, prompt_file: Path) -> str:
    """The template with `{prompt_file}` replaced by the shell-quoted path (and nothing
    else: other braces in the template, e.g. a shell `${VAR:-x}`, are left alone)."""
    return template.replace("{prompt_file}", shlex.quote(str(prompt_file)))


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
        command = render_command(self.config.command, prompt_file)
        ctx.emit(AgentActivity(ctx.n, "info", f"$ {clip(command, 300)}"))
        before = worktree_status(ctx.worktree)
        status, output, field_lines, why = self._run(ctx, command)
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

    def _run(self, ctx: AgentContext, command: str) -> tuple[int | None, str, str, str]:
        """Run `command` in the worktree in its own process group, streaming its output.

        Returns (exit status, output tail, the field lines it printed, why it was stopped
        or ""); field lines are kept apart so they count even when they scroll out of the
        tail.
        """
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=ctx.worktree,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "AUTORESEARCH_EXPERIMENT": str(ctx.n)})
        lines: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True,
                                  name=f"agent-output-{ctx.n}")
        reader.start()
        deadline = time.monotonic() + self.config.timeout_s
        kept: list[str] = []
        fields_seen: list[str] = []
        batch: list[str] = []
        last_emit = time.monotonic()
        why = ""
        done = False
        while not done:
            try:
                line = lines.get(timeout=BATCH_S)
                if line is None:
                    done = True
                else:
                    batch.append(line)
                    kept.append(line)
                    if _FIELD.match(line):
                        fields_seen.append(line)
                        del fields_seen[:-20]
                    if len(kept) > TAIL_LINES * 4:
                        del kept[:len(kept) - TAIL_LINES * 2]
            except queue.Empty:
                pass
            now = time.monotonic()
            if batch and (done or now - last_emit >= BATCH_S or len(batch) >= 200):
                ctx.emit(AgentActivity(ctx.n, "text", "\n".join(batch) + "\n"))
                batch, last_emit = [], now
            if not done and ctx.cancel.is_set():
                why = "was stopped by the user"
            elif not done and now > deadline:
                why = f"timed out after {self.config.timeout_s:g} s"
            if why:
                kill_group(proc)
                break
        if not why:
            # The output closed; the process may still be running (it closed its stdout).
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                why = f"timed out after {self.config.timeout_s:g} s"
                kill_group(proc)
        reader.join(timeout=5)
        status = proc.poll()
        return status, "\n".join(kept[-TAIL_LINES:]), "\n".join(fields_seen), why


def _read_lines(stream: IO[bytes], sink: queue.Queue[str | None]) -> None:
    try:
        for raw in iter(stream.readline, b""):
            sink.put(raw.decode("utf-8", errors="replace").rstrip("\r\n")[:2000])
    finally:
        sink.put(None)


def _tail_note(output: str) -> str:
    text = output.strip()
    if not text:
        return "; it printed nothing"
    return ":\n" + text[-TAIL_CHARS:]


