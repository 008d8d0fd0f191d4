"""The help screen: the keys as they are bound now (after `[keymap]`), and what the
statuses and panes mean."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from app.screens.keys import KEYS

STATUSES = """\
[b]baseline[/b] the unchanged code, measured first     [b]keep[/b] better, committed on the branch
[b]discard[/b] not better (or not surely better)       [b]crash[/b] the benchmark failed or printed no number
[b]timeout[/b] a command ran out of time               [b]checks_failed[/b] the tests failed
[b]vetoed[/b] you vetoed it                            [b]rejected[/b] it touched a protected file
[b]overfit[/b] better on the benchmark, worse held out [b]agent_error[/b] the agent failed to propose
[b]interrupted[/b] stopped by quitting"""

PANES = """\
[b]diff[/b] the proposal as the agent writes it, then the decided experiment's; enter on a \
table row shows that one's.
[b]chart[/b] every measured experiment by status; the line is the champion, the flat line \
the baseline.
[b]activity[/b] the agent's tool calls and text, then the benchmark's and checks' output.
ctrl+p opens the command palette; keys can be remapped in [keymap] of \
~/.config/autoresearch-tui/config.toml (binding id = "key")."""


class HelpScreen(ModalScreen[None]):
    """Keys, statuses and panes. Escape or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close", id="help_close",
                tooltip="Close the help."),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Label("Keys", classes="dialog-title")
            yield Static(self._keys_table(), id="help-keys")
            yield Label("Statuses", classes="dialog-title")
            yield Static(STATUSES, id="help-statuses")
            yield Label("Panes", classes="dialog-title")
            yield Static(PANES, id="help-panes")

    def _keys_table(self) -> str:
        keymap: dict[str, str] = getattr(self.app, "_keymap", {})
        rows = []
        for binding in KEYS:
            key = keymap.get(binding.id or "", binding.key)
            display = self.app.get_key_display(Binding(key, binding.action))
            rows.append(f"[b $accent]{display:>5}[/]  {binding.description:<12} "
                        f"[dim]id {binding.id}[/dim]\n       {binding.tooltip}")
        return "\n".join(rows)
