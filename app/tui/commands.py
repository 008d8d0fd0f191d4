"""The command palette (ctrl+p): every key's action, found by name."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from app.screens.keys import KEYS


@runtime_checkable
class KeyedApp(Protocol):
    """What the palette needs of the App: the key bound to a binding id now (after the
    user's keymap), for the hint beside each command."""

    def key_of(self, binding_id: str) -> str: ...


class AutoresearchCommands(Provider):
    """Every key's action in the command palette (ctrl+p)."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = self.app
        key_of = app.key_of if isinstance(app, KeyedApp) else (lambda binding_id: binding_id)
        commands = [(f"{b.description} ({key_of(b.id or '')})", b.tooltip, b.action)
                    for b in KEYS] + [
            ("Full-screen diff (f)", "Show the diff pane's diff on the whole screen.",
             "full_diff")]
        # Only what the screen underneath (or the App) can do there.
        return [c for c in commands if self._target(c[2]) is not None]

    def _target(self, action: str) -> DOMNode | None:
        """Where `action` runs: the screen the palette was opened on when it has the action
        (cherry-pick and full diff act on that screen's selection), else the App."""
        for node in (self.screen, self.app):
            if hasattr(node, f"action_{action}"):
                return node
        return None

    def _run(self, action: str) -> None:
        target = self._target(action)
        if target is not None:
            # After the palette has closed, so the action runs on the screen underneath.
            self.app.call_later(self.app.run_action, action, target)

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, lambda action=action: self._run(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), lambda action=action: self._run(action),
                          help=help_text)
