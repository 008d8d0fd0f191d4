"""Every key of the app, in one place: each binding has an id, so `[keymap]` in the user
config can remap it (`App.set_keymap`), and a tooltip, which the footer, the help screen
and the command palette show.

`KEYS` are the main screen's; `HISTORY_KEYS` the history screen's; `TABLE_KEYS` (vi-style
moves) belong to the experiment table on both screens and are defined with the widget,
which knows nothing of the app, and listed here for the help and the palette.
"""

from __future__ import annotations

from textual.binding import Binding

from widgets.experiment_table import TABLE_KEYS

__all__ = ["HISTORY_KEYS", "HISTORY_QUIET", "KEYS", "RESUME", "SCREEN_KEYS", "TABLE_KEYS",
           "WORKER_KEYS", "default_key", "keys_of_screen"]


WORKER_KEYS: list[Binding] = [
    Binding("tab", "next_worker", "Next worker", id="next_worker", show=False,
            tooltip="With parallel workers: select the next one; the diff pane, a and v "
                    "follow the selected worker (shift+tab moves the focus)."),
    *[Binding(str(k), f"select_worker({k})", f"Worker {k}", id=f"worker_{k}", show=False,
              tooltip=f"With parallel workers: select worker w{k}; the diff pane, a and v "
                      "follow it.")
      for k in range(1, 10)],
]
"""The main screen's keys that select a parallel worker (issue #14). With one worker they
do not apply: tab moves the focus as in any Textual app, and the help does not list them."""

WORKER_IDS = frozenset(b.id for b in WORKER_KEYS)


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
    Binding("slash", "search", "Search", key_display="/", id="search", show=False,
            tooltip="Open the history with its search box focused."),
    Binding("f", "full_diff", "Full diff", id="full_diff", show=False,
            tooltip="Show the diff pane's diff on the whole screen."),
    Binding("full_stop", "follow_live", "Follow live", key_display=".", id="follow_live",
            show=False, tooltip="Show the running experiment's diff again (after looking at "
                                "another row) and follow it."),
    *WORKER_KEYS,
    Binding("question_mark", "help", "Help", key_display="?", id="help",
            tooltip="The keys of the current screen, the statuses and the panes."),
    Binding("q", "quit", "Quit", id="quit",
            tooltip="Stop the session (the running experiment is recorded as interrupted) "
                    "and quit, after a confirmation."),
]
"""The main screen's keys, in the order the help screen lists them."""

SCREEN_KEYS = ("history", "cherry_pick", "search", "full_diff", "follow_live",
               *(b.id for b in WORKER_KEYS if b.id))
"""Ids of `KEYS` that the main screen binds (they act on what it shows); the App binds the
others, so they apply on every screen."""


HISTORY_KEYS: list[Binding] = [
    Binding("escape", "back", "Back", key_display="esc", id="history_back",
            tooltip="One layer at a time: clear the search, then back to the table, then "
                    "leave the history."),
    Binding("h", "leave", "Main", id="history", show=False,
            tooltip="Back to the main screen at once."),
    Binding("c", "cherry_pick", "Cherry-pick", id="cherry_pick",
            tooltip="Re-apply the selected experiment (of any session) on this session's "
                    "champion, after the running one; measured like any proposal."),
    Binding("y", "copy_commit", "Copy id", id="copy_commit",
            tooltip="Copy the selected experiment's commit id to the clipboard."),
    Binding("f", "full_diff", "Full diff", id="history_full_diff",
            tooltip="Show the selected experiment's diff on the whole screen."),
    Binding("slash", "focus_search", "Search", key_display="/", id="search",
            tooltip="Search descriptions, hypotheses, reasons, commits."),
    Binding("1", "show_tab('tab-diff')", "Diff", id="history_tab_diff", show=False,
            tooltip="Show the selected experiment's diff."),
    Binding("2", "show_tab('tab-samples')", "Samples", id="history_tab_samples",
            show=False, tooltip="Show its samples, p-value, confidence and metrics."),
    Binding("3", "show_tab('tab-output')", "Output", id="history_tab_output", show=False,
            tooltip="Show the stored output of its benchmark, checks and holdout."),
    Binding("4", "show_tab('tab-notes')", "Notes", id="history_tab_notes", show=False,
            tooltip="Show the agent's notes and the record's fields."),
    Binding("left_square_bracket", "next_tab(-1)", "Previous tab", key_display="[",
            id="history_tab_previous", show=False, tooltip="The tab to the left."),
    Binding("right_square_bracket", "next_tab(1)", "Next tab", key_display="]",
            id="history_tab_next", show=False, tooltip="The tab to the right."),
]
"""The history screen's own keys (the App's pause, veto, approve, review, help and quit
apply there too: see `HISTORY_QUIET`). `history`, `cherry_pick` and `search` share their
ids with the main screen's keys, so one `[keymap]` line remaps the key on both screens."""


_PAUSE = next(b for b in KEYS if b.id == "pause")
RESUME = Binding(_PAUSE.key, "resume", "Resume", key_display=_PAUSE.key_display, id="pause",
                 tooltip=_PAUSE.tooltip)
"""The pause key's word while paused. Bound before `pause` (with its id, so `[keymap]` remaps
both): its action applies only while paused (`check_action`), and the footer shows the first
binding of a key that applies, so it reads `p Resume` then and `p Pause` otherwise (Textual's
dynamic actions). The help and the palette list `pause`, which works either way."""


HISTORY_QUIET: list[Binding] = [
    Binding(b.key, f"app.{b.action}", b.description, key_display=b.key_display, show=False,
            id=b.id, tooltip=b.tooltip)
    for b in KEYS if b.id in ("pause", "veto", "approve", "review")]
"""The loop's keys work on the history screen but stay out of its footer: bound there
again, hidden, they shadow the App's, so the footer keeps room for the history's own keys
and for `? Help` and `q Quit` at any width (`?` lists them all)."""


def keys_of_screen(screen_id: str | None, workers: int = 1) -> list[Binding]:
    """The keys the help screen and the palette list for the screen `screen_id`: its own,
    the table's moves, then the App's that apply there. The worker keys only with
    `workers` > 1, and a digit only for a worker that exists."""
    app_keys = [b for b in KEYS if b.id not in SCREEN_KEYS]
    if screen_id == "history":
        return [*HISTORY_KEYS, *TABLE_KEYS, *app_keys]
    shown = {"next_worker", *(f"worker_{k}" for k in range(1, min(workers, 9) + 1))}
    return [b for b in (*KEYS, *TABLE_KEYS)
            if b.id not in WORKER_IDS or (workers > 1 and b.id in shown)]


def default_key(binding_id: str) -> str | None:
    """The key bound to `binding_id` before any `[keymap]`, as the footer shows it."""
    for binding in (*KEYS, *HISTORY_KEYS, *TABLE_KEYS):
        if binding.id == binding_id:
            return binding.key_display or binding.key
    return None
