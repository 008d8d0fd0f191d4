"""Agents propose changes by editing the worktree. See `base.Agent`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.engine.agents.base import (
    Agent,
    AgentContext,
    AgentError,
    AgentFatalError,
    AgentsExhausted,
    Proposal,
)

__all__ = ["Agent", "AgentContext", "AgentError", "AgentFatalError", "AgentsExhausted",
           "Proposal", "make_agent"]

if TYPE_CHECKING:
    from app.config import Config


def make_agent(config: Config, repo_root: Path, state_dir: Path) -> Agent:
    """Build the agent that `[agent] kind` names. Heavy SDKs are imported only here."""
    kind = config.agent.kind
    if kind == "scripted":
        from app.engine.agents.scripted import ScriptedAgent

        return ScriptedAgent(repo_root / config.agent.scripted.patches)
    if kind == "command":
        from app.engine.agents.command import CommandAgent

        return CommandAgent(config.agent.command, state_dir=state_dir)
    if kind == "anthropic":
        from app.engine.agents.anthropic import AnthropicAgent

        return AnthropicAgent(config.agent.anthropic)
    raise ValueError(kind)
