"""The scripted agent: applies prepared patches in name order. Offline demos and tests.

Each experiment takes the first `*.patch` of the folder, in name order, that no recorded
experiment has used (`AgentContext.used_sources`), so a resumed session goes on where it
stopped. A patch that does not apply is an `agent_error`; when none are left the session
ends normally.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from app.engine.agents.base import AgentContext, AgentError, AgentsExhausted, Proposal
from app.engine.events import AgentActivity


class _Claims:
    """Patches taken by parallel workers and not yet recorded (shared by their agents)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken: set[str] = set()


class ScriptedAgent:
    name = "scripted"

    def __init__(self, patches_dir: Path, claims: _Claims | None = None) -> None:
        self.patches_dir = patches_dir
        self._claims = claims or _Claims()
        self._reserved: str | None = None

    def for_worker(self, worker: int) -> ScriptedAgent:
        """A parallel worker's agent: the same patches, never one another worker took."""
        return ScriptedAgent(self.patches_dir, self._claims)

    def reserve(self, used: frozenset[str]) -> bool:
        """Take the next patch no experiment used and no worker took, for this agent's
        next proposal (called with the session's numbering lock held); False: none left."""
        if self._reserved is not None:
            return True
        with self._claims.lock:
            remaining = [p.name for p in self.patches()
                         if p.name not in used and p.name not in self._claims.taken]
            if not remaining:
                return False
            self._reserved = remaining[0]
            self._claims.taken.add(remaining[0])
            return True

    def patches(self) -> list[Path]:
        if not self.patches_dir.is_dir():
            return []
        return sorted(p for p in self.patches_dir.glob("*.patch") if p.is_file())

    def propose(self, ctx: AgentContext) -> Proposal:
        reserved, self._reserved = self._reserved, None
        remaining = [p for p in self.patches() if p.name == reserved] if reserved else [
            p for p in self.patches() if p.name not in ctx.used_sources]
        if not remaining:
            raise AgentsExhausted("the scripted patches ran out")
        patch = remaining[0]
        text = patch.read_text(encoding="utf-8", errors="replace")
        description = describe_patch(text) or patch.stem
        ctx.emit(AgentActivity(ctx.n, "tool", f"apply {patch.name}: {description}"))
        if not any(line.startswith(("diff --git", "--- ", "Binary files"))
                   for line in text.splitlines()):
            # An empty patch is an empty proposal: the harness rejects it as such.
            return Proposal(description=description, source=patch.name)
        result = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", str(patch.resolve())], cwd=ctx.worktree,
            capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["git apply failed"])[0]
            raise AgentError(f"{patch.name} does not apply: {reason}", source=patch.name)
        return Proposal(description=description, hypothesis=_field(text, "Hypothesis"),
                        source=patch.name)


def describe_patch(text: str) -> str:
    """The `Subject:` of a format-patch file (without `[PATCH n/m]`), else its first line."""
    for line in text.splitlines():
        if line.startswith("Subject:"):
            subject = line[len("Subject:"):].strip()
            if subject.startswith("[") and "]" in subject:
                subject = subject.split("]", 1)[1].strip()
            return subject
        if line.startswith("diff --git"):
            break
    first = text.strip().splitlines()[0] if text.strip() else ""
    return "" if first.startswith(("diff --git", "---", "From ")) else first.strip()


def _field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
        if line.startswith("diff --git"):
            break
    return ""
