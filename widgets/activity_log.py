"""ActivityLog: what is happening now, as a bounded buffer of lines.

The agent's tool calls and streamed text, then the benchmark's and the checks' output. It
is Textual's `Log` (line API: only visible lines are styled), capped at `max_lines`, with a
short source column (`agent`, `bench`, `checks`, ...) coloured from the theme.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.widgets import Log

from widgets.literal import visible

SOURCE_WIDTH = 8
"""Width of the source column, `holdout ` included."""


class _SourceHighlighter(Highlighter):
    def __init__(self, log: ActivityLog) -> None:
        self.log = log

    def highlight(self, text: Text) -> None:
        plain = text.plain
        width = self.log.source_width
        if len(plain) >= width and plain[width - 1: width + 1] == " │":
            text.stylize(self.log.part_style("source"), 0, width + 1)
            body = plain[width + 2:]
            if body.startswith("▸ "):
                text.stylize(self.log.part_style("tool"), width + 2)
            elif body.startswith(("error", "Error", "Traceback", "!! ")):
                text.stylize(self.log.part_style("error"), width + 2)
        elif plain.startswith("──"):
            text.stylize(self.log.part_style("rule"))


class ActivityLog(Log):
    """A bounded log of agent activity and command output.

    Agent text arrives as streamed fragments; `add_agent_text` joins them into lines.
    """

    COMPONENT_CLASSES = {"activity-log--source", "activity-log--tool", "activity-log--error",
                         "activity-log--rule"}

    DEFAULT_CSS = """
    ActivityLog {
        background: $surface; overflow-x: hidden; overflow-y: scroll; scrollbar-size: 1 1;
    }
    ActivityLog > .activity-log--source { color: $foreground-muted; }
    ActivityLog > .activity-log--tool { color: $text-accent; }
    ActivityLog > .activity-log--error { color: $text-error; }
    ActivityLog > .activity-log--rule { color: $text-primary; text-style: bold; }
    """

    def __init__(self, *, max_lines: int = 2000, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        # Following the end is ours to decide (see `_write`): Log follows only when it is
        # exactly at the end, and a layout change of one row would stop it for good.
        super().__init__(max_lines=max_lines, highlight=True, auto_scroll=False, name=name,
                         id=id, classes=classes)
        self.highlighter = _SourceHighlighter(self)
        self._styles: dict[str, Style] = {}
        self._partial = ""
        """An unfinished line of streamed agent text."""
        self._end_y = 0
        """The scroll position of the end, when we last scrolled there."""
        self.source_width = SOURCE_WIDTH
        """Width of the source column (wider when lines name a parallel worker: `w2 bench`)."""

    def notify_style_update(self) -> None:
        self._styles.clear()
        super().notify_style_update()

    def part_style(self, part: str) -> Style:
        style = self._styles.get(part)
        if style is None:
            style = self._styles[part] = self.get_component_rich_style(
                f"activity-log--{part}", partial=True)
        return style

    @staticmethod
    def format_line(source: str, line: str, width: int = SOURCE_WIDTH) -> str:
        return f"{source[:width - 1]:<{width - 1}} │ {line.rstrip()}"

    def add_lines(self, source: str, lines: Iterable[str]) -> None:
        """Append output lines of `source`; only the last `max_lines` are kept."""
        self._flush_partial()
        lines = list(lines)
        if self.max_lines is not None and len(lines) > self.max_lines:
            lines = lines[-self.max_lines:]
        self._write([self.format_line(source, line, self.source_width) for line in lines])

    def add_agent_text(self, fragment: str) -> None:
        """Append a streamed text fragment of the agent; complete lines are shown."""
        text = self._partial + fragment
        *complete, self._partial = text.split("\n")
        complete = [line for line in complete if line.strip()]
        if complete:
            self._write([self.format_line("agent", line, self.source_width)
                         for line in complete])

    def add_rule(self, title: str) -> None:
        """A heading line that separates experiments."""
        self._flush_partial()
        self._write([f"── {title} " + "─" * 20])

    def _flush_partial(self) -> None:
        if self._partial.strip():
            self._write([self.format_line("agent", self._partial, self.source_width)])
        self._partial = ""

    @property
    def following(self) -> bool:
        """Whether new lines scroll into view: yes unless the user scrolled up to read.

        Compared with where we last scrolled to, not with the current end: a resize moves
        the end, and must not stop the log from following.
        """
        if self.is_vertical_scrollbar_grabbed:
            return False
        return self.scroll_y >= min(self._end_y, self.max_scroll_y) - 1

    def _write(self, lines: list[str]) -> None:
        follow = self.following
        # Command output and agent text are data: escape sequences are shown, not obeyed.
        self.write_lines([visible(line, tab_size=8) for line in lines], scroll_end=False)
        if follow:
            self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._end_y = self.max_scroll_y

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self._scroll_to_end)
