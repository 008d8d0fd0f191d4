"""The history screen: every experiment of this session and the repo's other sessions.

A status filter and a text search narrow the table; the selected experiment shows its diff,
its samples and metrics, its stored command output, and the agent's notes. From here:
cherry-pick (any session's experiment, onto this session's champion), copy the commit id,
full-screen diff.

Diffs and outputs come from the engine (git and files), so they load in a thread worker
and never stall the screen.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Log, Select, Static, TabbedContent, TabPane

from app.engine.check_counts import CheckCounts
from app.engine.outside_clock import describe as describe_clock
from app.engine.records import Experiment, Status, count_experiments
from app.screens.keys import HISTORY_KEYS, HISTORY_QUIET
from app.tui.requests import CherryPickRequested
from app.tui.state import SessionView
from widgets.diff_view import DiffView
from widgets.experiment_table import HISTORY_ROWS, ExperimentTable, format_number
from widgets.literal import assemble, join_lines, literal, visible
from widgets.status_line import format_duration

SEARCH_DELAY = 0.15
"""Seconds after the last keystroke in the search box before the table is refilled."""


def matches(experiment: Experiment, status: str | None, query: str) -> bool:
    """Whether the filter keeps `experiment`: its status, and every word of the query in
    its text (description, hypothesis, learned, reason, commit, source)."""
    if status and str(experiment.status) != status:
        return False
    if not query:
        return True
    haystack = " ".join([str(experiment.n), experiment.description, experiment.hypothesis,
                         experiment.learned, experiment.reason, experiment.veto_reason,
                         experiment.candidate or "", experiment.commit or "",
                         experiment.source or "", str(experiment.status)]).lower()
    return all(word in haystack for word in query.lower().split())


CONFIDENCE_AND_P = (
    "confidence: how far the medians moved, in units of the samples' spread (positive is "
    "better); p: the rank test's chance of samples like these from a change no better than "
    "min_effect, adjusted for the repeated looks (a keep needs p <= alpha).")
"""What the two numbers mean: they answer different questions (issue 19 item 12)."""


def samples_text(e: Experiment) -> Content:
    bold = "bold"

    def row(label: str, values: list[float]) -> Content:
        return assemble((f"{label}:", bold),
                        " " + (", ".join(format_number(v) for v in values) or "–"))

    lines = [row("samples", e.samples), row("champion samples", e.champion_samples)]
    lines.append(assemble(("median:", bold), f" {format_number(e.metric)}   ",
                          ("champion:", bold), f" {format_number(e.champion_metric)}   ",
                          ("p-value:", bold), f" {format_number(e.p_value)}   ",
                          ("confidence:", bold), f" {format_number(e.confidence)}"))
    lines.append(assemble(("", "dim"), (CONFIDENCE_AND_P, "dim")))
    if (e.status is not Status.KEEP and e.confidence is not None and e.confidence >= 2
            and e.p_value is not None and e.p_value > 0.05):
        lines.append(assemble(("why not kept:", bold), f" confidence {e.confidence:.1f} but "
                              f"p={format_number(e.p_value)}: the medians moved, but these "
                              "samples cannot show it beyond chance (too few, overlapping, or "
                              "a gain below [decide] min_effect)."))
    if e.holdout is not None:
        lines.append(assemble(("holdout:", bold), f" {format_number(e.holdout)}"))
    if e.metrics:
        # Metric names come from the benchmark's output: literal.
        lines.append(assemble(("metrics:", bold), " " + "  ".join(
            f"{k}={format_number(v)}" for k, v in e.metrics.items())))
    clock = describe_clock(e.outside_clock)
    if clock:  # the process's own time against the reported one (issue #20)
        lines.append(assemble(("outside clock:", bold), " " + clock))
    counts = CheckCounts.from_json(e.checks)
    if counts is not None:  # what the checks ran (issue #12); the runner name is literal
        lines.append(assemble(("checks:", bold), " " + counts.describe()))
    return join_lines(lines)


def host_fingerprint(e: Experiment) -> str:
    """Which machine measured `e`: '' for this one, else the executor, node, host and GPUs
    (samples are only comparable between experiments measured on one machine)."""
    if not e.executor:
        return ""
    parts = [f"{e.executor} node {e.node[:12]}" if e.node else e.executor]
    if e.host:
        parts.append(f"host {e.host}")
    parts.append(f"GPUs {', '.join(e.gpus)}" if e.gpus else "no GPU")
    return " · ".join(parts)


def notes_text(e: Experiment, tag: str) -> Content:
    """The agent's notes and the record's fields; everything but our labels is literal."""
    bold = "bold"

    def field(label: str, value: str | None) -> Content | None:
        return assemble((f"{label}:", bold), " ", value) if value else None

    commit = e.candidate or e.commit or ""
    parts = [
        assemble((f"#{e.n}", bold), f" in {tag} · ", (visible(e.status), bold),
                 f" · {e.reason}" if e.reason else ""),
        field("description", e.description), field("hypothesis", e.hypothesis),
        field("learned", e.learned), field("veto reason", e.veto_reason),
        field("note", e.note),
        field("notes to the agent", " | ".join(e.instructions)),
        field("candidate commit", commit),
        field("kept as commit", e.commit if e.commit != commit else ""),
        field("parent", e.parent or ""), field("source", e.source or ""),
        field("diffstat", e.diffstat), field("measured on", host_fingerprint(e)),
        assemble(("tokens:", bold), f" {e.tokens.input:,} in · {e.tokens.output:,} out · "
                 f"{e.tokens.cache_read:,} cache read · {e.tokens.cache_write:,} cache write   ",
                 ("cost:", bold), f" ${e.cost_usd:.4f}   ", ("duration:", bold),
                 f" {format_duration(e.duration_s)}"),
        field("last output", e.output_tail),
    ]
    return join_lines([p for p in parts if p is not None])


class HistoryScreen(Screen[None]):
    """Browse every experiment.

    | Key | Action |
    | :- | :- |
    | escape | one layer back: clear the search, back to the table, leave |
    | h | back to the main screen |
    | / | search |
    | 1-4, [ ] | the diff, samples, output and notes tabs |
    | j/k, g/G | move in the table (and the arrows, page up/down) |
    | c | cherry-pick the selected experiment |
    | y | copy the selected experiment's commit id |
    | f | full-screen diff |
    """

    BINDINGS: ClassVar[list[BindingType]] = [*HISTORY_KEYS, *HISTORY_QUIET]

    TABS: ClassVar[tuple[str, ...]] = ("tab-diff", "tab-samples", "tab-output", "tab-notes")

    def __init__(self, *, view: SessionView, max_rows: int = HISTORY_ROWS,
                 search: bool = False) -> None:
        super().__init__(id="history")
        self.view = view
        """The session as the App keeps it (read here, never changed)."""
        self.search_first = search
        """Open with the search box focused (`/` on the main screen)."""
        self.max_rows = max_rows
        """Rows shown at most: the newest of those the filter matches."""
        self.sessions: list[tuple[str, list[Experiment]]] = []
        self.rows: dict[str, tuple[str, Experiment]] = {}
        self._shown_key: str | None = None
        self._diff = ""
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        statuses = [(str(s), str(s)) for s in Status]
        with Horizontal(id="history-filters"):
            yield Select(statuses, prompt="every status", id="status-filter")
            yield Input(placeholder="search descriptions, hypotheses, commits…", id="search")
        yield ExperimentTable(show_session=True, id="history-table")
        with TabbedContent(id="history-detail"):
            with TabPane("diff", id="tab-diff"):
                yield DiffView(placeholder="(no diff)", id="history-diff")
            with TabPane("samples", id="tab-samples"), VerticalScroll():
                yield Static(id="history-samples")
            with TabPane("output", id="tab-output"):
                yield Log(id="history-output", auto_scroll=False)
            with TabPane("notes", id="tab-notes"), VerticalScroll():
                yield Static(id="history-notes")
        yield Footer()

    def on_mount(self) -> None:
        view = self.view
        table = self.query_one(ExperimentTable)
        table.configure(metric_name=view.metric_name, direction=view.direction)
        table.home_session = view.tag or "session"
        table.border_title = "history"
        self.sessions = [(view.tag or "session", list(view.experiments))]
        self._fill()
        if self.search_first:
            self.query_one("#search", Input).focus()
        else:
            table.focus()
        if self.view.source is not None:
            self._load_other_sessions()

    @work(thread=True, exclusive=True, group="history-sessions")
    def _load_other_sessions(self) -> None:
        source = self.view.source
        if source is None:
            return
        others = source.other_sessions()
        self.app.call_from_thread(self._add_sessions, others)

    def _add_sessions(self, others: list[tuple[str, list[Experiment]]]) -> None:
        if others:
            self.sessions = self.sessions[:1] + list(others)
            self._fill()

    def on_resize(self, event: events.Resize) -> None:
        # A compact footer keeps every key visible on an 80-column terminal.
        self.query_one(Footer).compact = event.size.width < 110

    # -- filtering ----------------------------------------------------------------------------
    def experiment_recorded(self, experiment: Experiment) -> None:
        """An experiment of this session was decided while the screen is open: add (or
        update) it, through the filter and the row window, keeping the user's selection
        (or following the newest row when the user was on it)."""
        tag, experiments = self.sessions[0]
        for i in range(len(experiments) - 1, -1, -1):
            if experiments[i].n == experiment.n:
                experiments[i] = experiment
                break
        else:
            experiments.append(experiment)
        self._fill(keep_selection=True)

    def _fill(self, *, keep_selection: bool = False) -> None:
        """Refill the table with the experiments the filter matches: at most `max_rows`, the
        newest, this session's first (a table of 10,000 rows took seconds to fill)."""
        if self._search_timer is not None:
            self._search_timer.stop()  # a status change or enter came first: refill once
            self._search_timer = None
        table = self.query_one(ExperimentTable)
        status_value = self.query_one("#status-filter", Select).value
        status = status_value if isinstance(status_value, str) else None
        query = self.query_one("#search", Input).value.strip()
        matched = [(tag, [e for e in experiments if matches(e, status, query)])
                   for tag, experiments in self.sessions]
        count = sum(len(found) for _, found in matched)
        budget = self.max_rows
        shown: list[tuple[str, Experiment]] = []
        for tag, found in matched:
            # Sessions stay in their order (this one first); each keeps its newest rows.
            take = found[-budget:] if budget > 0 else []
            budget -= len(take)
            shown.extend((tag, e) for e in take)
        selected = table.selected_key() if keep_selection else None
        newest = self._newest_key() if keep_selection else None
        self.rows = {f"{tag}:{e.n}": (tag, e) for tag, e in shown}
        table.set_rows(shown, total=count)
        total = sum(len(x) for _, x in self.sessions)
        if count > len(shown):
            table.border_subtitle = (f"newest {len(shown):,} of {count:,} matching · {total:,} "
                                     "in all · / or a status narrows them")
        else:
            # The baseline is a row but not an experiment (as the status line, the resume
            # line and every other count have it).
            tried = count_experiments([e for _, rows in matched for e in rows])
            every = count_experiments([e for _, rows in self.sessions for e in rows])
            baselines = count - tried
            table.border_subtitle = f"{tried} of {every} experiments" + (
                " and the baseline" if baselines == 1 else
                f" and {baselines} baselines" if baselines else "")
        keys = list(self.rows)
        if selected is not None and selected != newest and selected in self.rows:
            table.move_cursor(row=keys.index(selected))  # the user is reading that one
        elif shown:
            # Start on (or follow) the newest experiment of the current session.
            current = [i for i, (tag, _) in enumerate(shown) if tag == self.sessions[0][0]]
            table.move_cursor(row=current[-1] if current else 0)
        self._show_selected()

    def _newest_key(self) -> str | None:
        """The key of the current session's newest row in the table."""
        mine = [key for key, (tag, _) in self.rows.items() if tag == self.sessions[0][0]]
        return mine[-1] if mine else None

    @on(Select.Changed, "#status-filter")
    def _status_changed(self) -> None:
        self._fill()

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        # Refill once typing pauses, not on every keystroke.
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._search_due)

    def _search_due(self) -> None:
        self._search_timer = None  # fired: nothing to stop
        self._fill()

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        if self._search_timer is not None:
            self._fill()
        self.query_one(ExperimentTable).focus()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    # -- layers and tabs -----------------------------------------------------------------------
    def action_back(self) -> None:
        """Escape peels one layer: the search (its text and status filter; focus returns to
        the table), then the detail pane (focus returns to the table), then the screen."""
        table = self.query_one(ExperimentTable)
        search = self.query_one("#search", Input)
        status = self.query_one("#status-filter", Select)
        focused = self.focused
        if search.value or not status.is_blank():
            search.value = ""
            status.clear()
            self._fill()
            table.focus()
        elif focused is not None and focused is not table:
            table.focus()
        else:
            self.action_leave()

    def action_leave(self) -> None:
        self.dismiss()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#history-detail", TabbedContent).active = tab

    def action_next_tab(self, step: int) -> None:
        tabs = self.query_one("#history-detail", TabbedContent)
        index = self.TABS.index(tabs.active) if tabs.active in self.TABS else 0
        tabs.active = self.TABS[(index + step) % len(self.TABS)]

    # -- the selected experiment ------------------------------------------------------------
    def selected(self) -> tuple[str, Experiment] | None:
        key = self.query_one(ExperimentTable).selected_key()
        return self.rows.get(key) if key else None

    @on(ExperimentTable.RowHighlighted, "#history-table")
    def _row_highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        chosen = self.selected()
        key = self.query_one(ExperimentTable).selected_key()
        if key == self._shown_key:
            return
        self._shown_key = key
        if chosen is None:
            self.query_one("#history-notes", Static).update("No experiment selected.")
            self.query_one("#history-samples", Static).update("")
            self._set_diff("", "")
            return
        tag, e = chosen
        self.query_one("#history-notes", Static).update(notes_text(e, tag))
        self.query_one("#history-samples", Static).update(samples_text(e))
        of = "" if tag == self.sessions[0][0] else tag
        self.query_one("#history-detail", TabbedContent).border_title = literal(
            f"{of}#{e.n} · {e.status}")
        if self.view.source is not None:
            mine = tag == self.sessions[0][0]
            self._set_diff(f"#{e.n}", self.view.diffs.get(e.n, "") if mine else "")
            self._load_details(key or "", e.n, None if mine else tag)
        else:
            self._set_diff(f"#{e.n}", e.diffstat)
            self._set_output({})

    @work(thread=True, exclusive=True, group="history-detail")
    def _load_details(self, key: str, n: int, tag: str | None) -> None:
        source = self.view.source
        if source is None:
            return
        # A diff seen in this launch needs no git; older ones and other sessions' are read
        # from the candidate commit.
        cached = self.view.diffs.get(n) if tag is None else None
        diff = cached if cached is not None else source.diff_of(n, tag)
        outputs = source.output_of(n, tag)
        self.app.call_from_thread(self._details_loaded, key, n, diff, outputs)

    def _details_loaded(self, key: str, n: int, diff: str, outputs: dict[str, str]) -> None:
        if key != self._shown_key:
            return  # the user moved on
        self._set_diff(f"#{n}", diff)
        self._set_output(outputs)

    def _set_diff(self, label: str, diff: str) -> None:
        self._diff = diff
        view = self.query_one("#history-diff", DiffView)
        view.set_diff(diff)
        view.border_subtitle = (f"{view.hidden_lines:,} lines hidden · f: full screen"
                                if view.hidden_lines else "")

    def _set_output(self, outputs: dict[str, str]) -> None:
        log = self.query_one("#history-output", Log)
        log.clear()
        if not outputs:
            log.write_line("(no stored output)")
        for name, text in outputs.items():
            log.write_line(visible(f"── {name} " + "─" * 20, tab_size=8))
            log.write_lines([visible(line, tab_size=8) for line in text.splitlines()[-2000:]])
        log.scroll_home(animate=False)

    # -- actions -----------------------------------------------------------------------------
    def action_cherry_pick(self) -> None:
        chosen = self.selected()
        if chosen is None:
            self.app.notify("Select an experiment first.", severity="warning")
            return
        tag, e = chosen
        self.post_message(CherryPickRequested(e, None if tag == self.sessions[0][0] else tag))

    def action_copy_commit(self) -> None:
        chosen = self.selected()
        commit = (chosen[1].candidate or chosen[1].commit) if chosen else None
        if not commit:
            self.app.notify("This experiment has no commit.", severity="warning")
            return
        self.app.copy_to_clipboard(commit)
        self.app.notify(f"Copied {commit[:12]}.", timeout=3)

    def action_full_diff(self) -> None:
        from app.screens.modals import DiffScreen

        chosen = self.selected()
        label = f"#{chosen[1].n} · {chosen[1].status}" if chosen else ""
        self.app.push_screen(DiffScreen(label, self._diff))
