"""The command palette (ctrl+p): every key of the screen it is opened on, found by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, runtime_checkable

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from app.screens.keys import TABLE_KEYS, keys_of_screen


@runtime_checkable
class KeyedApp(Protocol):
    """What the palette needs of the App: the key bound to a binding id now (after the
    user's keymap), for the hint beside each command."""

    def key_of(self, binding_id: str) -> str: ...


class AutoresearchCommands(Provider):
    """Every key's action of the screen the palette was opened on, with its key."""

    def _targets(self) -> list[tuple[Binding, DOMNode]]:
        """Each key of the screen with the node its action runs on (the App, the screen,
        or the screen's experiment table for the table's moves)."""
        from widgets.experiment_table import ExperimentTable

        screen = self.screen
        tables = screen.query(ExperimentTable)
        targets: list[tuple[Binding, DOMNode]] = []
        view = getattr(self.app, "view", None)
        workers: int = getattr(view, "worker_count", 1)
        for b in keys_of_screen(screen.id, workers):
            if b in TABLE_KEYS:
                if tables:
                    targets.append((b, tables.first()))
                continue
            # Only what the screen underneath (or the App) can do there.
            target = self._target(b.action)
            if target is not None:
                targets.append((b, target))
        return targets

    def _commands(self) -> list[tuple[str, str, str]]:
        app = self.app
        key_of: Callable[[str], str] = app.key_of if isinstance(app, KeyedApp) else str
        return [(f"{b.description} ({key_of(b.id or '')})", b.tooltip, b.action)
                for b, _ in self._targets()]

    def _runners(self) -> list[tuple[str, str, Callable[[], None]]]:
        nodes = [node for _, node in self._targets()]
        return [(name, help_text, partial(self._run, action, node))
                for (name, help_text, action), node in zip(self._commands(), nodes)]

    def _target(self, action: str) -> DOMNode | None:
        """Where `action` runs: the screen the palette was opened on when it has the action
        (cherry-pick and full diff act on that screen's selection), else the App."""
        name = f"action_{action.split('(')[0]}"
        for node in (self.screen, self.app):
            if hasattr(node, name):
                return node
        return None

    def _run(self, action: str, node: DOMNode) -> None:
        # After the palette has closed, so the action runs on the screen underneath.
        self.app.call_later(self.app.run_action, action, node)

    async def discover(self) -> Hits:
        for name, help_text, run in self._runners():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._runners():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
