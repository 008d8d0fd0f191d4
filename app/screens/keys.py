"""The keys of the main screen: each binding has an id, so `[keymap]` in the user config can
remap it (`App.set_keymap`), and a tooltip, which the footer and the help screen show."""

from __future__ import annotations

from textual.binding import Binding


KEYS: list[Binding] = [
    Binding("p", "toggle_pause", "Pause", id="pause",
            tooltip="Pause or resume the loop; takes effect at the next safe point."),
    Binding("v", "veto", "Veto", id="veto",
            tooltip="Veto the current proposal (optional reason, which the agent sees); "
                    "a running measurement or check is stopped."),
    Binding("a", "approve", "Approve", id="approve",
            tooltip="Approve the proposal waiting in review mode, so it is measured."),
    Binding("r", "toggle_review", "Review", id="review",
            tooltip="Review mode: each proposal waits for approve or veto before it is "
                    "measured."),
    Binding("h", "history", "History", id="history",
            tooltip="Every experiment of this and other sessions, with diffs and outputs."),
    Binding("c", "cherry_pick", "Cherry-pick", id="cherry_pick",
            tooltip="Re-apply the selected experiment on the champion, after the running "
                    "one; it is measured and decided like any other."),
    Binding("i", "instruct", "Note", id="instruct", show=False,
            tooltip="A one-line note to the agent: for the next experiment, or standing "
                    "(every experiment until cleared with I)."),
    Binding("I", "clear_notes", "Clear notes", id="clear_notes", show=False,
            tooltip="Clear the standing notes, from the next experiment on."),
    Binding("question_mark", "help", "Help", key_display="?", id="help",
            tooltip="Keys, statuses and what the panes show."),
    Binding("q", "quit", "Quit", id="quit",
            tooltip="Stop the session (the running experiment is recorded as interrupted) "
                    "and quit, after a confirmation."),
]
"""The keys of the issue's table, in the order the help screen lists them."""


