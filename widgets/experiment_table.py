"""ExperimentTable: the keep/discard log, one row per experiment, coloured by status.

Columns: `# | commit | metric | Δ champion | secondary | status | description`. The widget
is given `Experiment` records (and the experiments in progress, shown as provisional rows)
and renders them in experiment-number order: with parallel workers experiments are decided
out of order, and a table in decision order reads as if numbers were skipped and came back.
It keeps the newest row in view unless the user moved the cursor away to look at an older
one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from app.engine.records import Experiment, Status, format_change
from widgets.literal import one_line
from widgets.status_style import look_classes, look_css, look_of

COLUMNS = (("#", "n", 4), ("commit", "commit", 7), ("metric", "metric", 10),
           ("Δ champion", "delta", 10), ("secondary", "secondary", 20),
           ("status", "status", 13), ("description", "description", 64))
DESCRIPTION_WIDTH = 64
"""The description column's width before the table knows its own; it then takes the room
the other columns leave (`_description_room`)."""

MIN_DESCRIPTION_WIDTH = 16
"""The description column's width at the least: on a narrow terminal the description is
cut with "…" inside the table rather than running past the screen's edge behind a
horizontal scrollbar (at 80 columns it was cut mid-word at the edge, no "…")."""
"""(label, key, width). Fixed widths: rows never shift as longer values arrive, and DataTable
does not re-render rows that were drawn before a column grew (it keeps stale widths)."""


MAIN_ROWS = 500
"""Rows the main screen's table keeps: the newest experiments. A DataTable row costs time
(every cell is measured when added) and memory, and a night can log 10,000 experiments; the
history screen is where all of them are browsed."""

HISTORY_ROWS = 1000
"""Rows the history screen shows at most: the newest of those its filter matches (the
search narrows them). The refill on each search runs within ~100 ms at this size."""

COMPACT_BELOW = 100
"""Table widths (cells) below which the secondary-metrics column is left out."""


TABLE_KEYS: list[Binding] = [
    Binding("j", "cursor_down", "Down", id="table_down", show=False,
            tooltip="Move the selection down one row (as down)."),
    Binding("k", "cursor_up", "Up", id="table_up", show=False,
            tooltip="Move the selection up one row (as up)."),
    Binding("g", "scroll_top", "First", id="table_first", show=False,
            tooltip="Move the selection to the first row."),
    Binding("G", "scroll_bottom", "Last", key_display="G", id="table_last", show=False,
            tooltip="Move the selection to the last row (the newest)."),
]
"""The table's vi-style moves, beside DataTable's arrows, page and home/end keys. Listed in
the app's key table (app/screens/keys.py) for the help, the palette and `[keymap]`."""


def format_number(value: float | None) -> str:
    """Four significant digits without exponent noise for everyday magnitudes."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}" if magnitude < 1000 else f"{value:,.0f}"


def format_delta(delta: float | None) -> str:
    return format_change(delta)


def _clip(text: str, width: int) -> str:
    """Cap a cell's text: DataTable sizes columns to content, and one essay would push the
    other columns off screen."""
    return text if len(text) <= width else text[:width - 1] + "…"


def is_improvement(delta: float | None, direction: str) -> bool | None:
    if delta is None or delta == 0:
        return None
    return delta < 0 if direction == "lower" else delta > 0


class ExperimentTable(DataTable[Text]):
    """Experiments as rows keyed by their number (`str(n)`).

    | Key | Action |
    | :- | :- |
    | up/down, j/k | move the selection one row |
    | page up/down | move it a page |
    | g/G, ctrl+home/ctrl+end | first row / last row |
    | enter | select the row (DataTable's `RowSelected`) |
    """

    BINDINGS: ClassVar[list[BindingType]] = list(TABLE_KEYS)

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | look_classes("experiment-table") | {
        "experiment-table--better", "experiment-table--worse"}

    DEFAULT_CSS = look_css("ExperimentTable", "experiment-table") + """
    ExperimentTable > .experiment-table--better { color: $text-success; }
    ExperimentTable > .experiment-table--worse { color: $text-error; }
    """

    def __init__(self, *, metric_name: str = "metric", direction: str = "lower",
                 show_session: bool = False, limit: int | None = None,
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id,
                         classes=classes)
        self.metric_name = metric_name
        self.direction = direction
        self.show_session = show_session
        self.experiments: dict[str, Experiment] = {}
        """Shown experiments by row key."""
        self._newest_pending = False
        self.compact = False
        """Narrow terminals drop the secondary-metrics column (and the session column) so
        the description fits."""
        self.description_width = DESCRIPTION_WIDTH
        """Characters the description column holds (grows with the table's width)."""
        self.home_session: str | None = None
        """The current session (history): in compact mode its rows carry no session label;
        other sessions' rows say theirs before the description."""
        self.in_flight: dict[int, tuple[str, str]] = {}
        """Experiments in progress, not yet recorded: number -> (status label, description),
        each a provisional row at its number's place (one per parallel worker)."""
        self._in_flight_cells: dict[int, tuple[str, str]] = {}
        """What each provisional row shows now (a repeated update changes nothing)."""
        self.limit = limit
        self._styles: dict[str, str] = {}
        """At most this many experiment rows: the oldest leave as new ones arrive."""
        self.total = 0
        """Experiments given to the table, shown or not (`hidden` is the difference)."""

    @property
    def hidden(self) -> int:
        """Experiments given but not shown (older than the newest `limit`)."""
        return max(0, self.total - len(self.experiments))

    @property
    def running(self) -> int | None:
        """The newest experiment in progress (None when none is)."""
        return max(self.in_flight, default=None)

    @property
    def session_column(self) -> bool:
        """Whether the session column is shown (not in compact mode: the description
        matters more, and other sessions' rows name theirs in it)."""
        return self.show_session and not self.compact

    def on_mount(self) -> None:
        self._add_columns()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.restyle())

    def _add_columns(self) -> None:
        if self.session_column:
            self.add_column("session", key="session", width=12)
        for label, key, width in COLUMNS:
            if key == "secondary" and self.compact:
                continue
            if key == "metric":
                label, width = self.metric_name, max(width, len(self.metric_name))
            if key == "description":
                width = self.description_width
            self.add_column(label, key=key, width=width)

    def configure(self, *, metric_name: str, direction: str) -> None:
        """Name the metric column and set which way is better (once the session is known)."""
        self.metric_name, self.direction = metric_name, direction
        self.clear(columns=True)
        self.experiments.clear()
        self.total = 0
        self.in_flight.clear()
        self._in_flight_cells.clear()
        self._add_columns()

    # -- what the App calls ---------------------------------------------------------------
    def set_experiments(self, experiments: Sequence[Experiment], *,
                        session: str | None = None) -> None:
        """Replace all rows (resume): the newest `limit` of `experiments` by number (a log
        of parallel workers is in decision order), in one pass, then the newest in view once
        (not per row: that walks every row each time)."""
        ordered = sorted(experiments, key=lambda e: e.n)
        shown = ordered if self.limit is None else ordered[-self.limit:]
        self.set_rows(((session, e) for e in shown), total=len(experiments))

    def set_rows(self, rows: Iterable[tuple[str | None, Experiment]], *,
                 total: int | None = None) -> None:
        """Replace all rows with `(session, experiment)` pairs in order (the history's
        filter); `total` counts experiments left out by the caller, for `hidden`."""
        follow = self._following()
        self.clear()
        self.experiments.clear()
        in_flight, self.in_flight, self._in_flight_cells = self.in_flight, {}, {}
        for session, e in rows:
            self._add(e, session=session)
        self.total = len(self.experiments) if total is None else total
        self.set_in_flight(in_flight)
        if follow:
            self.show_newest()

    def add_experiment(self, experiment: Experiment, *, session: str | None = None) -> None:
        """Add or update the row of `experiment` at its number's place (it replaces the
        provisional row of its number); past `limit` rows the lowest-numbered one leaves."""
        follow = self._following()
        selected = self.selected_key()
        key = self._key(experiment.n, session)
        if key not in self.experiments:
            self.total += 1
        self._add(experiment, session=session)
        if self.limit is not None and len(self.experiments) > self.limit:
            oldest = min(self.experiments, key=lambda k: self.experiments[k].n)
            del self.experiments[oldest]
            self.remove_row(oldest)
        self._in_order(follow, selected)

    def set_running(self, n: int | None, label: str = "running", description: str = ""
                    ) -> None:
        """Show (or remove) the provisional row of the one experiment in progress."""
        self.set_in_flight({} if n is None else {n: (label, description)})

    def set_in_flight(self, rows: Mapping[int, tuple[str, str]]) -> None:
        """Show the experiments in progress as provisional rows, `number -> (status label,
        description)`, each at its number's place; rows of ones no longer in progress (and
        not recorded) leave."""
        follow = self._following()
        selected = self.selected_key()
        changed = False
        for n in list(self._in_flight_cells):
            if n not in rows:
                del self._in_flight_cells[n]
                key = self._key(n, None)
                if key not in self.experiments and key in self.rows:
                    self.remove_row(key)
                    changed = True
        self.in_flight = dict(rows)
        for n, (label, description) in rows.items():
            key = self._key(n, None)
            if key in self.experiments or self._in_flight_cells.get(n) == (label, description):
                continue
            self._in_flight_cells[n] = (label, description)
            cells = [Text(str(n), justify="right"), Text(""), Text(""), Text(""),
                     *([] if self.compact else [Text("")]),
                     Text(_clip(label, 13), style=self._style("running")),
                     Text(_clip(one_line(description), self.description_width),
                          overflow="ellipsis", no_wrap=True)]
            if self.session_column:
                cells.insert(0, Text(""))
            self._upsert(key, cells)
            changed = True
        if changed:
            self._in_order(follow, selected)

    def _in_order(self, follow: bool, selected: str | None) -> None:
        """Rows by experiment number (a row is added at the bottom; with parallel workers
        it may belong higher up), keeping the row the user looks at under the cursor, or
        the newest in view when the user follows it."""
        if self.show_session or self.row_count < 2:
            # The history orders its rows itself (sessions, then numbers): `set_rows`.
            if follow:
                self.show_newest()
            return
        numbers = [int(str(row.key.value)) for row in self.ordered_rows]
        if any(a > b for a, b in zip(numbers, numbers[1:])):
            self.sort("n", key=lambda cell: int(cell.plain))
        if follow:
            self.show_newest()
        elif selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False, scroll=False)

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # no rows, or the row vanished under the cursor
            return None

    def selected(self) -> Experiment | None:
        """The experiment under the cursor (None for the running row or an empty table)."""
        key = self.selected_key()
        return self.experiments.get(key) if key else None

    @property
    def scroll_pending(self) -> bool:
        """A scroll to the newest row waits for the table's next idle (`show_newest`)."""
        return self._newest_pending

    def show_newest(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False, scroll=False)
            # DataTable sizes new rows when idle; scroll after that, or the scroll is
            # clamped to the old height.
            self._newest_pending = True

    async def _on_idle(self, event: events.Idle) -> None:
        if self._new_rows and not any(c.auto_width for c in self.columns.values()):
            # DataTable measures every cell of every new row to size auto-width columns and
            # auto-height rows; ours are all fixed (width per column, one line per row), so
            # the measuring changes nothing and cost ~70% of filling 1,000 rows. Private API,
            # kept on purpose: the public route measured (Nov 29, 2026; textual 8.2.8) was
            # cells without `__rich_measure__` (Rich's protocol makes it optional): a median
            # 189-210 ms of CPU per 1,000 rows against 104-169 ms here (benchmarks/
            # table_fill.py, alternated, busy machine), as DataTable still walks every new row.
            self._new_rows.clear()
        await super()._on_idle(event)
        if self._newest_pending:
            self._newest_pending = False
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        # A scrollbar that appears after the scroll keeps position 0 (its watcher only runs
        # while it is shown); keep the thumb where the rows are.
        if self.show_vertical_scrollbar and self.vertical_scrollbar.position != self.scroll_y:
            self.vertical_scrollbar.position = self.scroll_y

    def on_resize(self) -> None:
        compact = self.size.width < COMPACT_BELOW
        changed = compact != self.compact
        self.compact = compact
        width = self._description_room()
        if width != self.description_width:
            self.description_width, changed = width, True
        if changed:
            self.restyle(columns=True)

    def _description_room(self) -> int:
        """The description column takes the room the other columns leave (a veto reason
        was cut at 64 characters on a 220-column terminal; at 80 columns the row ran past
        the screen's edge), at least `MIN_DESCRIPTION_WIDTH`."""
        others = [w for _, key, w in COLUMNS
                  if key not in ("description",) and not (key == "secondary" and self.compact)]
        others.append(max(0, len(self.metric_name) - 10))  # the metric column grows
        if self.session_column:
            others.append(12)
        padding = 2 * self.cell_padding * (len(others) + 1)
        room = self.size.width - sum(others) - padding - 2  # the vertical scrollbar
        return max(MIN_DESCRIPTION_WIDTH, room)

    def restyle(self, *, columns: bool = False) -> None:
        """Rebuild the rows (theme change), and the columns too if asked (width change),
        keeping the selection where it was."""
        self._styles.clear()
        follow = self._following()
        selected = self.selected_key()
        rows = list(self.experiments.items())
        if not self.show_session:  # the main table: by number (the history keeps its order)
            rows.sort(key=lambda row: row[1].n)
        in_flight = dict(self.in_flight)
        self.clear(columns=columns)
        if columns:
            self._add_columns()
        self.experiments.clear()
        for key, e in rows:
            self._add(e, session=key.split(":", 1)[0] if ":" in key else None)
        self.in_flight, self._in_flight_cells = {}, {}
        self.set_in_flight(in_flight)
        if follow or selected is None or selected not in self.rows:
            self.show_newest()
        else:
            self.move_cursor(row=self.get_row_index(selected), animate=False, scroll=True)

    # -- rendering --------------------------------------------------------------------------
    def _following(self) -> bool:
        return self.row_count == 0 or self.cursor_row >= self.row_count - 1

    @staticmethod
    def _key(n: int, session: str | None) -> str:
        return f"{session}:{n}" if session else str(n)

    def _column_keys(self) -> list[str]:
        keys = [key for _, key, _ in COLUMNS if not (key == "secondary" and self.compact)]
        return ["session", *keys] if self.session_column else keys

    def _style(self, look: str) -> str:
        # Cached: resolving a component style per cell was a third of building a row. The
        # cache is dropped on `restyle` (theme changes).
        style = self._styles.get(look)
        if style is None:
            style = self._styles[look] = str(
                self.get_component_rich_style(f"experiment-table--{look}", partial=True))
        return style

    def _add(self, e: Experiment, *, session: str | None) -> None:
        key = self._key(e.n, session)
        self.experiments[key] = e
        if session is None:
            self.in_flight.pop(e.n, None)
            self._in_flight_cells.pop(e.n, None)
        self._upsert(key, self._cells(e, session))

    def _upsert(self, key: str, cells: list[Text]) -> None:
        # Replace a row rather than update its cells: DataTable caches rendered rows by an
        # update counter that does not change when widths are recomputed later, so rows
        # updated in place can keep stale column widths. The row goes to the bottom;
        # `_in_order` puts it at its number's place.
        if key in self.rows:
            self.remove_row(key)
        self.add_row(*cells, key=key)

    def _cells(self, e: Experiment, session: str | None) -> list[Text]:
        delta = e.delta() if e.status is not Status.BASELINE else None
        better = is_improvement(delta, self.direction)
        # Green says "this made it better and was kept": a faster change that failed its
        # checks (or was discarded as noise) is not shown as a success.
        delta_style = ("" if better is None else self._style("worse") if not better
                       else self._style("better") if e.status is Status.KEEP else "")
        secondary = _clip("  ".join(f"{one_line(k)}={format_number(v)}"
                                    for k, v in e.metrics.items() if k != self.metric_name), 20)
        description = one_line(e.description)
        if e.status is Status.VETOED and e.veto_reason:
            description = f"{description} (vetoed: {one_line(e.veto_reason)})"
        elif not e.status.measured and e.reason and not description:
            description = one_line(e.reason)
        if self.show_session and not self.session_column and session and (
                session != self.home_session):
            description = f"{one_line(session)}: {description}"
        description = _clip(description, self.description_width)
        cells = [Text(str(e.n), justify="right"),
                 Text(e.short_commit),
                 Text(format_number(e.metric), justify="right"),
                 Text(format_delta(delta), justify="right", style=delta_style),
                 *([] if self.compact else [Text(secondary, overflow="ellipsis", no_wrap=True)]),
                 Text(str(e.status), style=self._style(look_of(e.status))),
                 Text(description, overflow="ellipsis", no_wrap=True)]
        if self.session_column:
            cells.insert(0, Text(one_line(session or "")))
        return cells
