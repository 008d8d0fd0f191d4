"""The first-launch form: the questions of `autoresearch-tui init`, as one screen.

The TUI pushes `InitScreen(root)` when the repository has no `autoresearch.toml`; it
dismisses with the written config's path, or None when the user cancels. The questions,
detection and checks are the ones `init` asks and makes (`app.onboard`). Enter moves to
the next field; submitting validates every answer first (a failure shows next to the field
it concerns), then runs the benchmark once on HEAD in a thread worker and shows what it
parsed; submitting again writes and commits the config and program file. The session
starts right after, so the agent must be able to run now (an API key, or another kind).

`InitApp` runs the screen on its own, for tests and for trying the form.
"""

from __future__ import annotations

import os
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

from app.config import CONFIG_NAME
from app.errors import AutoresearchError
from app.onboard import (
    AGENT_KINDS,
    PROGRAM_NAME,
    Detection,
    InitAnswers,
    TrialRun,
    detect_project,
    folder_below,
    render_config,
    render_program,
    trial_run,
    validate_answers,
    write_and_commit,
)
from widgets.literal import literal

FIELDS = ("checks", "setup", "bench", "metric", "direction", "unit", "scope", "protected",
          "agent", "goal")
NONE_ANSWER = "-"
"""What the user types for "none" where an empty answer would be a forgotten one."""


def _globs(text: str) -> list[str]:
    return [] if text.strip() in ("", NONE_ANSWER) else [
        g.strip() for g in text.split(",") if g.strip()]


@dataclass
class InitOutcome:
    """What the worker found: the trial run, and the written config or the failure."""

    trial: TrialRun | None
    path: Path | None = None
    field: str | None = None
    """The field an error belongs to (None: the form as a whole)."""
    error: str | None = None
    key: tuple[object, ...] | None = None
    """The answers the trial ran with (set when a trial succeeded and awaits saving)."""


class InitScreen(Screen[Path | None]):
    """A form that writes and commits `autoresearch.toml` and the program file.

    | Key | Action |
    | :- | :- |
    | enter | next field |
    | ctrl+s | check every answer and run the benchmark once; again: write and commit |
    | escape | cancel (nothing written) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Check / save", id="init_submit",
                tooltip="Validate every answer and run the benchmark once on HEAD; once it "
                "parsed, write and commit."),
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
        self.here = folder_below(root, Path.cwd())
        """The folder below the root the app was started in (None: the root): commands run
        at the root, and a failing benchmark's message says how to run it there."""
        self.busy = False
        self.trial: TrialRun | None = None
        """The successful trial run the user has seen (the next submit writes)."""
        self.trial_key: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        d = self.detection
        found = f"Detected: {d.language} project." if d.language else ""
        with VerticalScroll(id="init-form"):
            yield Label("Set up autoresearch for this repository", classes="init-title")
            where = (f" Commands run at the repository's root, {self.root}, not in "
                     f"{self.here}/." if self.here else "")
            yield Static(literal(f"No {CONFIG_NAME} here yet. {found} Answer below (Enter: "
                                 "next field); the benchmark runs once on HEAD (as a session "
                                 "will) and you see what it parsed before anything is "
                                 f"written.{where}"), classes="init-hint")
            yield from self._field("checks", "Checks command",
                                   Input(d.checks or "", placeholder="e.g. python3 -m pytest -q "
                                         f"('{NONE_ANSWER}': no checks)",
                                         id="checks"))
            yield from self._field("setup", "Setup command",
                                   Input(placeholder="e.g. npm ci, once per worktree "
                                         "(empty: none)", id="setup"))
            yield from self._field("bench", "Benchmark command",
                                   Input(placeholder="e.g. python3 bench.py (prints METRIC "
                                         "x=1)", id="bench"))
            yield from self._field("metric", "Metric name",
                                   Input(placeholder="e.g. time_ms (empty: the first "
                                         "METRIC's)", id="metric"))
            yield from self._field("direction", "Better when",
                                   Select([("lower is better", "lower"),
                                           ("higher is better", "higher")],
                                          value="lower", allow_blank=False, id="direction"))
            yield from self._field("unit", "Unit",
                                   Input(placeholder="e.g. ms (empty: guessed)", id="unit"))
            yield from self._field("scope", "Agent may change",
                                   Input(", ".join(d.scope), placeholder="globs, e.g. src/** "
                                         "(empty: the source)",
                                         id="scope"))
            yield from self._field("protected", "Must not change",
                                   Input(placeholder="globs beside tests, bench, config "
                                         "(empty: none)", id="protected"))
            has_key = bool(os.environ.get("ANTHROPIC_API_KEY"))
            yield from self._field("agent", "Agent",
                                   Select([(kind, kind) for kind in AGENT_KINDS],
                                          value="anthropic" if has_key else "command",
                                          allow_blank=False, id="agent"))
            yield Input(placeholder='e.g. claude -p "$(cat {prompt_file})"',
                        id="agent_command", classes="" if has_key else "-shown")
            yield from self._field("goal", "Goal",
                                   Input(placeholder="one sentence (empty: make the metric "
                                         "better)", id="goal"))
            if d.link:
                yield Static(literal(f"{', '.join(d.link)} will be linked into the "
                                     "session's worktree."), classes="init-hint")
            yield Static("", id="init-status")
            yield Static("", id="error-form", classes="init-error")
            with Horizontal(id="init-buttons"):
                yield Button("Check", variant="primary", id="submit")
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

        checks = text("checks")
        return InitAnswers(bench=text("bench"), direction=choice("direction"),
                           metric=text("metric") or None, unit=text("unit") or None,
                           checks=None if checks in ("", NONE_ANSWER) else checks,
                           agent=choice("agent"),
                           agent_command=text("agent_command") or None,
                           scope=_globs(text("scope")), protected=_globs(text("protected")),
                           setup=text("setup") or None, link=list(self.detection.link),
                           goal=text("goal"))

    def form_errors(self, answers: InitAnswers) -> dict[str, str]:
        """What `validate_answers` checks, and what the session that starts right after
        the form needs: checks given (or explicitly none) and an agent that can run."""
        errors = validate_answers(answers)
        if not self.query_one("#checks", Input).value.strip():
            errors.setdefault("checks", "The checks command is empty; give the command that "
                              f"runs your tests, or '{NONE_ANSWER}' to run the loop without "
                              "checks.")
        if answers.agent == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
            errors.setdefault("agent", "ANTHROPIC_API_KEY is not set, so the anthropic agent "
                              "cannot run; export the key and relaunch, or choose command.")
        if answers.agent == "scripted" and not (self.root / "patches").is_dir():
            errors.setdefault("agent", "A scripted agent applies the patches in patches/, "
                              "which does not exist; create it, or choose another agent.")
        if (self.root / CONFIG_NAME).exists():
            errors.setdefault("form", f"{CONFIG_NAME} already exists; edit it instead.")
        return errors

    @staticmethod
    def _trial_key(answers: InitAnswers) -> tuple[object, ...]:
        """The answers a trial run depends on: change one and the benchmark runs again."""
        return (answers.bench, answers.metric, answers.setup, tuple(answers.link))

    def show_error(self, field: str | None, message: str) -> None:
        """Show `message` under the field it concerns (or under the form)."""
        target = self.query_one(f"#error-{field or 'form'}", Static)
        target.update(literal(message))  # a command's output: shown as written
        target.add_class("-shown")
        target.scroll_visible(animate=False)  # no half-scrolled form under a slow machine

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
    def _input_submitted(self, event: Input.Submitted) -> None:
        # Enter moves on, as in any form; saving is the button's (or ctrl+s).
        event.stop()
        self.focus_next()

    @on(Input.Changed)
    @on(Select.Changed)
    def _answer_changed(self) -> None:
        if self.trial is not None and not self.busy and \
                self._trial_key(self.answers()) != self.trial_key:
            self.trial = None
            self.query_one("#submit", Button).label = "Check"
            self.query_one("#init-status", Static).update("")

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_submit(self) -> None:
        if self.busy:
            return
        self.clear_errors()
        answers = self.answers()
        errors = self.form_errors(answers)
        if errors:
            for name, message in errors.items():
                self.show_error(name if name in FIELDS else None, message)
            first = next((name for name in FIELDS if name in errors), None)
            if first:
                self.query_one(f"#{first}").focus()
            return
        self.busy = True
        self.query_one("#submit", Button).disabled = True
        write = self.trial is not None and self.trial_key == self._trial_key(answers)
        self.query_one("#init-status", Static).update(
            literal(f"Writing and committing {CONFIG_NAME} and {PROGRAM_NAME}…") if write
            else literal(f"Running `{answers.bench}` once on HEAD…"))
        self.check_and_write(answers, self.trial if write else None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="init")
    def check_and_write(self, answers: InitAnswers, trial: TrialRun | None) -> None:
        """Without a trial: run the benchmark once in a scratch worktree and report what
        it parsed. With the trial the user has seen: write and commit."""
        try:
            if trial is None:
                trial = trial_run(self.root, answers.bench, metric=answers.metric,
                                  link=answers.link, setup=answers.setup,
                                  timeout_s=self.timeout_s, here=self.here)
                if not trial.ok:
                    message = f"{trial.error}\n{trial.output_tail}".rstrip()
                    field = ("metric" if answers.metric and trial.metrics else
                             "setup" if trial.error and "setup command" in trial.error
                             else "bench")
                    self.post_message(self.Checked(InitOutcome(trial, field=field,
                                                               error=message)))
                    return
                self.post_message(self.Checked(InitOutcome(trial, key=self._trial_key(answers))))
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
        button = self.query_one("#submit", Button)
        button.disabled = False
        status = self.query_one("#init-status", Static)
        if outcome.path is not None:
            self.dismiss(outcome.path)
            return
        if outcome.key is not None and outcome.trial is not None:
            self.trial, self.trial_key = outcome.trial, outcome.key
            status.update(literal(f"Parsed {outcome.trial.summary()}. If that is the "
                                  "number to improve, write and commit (ctrl+s); else "
                                  "change the answers."))
            button.label = f"Write {CONFIG_NAME} and commit"
            button.focus()
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
