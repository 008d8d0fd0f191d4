"""Small screens that ask or tell one thing: confirm, veto reason, session summary, and the
full-screen diff. Each dismisses with a plain value the App acts on."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static

from app.engine.records import SessionSummary, change_words
from widgets.diff_view import DiffView
from widgets.experiment_table import format_number
from widgets.literal import assemble, join_lines, literal, visible
from widgets.status_line import format_duration, format_tokens

DialogResult = TypeVar("DialogResult")


class Dialog(ModalScreen[DialogResult]):
    """A modal dialog. A modal screen hides the App's bindings, so Ctrl+C is bound here
    too: it interrupts as it does everywhere (an Input with text selected copies it
    first). A dialog with something typed says what it was (`typed`), for the App to keep."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "app.help_quit", "Interrupt", show=False, id="dialog_interrupt",
                tooltip="Interrupt the session and quit (what was typed is kept)."),
    ]

    def typed(self) -> str:
        """What the user typed into this dialog, not yet sent ('' for nothing)."""
        return ""


class ConfirmScreen(Dialog[bool]):
    """A yes/no question. Dismisses True for yes.

    | Key | Action |
    | :- | :- |
    | y / enter | yes |
    | n / escape | no |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes", tooltip="Answer yes."),
        Binding("n,escape", "answer(False)", "No", id="confirm_no", tooltip="Answer no."),
    ]

    def __init__(self, question: str, explanation: str = "", *, yes: str = "Yes",
                 no: str = "No") -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.explanation, self.yes, self.no = question, explanation, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal(self.question), classes="dialog-title")
            if self.explanation:
                yield Static(literal(self.explanation), classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", variant="default", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class VetoReasonScreen(Dialog[str | None]):
    """Asks why a proposal is vetoed; the agent reads the reason next time. Enter with an
    empty field vetoes without a reason; escape cancels (dismisses None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="veto_cancel", tooltip="Do not veto."),
    ]

    def __init__(self, n: int) -> None:
        super().__init__(classes="dialog-screen")
        self.n = n

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Veto experiment #{self.n}", classes="dialog-title")
            yield Static("Why? Optional; the agent sees it with its next proposal.",
                         classes="dialog-text")
            yield Input(placeholder="e.g. don't touch the public API", id="reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Veto (enter)", variant="error", id="veto")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def typed(self) -> str:
        return " ".join(self.query_one(Input).value.split())

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    @on(Button.Pressed, "#veto")
    def _veto(self) -> None:
        self.dismiss(self.query_one(Input).value.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteScreen(Dialog[tuple[str, bool] | None]):
    """A one-line note to the agent: for the next experiment, or standing (every experiment
    until cleared with I). Dismisses (text, standing), or None on escape or empty text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="note_cancel", tooltip="Send no note."),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Note to the agent", classes="dialog-title")
            yield Static("It reaches the next experiment's prompt, and the log.",
                         classes="dialog-text")
            yield Input(placeholder="e.g. try the parser, not the I/O", id="note")
            yield Checkbox("standing: every experiment until cleared (I)", id="standing")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send (enter)", variant="primary", id="send")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def typed(self) -> str:
        return " ".join(self.query_one(Input).value.split())

    @property
    def standing(self) -> bool:
        return self.query_one(Checkbox).value

    def _send(self) -> None:
        text = self.typed()
        self.dismiss((text, self.query_one(Checkbox).value) if text else None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._send()

    @on(Button.Pressed, "#send")
    def _pressed_send(self) -> None:
        self._send()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def summary_text(summary: SessionSummary, tag: str) -> Content:
    """The closing note: the result, the counts, and what to do next. The reason, the
    metric's name and unit come from outside and are shown literally."""
    bold = "bold"
    unit = f" {summary.unit}" if summary.unit else ""
    lines: list[Content] = []
    if summary.reason:
        lines.append(assemble(("Why it ended:", bold), " ", summary.reason))
    if summary.baseline is None:
        lines.append(Content("No baseline was measured."))
    else:
        gain = summary.improvement or 0.0
        best = summary.best if summary.best is not None else summary.baseline
        where = f" (experiment #{summary.best_n})" if summary.best_n else ""
        colour = "$text-success" if gain > 0 else "$text-muted"
        lines.append(assemble((f"{visible(summary.metric_name)}:", bold),
                              f" {format_number(summary.baseline)} → ",
                              (visible(f"{format_number(best)}{unit}"), colour), f" {where}"))
        lines.append(assemble(("Change:", bold), " ",
                              (change_words(summary.baseline, best, summary.direction), colour),
                              f" ({'lower' if summary.direction == 'lower' else 'higher'}"
                              " is better)"))
    counts = ", ".join(f"{count} {status}" for status, count in sorted(
        summary.counts.items(), key=lambda kv: (kv[0] != "keep", kv[0])) if status != "baseline")
    lines.append(assemble(("Experiments:", bold), f" {summary.experiments}"
                          + (f" ({counts})" if counts else "")))
    lines.append(assemble(("Time:", bold), f" {format_duration(summary.duration_s)}    ",
                          ("Tokens:", bold), f" {format_tokens(summary.tokens.total)}    ",
                          ("Cost:", bold), f" ${summary.cost_usd:.2f}"))
    lines.append(Content(""))
    lines.append(assemble(("Next:", bold)))
    lines.append(assemble("  ", ("h", bold), " browse the history: diffs, samples, output"))
    commands = [(f"autoresearch-tui report --tag {tag}", "a Markdown report with a chart"),
                (f"autoresearch-tui finalize --tag {tag}", "kept experiments as branches")]
    width = max(len(command) for command, _ in commands)
    lines += [assemble("  ", (visible(f"{command:<{width}}"), bold), f"  {what}")
              for command, what in commands]
    return join_lines(lines)


class SummaryScreen(Dialog[str]):
    """The end-of-session summary. Dismisses `history`, `quit` or `close`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("h", "choose('history')", "History", id="summary_history",
                tooltip="Browse every experiment of the session."),
        Binding("q", "choose('quit')", "Quit", id="summary_quit", tooltip="Quit the app."),
        Binding("escape", "choose('close')", "Close", id="summary_close",
                tooltip="Close this summary and look around."),
    ]

    def __init__(self, summary: SessionSummary, *, tag: str) -> None:
        super().__init__(classes="dialog-screen")
        self.summary, self.tag = summary, tag

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog summary"):
            yield Label(literal(f"Session {self.tag} ended"), classes="dialog-title")
            yield Static(summary_text(self.summary, self.tag), classes="dialog-text",
                         id="summary-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("History (h)", id="history", variant="primary")
                yield Button("Close (esc)", id="close")
                yield Button("Quit (q)", id="quit")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "close")


class DiffScreen(Screen[None]):
    """One diff on the whole screen. Escape or f goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f,q", "app.pop_screen", "Back", id="diff_back",
                tooltip="Back to where you were."),
    ]

    def __init__(self, title: str, diff: str) -> None:
        super().__init__(classes="diff-screen")
        self.title_text, self.diff = title, diff

    def compose(self) -> ComposeResult:
        yield DiffView(self.diff, max_lines=20000, placeholder="(empty diff)", id="full-diff")
        yield Footer()

    def on_mount(self) -> None:
        view = self.query_one(DiffView)
        view.border_title = literal(f"diff {self.title_text}")
        view.focus()
