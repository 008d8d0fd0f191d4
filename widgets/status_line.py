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


SHORT_MEASURING_WORDS = (
    (re.compile(r"(\d+) of (\d+)"), r"run \1/\2"),
    (re.compile(r"champion (\d+) of (\d+)"), r"champion \1/\2"),
    (re.compile(r"new champion (\d+) of (\d+)"), r"new champion \1/\2"),
    (re.compile(r"outside clock: champion (\d+) of (\d+)"), r"champion \1/\2 (outside clock)"),
)
"""The same, short, for a narrow terminal ("measuring champion 2/5")."""

FIRST_LINE_LEVELS = 8
"""How many levels of detail the first line has (`StatusLine._first_line_at`)."""


def measuring_words(state: str, detail: str, *, short: bool = False) -> str:
    """A measuring detail in words (`short`: the narrow terminal's)."""
    if state == "measuring":
        for pattern, words in SHORT_MEASURING_WORDS if short else MEASURING_WORDS:
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
        """The first line at the most detail that fits the width: on a narrow terminal
        the least important parts give way first (`FIRST_LINE_LEVELS`), so the state, a
        pause on its way, the REVIEW and NOTE badges and a waiting worker's key are never
        cut (at 80 columns "REVIEW" read "RE…" while a pause waited)."""
        width = self.content_size.width
        line = Text()
        for level in range(FIRST_LINE_LEVELS):
            line = self._first_line_at(info, now, level)
            if width <= 0 or line.cell_len <= width:
                break
        return line

    def _first_line_at(self, info: StatusInfo, now: float, level: int) -> Text:
        """The first line at compaction `level` (0: everything in full words). Each level
        gives up a little more, least important first: 1 the sandbox's details; 2 the
        branch (never cut half-way: "autoresea…" told nothing); 3 the state's duration; 4
        the texts of the cherry-pick queue and the standing notes (their badges stay); 5
        shorter words for the state and the pause; 6 a real sandbox's name (an unsandboxed
        session still says so); 7 the measuring step's words, leaving its count
        ("measuring 2/5")."""
        line = Text(no_wrap=True, overflow="ellipsis")
        if info.error:
            line.append(" error ", self._style("error"))
            line.append(f" {one_line(info.error)}")
            return line
        short = level >= 5
        active = info.state not in IDLE_STATES
        spin = SPINNER[int(now * 8) % len(SPINNER)] if active else "●"
        detail = one_line(info.detail)
        if detail:
            count = re.search(r"(\d+) of (\d+)", detail)
            detail = (f"{count[1]}/{count[2]}" if level >= 7 and count and
                      info.state == "measuring" else
                      measuring_words(info.state, detail, short=short))
        state = info.state + (f" {detail}" if detail else "")
        if info.pause_requested and info.state != "paused":
            if short:
                state += (" (pausing all)" if info.workers > 1 else
                          f" (pausing after #{info.n})" if info.n is not None
                          else " (pausing)")
            else:
                state += (" (pausing every worker)" if info.workers > 1 else
                          f" (pauses when #{info.n} is decided)" if info.n is not None
                          else " (pausing after this step)")
        elif info.state == "paused":
            verb = "resume" if info.started else "start"
            state += f" ({info.pause_key} to {verb})" if short else \
                f" (press {info.pause_key} to {verb})"
        line.append(f"{spin} ", self._style("state"))
        if info.worker:
            line.append(f"{one_line(info.worker)} ", self._style("state"))
        line.append(state, self._style("paused") if info.state == "paused" else
                    self._style("state"))
        if info.n is not None and info.state not in ("done", "stopped") and not (
                short and f"#{info.n}" in state):
            line.append(f"  #{info.n}")
        if (info.state_since is not None and info.state not in ("done", "stopped")
                and level < 3):
            line.append(f"  {format_duration(now - info.state_since)}", self._style("muted"))
        if info.others_waiting:
            # Another worker's proposal waits for approval while this one is shown: say
            # which key shows it (its label's digit), or it would wait unseen.
            keys = "/".join(label.removeprefix("w") for label in info.others_waiting)
            waiting = ",".join(info.others_waiting)
            line.append(f"  {waiting} waiting (press {keys})" if not short else
                        f"  {waiting} waiting ({keys})", self._style("warned"))
        if info.review:
            line.append("  ")
            line.append(" REVIEW ", self._style("badge"))
        if info.queued:
            queued = one_line(", ".join(info.queued))
            line.append(f"  cherry-pick queued: {queued}" if level < 4 else
                        f"  {len(info.queued)} queued", self._style("muted"))
        if info.notes:
            line.append("  ")
            line.append(" NOTE ", self._style("badge"))
            if level < 4:
                line.append(f" {one_line(' | '.join(info.notes))}")
        if info.isolation:
            # The sandbox in force (the headless start line and the report say why):
            # its short form ("bwrap", "no sandbox") once the line is tight; a real
            # sandbox's name gives way before the state does, "no sandbox" never.
            unsandboxed = one_line(info.isolation).startswith("none")
            if level < 6 or unsandboxed:
                line.append("  │ ", self._style("muted"))
                line.append_text(isolation_text(info.isolation, self._style("bad"),
                                                short=level >= 1))
        branch = one_line(info.branch)
        if branch and level < 2:
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
