"""The help screen: the keys of the screen it was opened on, as they are bound now (after
`[keymap]`), and what the statuses and panes mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Label, Static

from app.screens.keys import keys_of_screen
from widgets.literal import visible

STATUSES = [
    ("baseline", "the unchanged code, measured first"),
    ("keep", "better beyond the noise: committed on the session branch"),
    ("discard", "not better, or not surely better"),
    ("crash", "the benchmark failed or printed no number"),
    ("timeout", "a command ran out of time"),
    ("checks_failed", "the checks (tests) failed"),
    ("overfit", "better on the benchmark, worse on the held-out one"),
    ("vetoed", "you vetoed it (v)"),
    ("rejected", "it changed a protected file, or a cherry-pick did not apply"),
    ("agent_error", "the agent failed to propose a change"),
    ("interrupted", "stopped by quitting (q or ctrl+c)"),
    ("infra_error", "a cluster node was lost while measuring: not the change's fault"),
    ("duplicate", "the same change was already measured on this champion: not measured again"),
    ("stale", "parallel workers: the champion moved while it waited and the change no longer "
     "applies; not measured"),
]

PANES = """\
[b]diff[/b] the proposal as the agent writes it, then the decided experiment's; enter on a \
table row shows that one's, and [b].[/b] follows the running experiment again.
[b]chart[/b] every measured experiment by status; the line is the champion, the flat line \
the baseline.
[b]activity[/b] the agent's tool calls and text, then the benchmark's and checks' output."""

WORKERS_PANE = """
[b]workers[/b] one line per parallel worker: its state, experiment, time in that state and \
proposal; the selected one (▸) is the one the diff pane, the status line, a and v follow."""

HISTORY_PANES = """\
[b]table[/b] every experiment of this session, then the repository's other sessions; the \
status filter and the search narrow it.
[b]diff[/b] the selected experiment's change against its parent; [b]samples[/b] its \
measurements, p-value and confidence; [b]output[/b] the stored output of its commands; \
[b]notes[/b] the agent's notes and the record's fields.
[b]confidence and p[/b] answer two questions. The confidence is how far the medians \
moved, in units of the samples' spread (median absolute deviation; positive is better). \
The p-value is the rank test's chance of samples like these if the change were no better \
than \\[decide] min_effect, adjusted for the repeated looks, so that keep means p <= \
alpha. A large confidence with a large p (even p=1) is a discard: the medians moved, but \
too few samples, overlapping samples or a gain below min_effect cannot convince the test."""


class HelpScreen(Screen[None]):
    """Keys, statuses and panes. Escape or ? closes it.

    An opaque screen rather than a translucent modal: drawing it then costs one frame of its
    own, not a re-blend of every pane underneath (it opens fast while output floods in).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close", id="help_close",
                tooltip="Close the help."),
    ]

    def __init__(self, of: str = "main", *, workers: int = 1) -> None:
        super().__init__(classes="dialog-screen opaque")
        self.of = of
        """The id of the screen whose keys are listed."""
        self.worker_count = workers
        """Parallel workers: with more than one, the keys that select them are listed."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            # A line rather than a Footer: a footer's many key widgets would be restyled on
            # every open, and the help must open fast while output floods in.
            yield Static("[b]escape[/b] or [b]?[/b] closes this help; arrows scroll",
                         id="help-close")
            title = "Keys of the history" if self.of == "history" else "Keys"
            yield Label(title, classes="dialog-title")
            yield Static(self._keys_table(), id="help-keys")
            yield Label("Statuses", classes="dialog-title")
            yield Static(self._statuses_table(), id="help-statuses")
            yield Label("Panes", classes="dialog-title")
            yield Static(HISTORY_PANES if self.of == "history" else PANES + (
                WORKERS_PANE if self.worker_count > 1 else ""), id="help-panes")
            yield Label("Remapping keys", classes="dialog-title")
            yield Static(self._remap_text(), id="help-remap")

    def key_rows(self) -> list[tuple[str, str, str]]:
        """(key as bound now, action, what it does) for each key of the screen."""
        keymap: dict[str, str] = getattr(self.app, "_keymap", {})
        rows = []
        keys = keys_of_screen(self.of, self.worker_count)
        digits = [b for b in keys if (b.id or "").startswith("worker_")]
        collapse = len(digits) > 1 and not any(b.id in keymap for b in digits)
        for binding in keys:
            if collapse and binding in digits:
                # One row for the digits that select a worker, not one per worker.
                if binding is digits[0]:
                    rows.append((f"1-{len(digits)}", "Select worker",
                                 "Select worker w1, w2, ...: the diff pane, a and v follow "
                                 "it."))
                continue
            key = keymap.get(binding.id or "", binding.key)
            display = self.app.get_key_display(Binding(key, binding.action))
            rows.append((display, binding.description, binding.tooltip))
        return rows + [
            ("ctrl+p", "Palette", "Every action above, searchable."),
            ("ctrl+c", "Interrupt", "Stop at once, without a question: the running "
             "experiment is recorded as interrupted, exit status 130 (with text selected, "
             "ctrl+c copies it). A veto reason or note being typed is kept.")]

    def _remap_text(self) -> str:
        ids = ", ".join(b.id for b in keys_of_screen(self.of, self.worker_count) if b.id)
        return ("ctrl+p opens the command palette: every key above, searchable. Keys are "
                "remapped in \\[keymap] of ~/.config/autoresearch-tui/config.toml by binding "
                f"id (e.g. pause = \"space\"); this screen's ids: {ids}.")

    def _keys_table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for row in self.key_rows():
            # Keys come from the user's [keymap]: plain text, not Rich markup.
            table.add_row(*(Text(visible(cell)) for cell in row))
        return table

    def _statuses_table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1)
        for status, meaning in STATUSES:
            table.add_row(status, meaning)
        return table
