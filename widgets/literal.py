"""Text from outside (agents, commands, logs, git, config) shown as itself, never as markup.

Every widget and screen that shows such text takes it through here:

- `visible(text)`: control characters become visible symbols (an ESC written as is would
  reach the terminal and could move the cursor or change colours); tabs become spaces.
- `literal(text)`: a `Content` built from `visible(text)`, never parsed as markup, so
  `[/tmp]` or `list[str]` show as written (a `str` handed to Static, Label, a border title
  or a toast is parsed as markup, and `[/tmp]` raises `MarkupError`).
- `assemble(*parts)`: our own styled labels (`("median:", "bold")`) joined with literal
  pieces, for the multi-field texts (history notes, samples, the session summary).
"""

from __future__ import annotations

from textual.content import Content

_VISIBLE = {code: chr(0x2400 + code) for code in range(0x20) if chr(code) not in "\n\t"}
"""C0 controls as Unicode "control pictures" (ESC -> ␛), newline and tab aside."""
_VISIBLE[0x7F] = "␡"
_VISIBLE.update({code: "\ufffd" for code in range(0x80, 0xA0)})  # C1 controls (CSI = 0x9b)

Part = str | Content | tuple[str, str]
"""A piece of `assemble`: external text (str), ready content, or (our label, its style)."""


def visible(text: object, *, tab_size: int = 4) -> str:
    """`text` with every control character but the newline made visible, tabs expanded."""
    shown = str(text).translate(_VISIBLE)
    return shown.expandtabs(tab_size) if "\t" in shown else shown


def one_line(text: object) -> str:
    """The first line of `text` (up to a newline, a CRLF's CR dropped), made visible: for
    titles, table cells and toast titles. Other separators (VT, FF, CR alone) are shown."""
    return visible(str(text).split("\n", 1)[0].removesuffix("\r"))


def literal(text: object) -> Content:
    """`text` as content shown exactly as written: no markup, no control characters."""
    return Content(visible(text))


def assemble(*parts: Part) -> Content:
    """Join literal text (str), content, and our own `(label, style)` pairs."""
    pieces: list[Content | tuple[str, str]] = []
    for part in parts:
        if isinstance(part, tuple):
            pieces.append(part)
        elif isinstance(part, Content):
            pieces.append(part)
        else:
            pieces.append(literal(part))
    return Content.assemble(*pieces)


def join_lines(lines: list[Content]) -> Content:
    """Lines of content, one under the other."""
    return Content("\n").join(lines)
