"""Agents propose changes by editing the worktree. See `base.Agent`."""

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


def make_agent(config, repo_root, state_dir):  # type: ignore[no-untyped-def]
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
