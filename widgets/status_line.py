"""StatusLine: two lines that say what the session is doing and how it is going.

Line 1: spinner, state (and detail such as "2 of 3"), the experiment number, how long the
state has lasted, mode badges (paused, review), the session's branch.
Line 2: baseline -> best with the improvement, counts per status, tokens and cost, time.

The App gives it a `StatusInfo`; the widget only formats it. Time comes from an injectable
clock so snapshot tests are deterministic; the spinner frame is derived from the clock too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.widget import Widget

from app.engine.records import format_change, improvement, relative_change
from widgets.experiment_table import format_number
from widgets.literal import one_line
from widgets.status_style import look_classes, look_css, look_of

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
IDLE_STATES = {"paused", "done", "failed", "waiting for approval", "stopped", "idle"}


@dataclass
class StatusInfo:
    tag: str = ""
    branch: str = ""
    state: str = "starting"
    """A `LoopState` value, or `stopping` / `stopped` (UI-side states)."""
    detail: str = ""
    n: int | None = None
    state_since: float | None = None
    session_since: float | None = None
    pause_requested: bool = False
    review: bool = False
    metric_name: str = "metric"
    unit: str = ""
    direction: str = "lower"
    baseline: float | None = None
    best: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0
    queued: tuple[str, ...] = ()
    """Experiments queued for cherry-picking, by label (`#3`, `nov20#3`)."""
    error: str = ""
    pause_key: str = "p"
    """The key that resumes (the user's keymap may move it)."""
    started: bool = False
    """Whether anything ran yet (a paused launch says "to start", not "to resume")."""
    notes: tuple[str, ...] = ()
    """The user's standing notes to the agent."""
    worker: str = ""
    """With parallel workers: the selected worker (`w2`), whose state the line shows."""
    workers: int = 1
    """Parallel workers: a pause stops each at its next safe point, not after one `n`."""
    others_waiting: tuple[str, ...] = ()
    """With parallel workers: the other workers whose proposal waits for approval (`w3`)."""
    isolation: str = ""
    """The sandbox measured commands run under ("bwrap, no network", "none (why)"); ""
    before the session said it."""


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_tokens(tokens: int) -> str:
    if tokens >= 1_000_000:
        return f"{tokens / 1e6:.1f}M"
    if tokens >= 1000:
        return f"{tokens / 1e3:.0f}k"
    return str(tokens)


MEASURING_WORDS = (
    (re.compile(r"(\d+ of \d+)"), r"the change, run \1"),
    (re.compile(r"champion (\d+ of \d+)"), r"the champion, run \1"),
    (re.compile(r"new champion (\d+ of \d+)"), r"the new champion, run \1"),
    (re.compile(r"outside clock: champion (\d+ of \d+)"),
     r"the champion by the outside clock, run \1"),
)
"""The loop's short measuring details in words a first-time reader follows ("measuring
champion 1 of 5" read as jargon)."""


def measuring_words(state: str, detail: str) -> str:
    if state == "measuring":
        for pattern, words in MEASURING_WORDS:
            if pattern.fullmatch(detail):
                return pattern.sub(words, detail)
    return detail


def isolation_text(isolation: str, warn: str = "", *, short: bool = False) -> Text:
    """The sandbox in force, as the status line shows it: "bwrap, no network" as it is;
    without bwrap "no sandbox", styled `warn`, then why ("none (bwrap is not installed)").
    `short`: the kind only ("bwrap", "no sandbox")."""
    text = one_line(isolation)
    if not text.startswith("none"):
        return Text(text.split(",")[0] if short else text)
    why = text[len("none"):].strip()
    out = Text("no sandbox", warn)
    if why and not short:
        out.append(" " + why)
    return out


class StatusLine(Widget):
    """The session's state at a glance."""

    COMPONENT_CLASSES = look_classes("status-line") | {
        "status-line--state", "status-line--badge", "status-line--paused", "status-line--good",
        "status-line--bad", "status-line--muted", "status-line--error"}

    DEFAULT_CSS = look_css("StatusLine", "status-line") + """
    StatusLine { height: 2; background: $panel; padding: 0 1; text-wrap: nowrap;
                 text-overflow: ellipsis; }
    StatusLine > .status-line--state { color: $text-accent; text-style: bold; }
    StatusLine > .status-line--badge { background: $primary; color: $text; text-style: bold; }
    StatusLine > .status-line--paused {
        background: $warning; color: $background; text-style: bold;
    }
    StatusLine > .status-line--good { color: $text-success; text-style: bold; }
    StatusLine > .status-line--bad { color: $text-error; }
    StatusLine > .status-line--muted { color: $foreground-muted; }
    StatusLine > .status-line--error { background: $error; color: $text; text-style: bold; }
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.clock = clock
        self.info = StatusInfo()

    def on_mount(self) -> None:
        # Only this widget repaints on the tick; the rest of the screen is untouched.
        self.set_interval(0.25, self._tick)

    def _tick(self) -> None:
        if self.info.state not in IDLE_STATES or self.info.pause_requested:
            self.refresh()

    def update_info(self, info: StatusInfo) -> None:
        self.info = info
        self.refresh()

    def _style(self, part: str) -> str:
        return str(self.get_component_rich_style(f"status-line--{part}", partial=True))

    def render(self) -> Text:
        info, now = self.info, self.clock()
        # Each line is cut at the edge, never wrapped (text-wrap in the CSS): a wrapped
        # first line pushed the metric's line out of the two rows (80 columns).
        return Text("\n").join([self._first_line(info, now), self._second_line(info, now)])

    def _first_line(self, info: StatusInfo, now: float) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if info.error:
            line.append(" error ", self._style("error"))
            line.append(f" {one_line(info.error)}")
            return line
        active = info.state not in IDLE_STATES
        spin = SPINNER[int(now * 8) % len(SPINNER)] if active else "●"
        state = info.state + (f" {measuring_words(info.state, one_line(info.detail))}"
                              if info.detail else "")
        if info.pause_requested and info.state != "paused":
            state += (" (pausing every worker)" if info.workers > 1 else
                      f" (pauses when #{info.n} is decided)" if info.n is not None
                      else " (pausing after this step)")
        elif info.state == "paused":
            state += (f" (press {info.pause_key} to resume)" if info.started
                      else f" (press {info.pause_key} to start)")
        line.append(f"{spin} ", self._style("state"))
        if info.worker:
            line.append(f"{one_line(info.worker)} ", self._style("state"))
        line.append(state, self._style("paused") if info.state == "paused" else
                    self._style("state"))
        if info.n is not None and info.state not in ("done", "stopped"):
            line.append(f"  #{info.n}")
        if info.state_since is not None and info.state not in ("done", "stopped"):
            line.append(f"  {format_duration(now - info.state_since)}", self._style("muted"))
        if info.others_waiting:
            # Another worker's proposal waits for approval while this one is shown: say
            # which key shows it (its label's digit), or it would wait unseen. Before the
            # badge and the branch, which an 80-column line cuts first.
            keys = "/".join(label.removeprefix("w") for label in info.others_waiting)
            line.append(f"  {','.join(info.others_waiting)} waiting (press {keys})",
                        self._style("warned"))
        if info.review:
            line.append("  ")
            line.append(" REVIEW ", self._style("badge"))
        if info.queued:
            line.append(f"  cherry-pick queued: {one_line(', '.join(info.queued))}",
                        self._style("muted"))
        if info.notes:
            line.append("  ")
            line.append(" NOTE ", self._style("badge"))
            line.append(f" {one_line(' | '.join(info.notes))}")
        branch = one_line(info.branch)
        if info.isolation:
            # The sandbox in force, before the branch (also in the title): in full when it
            # fits with the branch, else its short form ("bwrap", "no sandbox"); the
            # headless start line and the report say why.
            shown = isolation_text(info.isolation, self._style("bad"))
            room = self.content_size.width - line.cell_len - 4 - (
                len(branch) + 4 if branch else 0)
            if shown.cell_len > room and self.content_size.width > 0:
                shown = isolation_text(info.isolation, self._style("bad"), short=True)
            line.append("  │ ", self._style("muted"))
            line.append_text(shown)
        if branch:
            line.append("  │ ", self._style("muted"))
            line.append(branch)
        return line

    def _second_line(self, info: StatusInfo, now: float) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        unit = f" {one_line(info.unit)}" if info.unit else ""
        line.append(f"{one_line(info.metric_name)} ")
        if info.baseline is None:
            line.append("no baseline yet", self._style("muted"))
        else:
            line.append(f"{format_number(info.baseline)} → ")
            best = info.best if info.best is not None else info.baseline
            gain = improvement(info.baseline, best, info.direction)
            line.append(f"{format_number(best)}{unit}",
                        self._style("good") if gain > 0 else "")
            change = relative_change(info.baseline, best)
            if change:  # the metric's own change; green when that is better
                line.append(f" ({format_change(change)})",
                            self._style("good") if gain > 0 else self._style("bad"))
        counts_at = len(line)
        tried = sum(c for s, c in info.counts.items() if s != "baseline")
        if tried:  # the baseline alone is no experiment: no empty segment
            line.append("  │ ", self._style("muted"))
            order = sorted(((status, count) for status, count in info.counts.items()
                            if status != "baseline"), key=lambda kv: (kv[0] != "keep", kv[0]))
            for i, (status, count) in enumerate(order):
                if i:
                    line.append(" · ", self._style("muted"))
                line.append(f"{count} {status}", self._style(look_of(status)))
        if line.cell_len + 28 > self.size.width > 0 and tried:
            # Narrow terminal: "2 keep of 5" instead of every status, so cost stays visible.
            compact = Text(no_wrap=True, overflow="ellipsis")
            compact.append_text(line[:counts_at])
            compact.append("  │ ", self._style("muted"))
            compact.append(f"{info.counts.get('keep', 0)} keep", self._style("keep"))
            compact.append(f" of {tried}")
            line = compact
        line.append("  │ ", self._style("muted"))
        line.append(f"{format_tokens(info.tokens)} tok · ${info.cost_usd:.2f}")
        if info.session_since is not None:
            line.append(f" · {format_duration(now - info.session_since)}", self._style("muted"))
        line.rstrip()
        return line
