"""DiffView: a unified diff, coloured line by line, fast however large the diff is.

Only the first `max_lines` lines are kept (a 100k-line generated-file diff would otherwise
cost seconds to split and style); a last line says how many were left out. Rendering is
Textual's line API (via `Log`), so only the visible lines are ever styled.
"""

from __future__ import annotations

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.widgets import Log

from widgets.literal import visible


class _DiffHighlighter(Highlighter):
    """Styles a whole line by its unified-diff role; styles come from the widget's theme."""

    def __init__(self, view: DiffView) -> None:
        self.view = view

    def highlight(self, text: Text) -> None:
        plain = text.plain
        role = DiffView.role_of(plain)
        if role:
            text.stylize(self.view.role_style(role))


class DiffView(Log, can_focus=True):
    """A read-only view of one unified diff.

    | Key | Action |
    | :- | :- |
    | arrows, page up/down, home/end | scroll |
    """

    COMPONENT_CLASSES = {"diff-view--added", "diff-view--removed", "diff-view--hunk",
                         "diff-view--file", "diff-view--note"}

    DEFAULT_CSS = """
    DiffView { background: $surface; overflow: auto; scrollbar-size: 1 1; }
    DiffView > .diff-view--added { color: $text-success; }
    DiffView > .diff-view--removed { color: $text-error; }
    DiffView > .diff-view--hunk { color: $text-primary; }
    DiffView > .diff-view--file { color: $text; text-style: bold; }
    DiffView > .diff-view--note { color: $text-warning; text-style: italic; }
    """

    def __init__(self, diff: str = "", *, max_lines: int = 3000, placeholder: str = "",
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(highlight=True, auto_scroll=False, name=name, id=id, classes=classes)
        self.highlighter = _DiffHighlighter(self)
        self.max_diff_lines = max_lines
        self.placeholder = placeholder
        self.diff = ""
        self.hidden_lines = 0
        """How many lines of the current diff are not shown."""
        self._styles: dict[str, Style] = {}
        self._pending = diff
        self._empty: str | None = None

    def on_mount(self) -> None:
        self.set_diff(self._pending)

    def notify_style_update(self) -> None:
        self._styles.clear()
        super().notify_style_update()

    @staticmethod
    def role_of(line: str) -> str:
        if line.startswith(("+++", "---", "diff --git", "index ", "new file", "deleted file",
                            "rename ", "similarity ")):
            return "file"
        if line.startswith("@@"):
            return "hunk"
        if line.startswith("+"):
            return "added"
        if line.startswith("-"):
            return "removed"
        if line.startswith("…"):
            return "note"
        return ""

    def role_style(self, role: str) -> Style:
        style = self._styles.get(role)
        if style is None:
            style = self._styles[role] = self.get_component_rich_style(f"diff-view--{role}",
                                                                        partial=True)
        return style

    def set_diff(self, diff: str, *, keep_scroll: bool = False, empty: str | None = None
                 ) -> None:
        """Show `diff`; `keep_scroll` keeps the position (live updates of the same proposal);
        `empty`: what to say if it is empty, instead of the placeholder (a baseline has no
        change, which "no diff yet" misstated)."""
        if diff == self.diff and self.line_count and empty == self._empty:
            return
        self.diff = diff
        self._empty = empty
        # Split only what will be shown; count the rest without building strings for it.
        head = diff.split("\n", self.max_diff_lines)
        rest = head.pop() if len(head) > self.max_diff_lines else ""
        if head and head[-1] == "" and not rest:
            head.pop()
        self.hidden_lines = (rest.count("\n") + (0 if rest.endswith("\n") or not rest else 1)
                             if rest else 0)
        if not diff.strip():
            # Lines: a narrow pane cuts, never wraps.
            head = (self.placeholder if empty is None else empty).splitlines()
        if self.hidden_lines:
            files = rest.count("\ndiff --git ") + rest.startswith("diff --git ")
            more_files = f" in {files:,} more file{'s' * (files != 1)}" if files else ""
            head.append(f"… {self.hidden_lines:,} more lines not shown{more_files} "
                        f"(diff of {len(diff):,} characters)")
        y = self.scroll_y
        self.clear()
        # A diff is data: escape sequences in it are shown, never sent to the terminal.
        self.write_lines([visible(line, tab_size=8) for line in head], scroll_end=False)
        if keep_scroll:
            self.scroll_to(y=y, animate=False, immediate=True)
        else:
            self.scroll_home(animate=False, immediate=True)
