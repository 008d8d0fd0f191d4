"""The first-launch form: the questions of `autoresearch-tui init`, as one screen.

The TUI pushes `InitScreen(root)` when the repository has no `autoresearch.toml`; it
dismisses with the written config's path, or None when the user cancels. The checks are
the ones `init` makes (`app.onboard`): answers are validated in place, the benchmark runs
once on HEAD in a thread worker, and a failure shows next to the field it concerns. On
success the config and program file are written and committed.

`InitApp` runs the screen on its own, for tests and for trying the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from app.errors import AutoresearchError
from app.onboard import (AGENT_KINDS, CONFIG_NAME, PROGRAM_NAME, Detection, InitAnswers,
                         TrialRun, detect_project, render_config, render_program,
                         trial_run, validate_answers, write_and_commit)

FIELDS = ("checks", "bench", "metric", "direction", "unit", "agent")


@dataclass
class InitOutcome:
    """What the worker found: the trial run, and the written config or the failure."""

    trial: TrialRun | None
    path: Path | None = None
    field: str | None = None
    """The field an error belongs to (None: the form as a whole)."""
    error: str | None = None


class InitScreen(Screen[Path | None]):
    """A form that writes and commits `autoresearch.toml` and the program file.

    | Key | Action |
    | :- | :- |
    | ctrl+s | check the answers, run the benchmark once, write and commit |
    | escape | cancel (nothing written) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Check and save", id="init_submit",
                tooltip="Validate, run the benchmark once on HEAD, write and commit."),
        Binding("escape", "cancel", "Cancel", id="init_cancel",
                tooltip="Leave without writing anything."),
    ]

    DEFAULT_CSS = """
    InitScreen { align: center top; }
    InitScreen #init-form { width: 110; max-width: 100%; height: auto; max-height: 100%;
                            padding: 0 2; }
    InitScreen .init-title { text-style: bold; margin: 1 0 0 0; }
    InitScreen .init-row { height: auto; margin-top: 1; }
    InitScreen .init-label { width: 20; padding-top: 1; }
    InitScreen .init-row Input, InitScreen .init-row Select { width: 1fr; }
    InitScreen .init-hint { color: $text-muted; }
    InitScreen .init-error { color: $error; display: none; margin-left: 20; }
    InitScreen .init-error.-shown { display: block; }
    InitScreen #init-status { margin-top: 1; height: auto; }
    InitScreen #init-buttons { height: auto; margin-top: 1; }
    InitScreen #init-buttons Button { margin-right: 2; }
    InitScreen #agent_command { display: none; margin-left: 20; width: 1fr; }
    InitScreen #agent_command.-shown { display: block; }
    """

    class Checked(Message):
        """The worker finished: the benchmark ran and the files were written, or not."""

        def __init__(self, outcome: InitOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, root: Path, *, timeout_s: float = 600.0) -> None:
        super().__init__()
        self.root = root
        self.timeout_s = timeout_s
        self.detection: Detection = detect_project(root)
        self.busy = False

    def compose(self) -> ComposeResult:
        d = self.detection
        with VerticalScroll(id="init-form"):
            yield Label("Set up autoresearch for this repository", classes="init-title")
            yield Static(f"No {CONFIG_NAME} here yet. Answer below; the benchmark runs once "
                         "on HEAD (as a session will) before anything is written.",
                         classes="init-hint")
            yield from self._field("checks", "Checks command",
                                   Input(d.checks or "", placeholder="the test suite, e.g. "
                                         "python3 -m pytest -q (empty: none)", id="checks"))
            yield from self._field("bench", "Benchmark command",
                                   Input(placeholder="prints METRIC name=value or a number, "
                                         "e.g. python3 bench.py", id="bench"))
            yield from self._field("metric", "Metric name",
                                   Input(placeholder="e.g. time_ms (empty: the first METRIC "
                                         "line's)", id="metric"))
            yield from self._field("direction", "Better when",
                                   Select([("lower is better", "lower"),
                                           ("higher is better", "higher")],
                                          value="lower", allow_blank=False, id="direction"))
            yield from self._field("unit", "Unit",
                                   Input(placeholder="e.g. ms (empty: guessed)", id="unit"))
            yield from self._field("agent", "Agent",
                                   Select([(kind, kind) for kind in AGENT_KINDS],
                                          value="anthropic", allow_blank=False, id="agent"))
            yield Input(placeholder='command template, e.g. claude -p "$(cat {prompt_file})"',
                        id="agent_command")
            if d.link:
                yield Static(f"{', '.join(d.link)} will be linked into the session's worktree.",
                             classes="init-hint")
            yield Static("", id="init-status")
            yield Static("", id="error-form", classes="init-error")
            with Horizontal(id="init-buttons"):
                yield Button("Check, write and commit", variant="primary", id="submit")
                yield Button("Cancel", id="cancel")
        yield Footer()

    def _field(self, name: str, label: str, widget: Input | Select[str]) -> ComposeResult:
        with Horizontal(classes="init-row"):
            yield Label(label, classes="init-label")
            yield widget
        yield Static("", id=f"error-{name}", classes="init-error")

    def on_mount(self) -> None:
        self.query_one("#bench", Input).focus()

    # -- reading and showing --------------------------------------------------------------
    def answers(self) -> InitAnswers:
        def text(name: str) -> str:
            return self.query_one(f"#{name}", Input).value.strip()

        def choice(name: str) -> str:
            return str(self.query_one(f"#{name}", Select).value)

        return InitAnswers(bench=text("bench"), direction=choice("direction"),
                           metric=text("metric") or None, unit=text("unit") or None,
                           checks=text("checks") or None, agent=choice("agent"),
                           agent_command=text("agent_command") or None,
                           link=list(self.detection.link), scope=list(self.detection.scope))

    def show_error(self, field: str | None, message: str) -> None:
        """Show `message` under the field it concerns (or under the form)."""
        target = self.query_one(f"#error-{field or 'form'}", Static)
        target.update(message)
        target.add_class("-shown")
        target.scroll_visible()

    def clear_errors(self) -> None:
        for widget in self.query(".init-error").results(Static):
            widget.update("")
            widget.remove_class("-shown")

    def error_text(self, field: str | None) -> str:
        """The message shown under a field ('' if none): what tests and screen readers see."""
        widget = self.query_one(f"#error-{field or 'form'}", Static)
        return str(widget.content) if widget.has_class("-shown") else ""

    @on(Select.Changed, "#agent")
    def _agent_changed(self, event: Select.Changed) -> None:
        self.query_one("#agent_command", Input).set_class(event.value == "command", "-shown")

    # -- actions --------------------------------------------------------------------------
    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.action_submit()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_submit(self) -> None:
        if self.busy:
            return
        self.clear_errors()
        answers = self.answers()
        errors = validate_answers(answers)
        if (self.root / CONFIG_NAME).exists():
            errors.setdefault("form", f"{CONFIG_NAME} already exists; edit it instead.")
        if errors:
            for name, message in errors.items():
                self.show_error(name if name in FIELDS else None, message)
            first = next((name for name in errors if name in FIELDS), None)
            if first:
                self.query_one(f"#{first}").focus()
            return
        self.busy = True
        self.query_one("#submit", Button).disabled = True
        self.query_one("#init-status", Static).update(
            f"Running `{answers.bench}` once on HEAD…")
        self.check_and_write(answers)

    @work(thread=True, exclusive=True, exit_on_error=False, group="init")
    def check_and_write(self, answers: InitAnswers) -> None:
        """Run the benchmark once in a scratch worktree; if it parses, write and commit."""
        try:
            trial = trial_run(self.root, answers.bench, metric=answers.metric,
                              link=answers.link, setup=answers.setup, timeout_s=self.timeout_s)
            if not trial.ok:
                message = f"{trial.error}\n{trial.output_tail}".rstrip()
                field = "metric" if answers.metric and trial.metrics else "bench"
                self.post_message(self.Checked(InitOutcome(trial, field=field, error=message)))
                return
            path = write_and_commit(self.root, render_config(answers, trial),
                                    render_program(answers, self.detection, trial))
            self.post_message(self.Checked(InitOutcome(trial, path=path)))
        except AutoresearchError as exc:
            self.post_message(self.Checked(InitOutcome(None, error=str(exc))))
        except Exception as exc:  # a visible message beats a silently dead form
            self.post_message(self.Checked(InitOutcome(None, error=f"init failed: {exc!r}")))

    @on(Checked)
    def _checked(self, event: Checked) -> None:
        outcome = event.outcome
        self.busy = False
        self.query_one("#submit", Button).disabled = False
        status = self.query_one("#init-status", Static)
        if outcome.path is not None:
            assert outcome.trial is not None
            status.update(f"Parsed {outcome.trial.summary()}. Wrote and committed "
                          f"{CONFIG_NAME} and {PROGRAM_NAME}.")
            self.dismiss(outcome.path)
            return
        status.update("")
        self.show_error(outcome.field, outcome.error or "init failed")
        if outcome.field:
            self.query_one(f"#{outcome.field}").focus()  # where the fix is typed


class InitApp(App[Path | None]):
    """The form alone: exits with the written config's path (None if cancelled)."""

    def __init__(self, root: Path, *, timeout_s: float = 600.0) -> None:
        super().__init__()
        self.root = root
        self.timeout_s = timeout_s

    def on_mount(self) -> None:
        self.push_screen(InitScreen(self.root, timeout_s=self.timeout_s), self.exit)
