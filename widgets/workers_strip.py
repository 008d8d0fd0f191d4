"""WorkersStrip: one line per parallel worker (issue #14): what each one is doing.

Each line: a marker on the selected worker, the worker's label, its state (styled like the
statuses, `status_style`), the experiment it works on, how long the state has lasted
(ticking) and the proposal's description (literal text: it comes from the agent).

The App gives it plain `WorkerLine`s; the widget only formats them. Time comes from an
injectable clock so snapshot tests are deterministic. With one worker there is nothing to
tell apart, so the strip hides itself and the screen looks as it did before workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

from widgets.literal import one_line
from widgets.status_line import format_duration
from widgets.status_style import look_classes, look_css

WORKER_LOOK: dict[str, str] = {
    "idle": "interrupted",
    "proposing": "running",
    "queued": "baseline",
    "measuring": "keep",
    "review": "warned",
    "stopped": "discard",
}
"""A worker's state -> the status look it borrows (idle and stopped read as quiet, a
proposal waiting for review as something for the user to do)."""

STATE_WIDTH = max(len(state) for state in WORKER_LOOK)
QUIET_STATES = {"idle", "stopped"}
"""States whose elapsed time is not shown (nothing is happening)."""


def worker_label(worker: int) -> str:
    """`w2` for worker 2: the label users see (parallel workers are numbered from 1, as
    the headless lines' `[w2]`), and the digit key that selects it."""
    return f"w{worker}"


@dataclass(frozen=True)
class WorkerLine:
    """What the strip shows of one worker."""

    worker: int
    state: str = "idle"
    """A `WorkerState` value (`idle`, `proposing`, `queued`, `measuring`, `review`,
    `stopped`)."""
    n: int | None = None
    """The experiment it works on."""
    description: str = ""
    """The proposal's description, once there is one (shown literally)."""
    since: float | None = None
    """When the state began, on the strip's clock."""


class WorkersStrip(Widget):
    """The parallel workers at a glance; one line each, the selected one highlighted.

    Clicking a line selects that worker (`WorkersStrip.Selected`).
    """

    COMPONENT_CLASSES = look_classes("workers-strip") | {
        "workers-strip--label", "workers-strip--selected", "workers-strip--muted"}

    DEFAULT_CSS = look_css("WorkersStrip", "workers-strip") + """
    WorkersStrip { height: auto; max-height: 9; background: $panel; padding: 0 1;
                   text-wrap: nowrap; text-overflow: ellipsis; }
    WorkersStrip > .workers-strip--label { text-style: bold; }
    WorkersStrip > .workers-strip--selected { background: $primary-muted; }
    WorkersStrip > .workers-strip--muted { color: $foreground-muted; }
    """

    class Selected(Message):
        """The user clicked a worker's line."""

        def __init__(self, strip: WorkersStrip, worker: int) -> None:
            super().__init__()
            self.strip = strip
            self.worker = worker

        @property
        def control(self) -> WorkersStrip:
            return self.strip

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.clock = clock
        self.lines: tuple[WorkerLine, ...] = ()
        self.selected = 0
        """The selected worker (its number, not its line's index)."""
        self.display = False

    def on_mount(self) -> None:
        # Only this widget repaints on the tick, and only while some worker is busy.
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self.display and any(line.state not in QUIET_STATES for line in self.lines):
            self.refresh()

    def set_workers(self, lines: Sequence[WorkerLine], selected: int | None = None) -> None:
        """Show these workers (in worker order); hidden when there are fewer than two."""
        self.lines = tuple(sorted(lines, key=lambda line: line.worker))
        if selected is not None:
            self.selected = selected
        if self.lines and self.selected not in (line.worker for line in self.lines):
            self.selected = self.lines[0].worker
        shown = len(self.lines) > 1
        if self.display != shown:
            self.display = shown
        self.refresh(layout=True)

    def select(self, worker: int) -> None:
        self.selected = worker
        self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines)

    def _style(self, part: str) -> str:
        return str(self.get_component_rich_style(f"workers-strip--{part}", partial=True))

    def render(self) -> Text:
        now = self.clock()
        return Text("\n").join([self.line_of(line, now) for line in self.lines])

    def line_of(self, line: WorkerLine, now: float) -> Text:
        """One worker's line (plain text of it in tests: `.plain`)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        selected = line.worker == self.selected
        text.append("▸ " if selected else "  ", self._style("label"))
        text.append(f"{worker_label(line.worker):<3}", self._style("label"))
        look = WORKER_LOOK.get(line.state, "discard")
        text.append(f" {one_line(line.state):<{STATE_WIDTH}}", self._style(look))
        text.append(f"  #{line.n:<4}" if line.n is not None else "       ")
        elapsed = ("" if line.since is None or line.state in QUIET_STATES
                   else format_duration(now - line.since))
        text.append(f" {elapsed:>7}", self._style("muted"))
        if line.description:
            text.append(f"  {one_line(line.description)}")
        if selected:
            # The whole row is highlighted, not only its text.
            width = self.content_size.width
            if text.cell_len < width:
                text.append(" " * (width - text.cell_len))
            text.stylize(self._style("selected"))
        return text

    def on_click(self, event: events.Click) -> None:
        index = event.y
        if 0 <= index < len(self.lines):
            worker = self.lines[index].worker
            self.select(worker)
            self.post_message(self.Selected(self, worker))
