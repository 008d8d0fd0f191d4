"""The main screen: status line, live diff, metric chart, experiment table, activity.

The App owns the state and calls the methods here with records; this screen only places
them in its widgets. It knows nothing of the engine's thread, and nothing of the App: it
reads the `SessionView` it is given and posts requests (`CherryPickRequested`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from app.engine.events import LoopState
from app.engine.records import Experiment, Status, count_experiments, plural
from app.screens.keys import KEYS, SCREEN_KEYS
from app.tui.requests import CherryPickRequested, WorkerSelectRequested
from app.tui.state import SessionView, is_over
from widgets.activity_log import ActivityLog
from widgets.diff_view import DiffView
from widgets.experiment_table import MAIN_ROWS, ExperimentTable
from widgets.literal import literal, one_line
from widgets.metric_chart import MetricChart
from widgets.status_line import StatusInfo, StatusLine
from widgets.workers_strip import WorkerLine, WorkersStrip, worker_label


class MainScreen(Screen[None]):
    """What a person watches for hours.

    | Key | Action |
    | :- | :- |
    | h | history screen |
    | / | history screen, searching |
    | c | cherry-pick the experiment selected in the table |
    | enter | show the selected experiment's diff (it stays until `.`) |
    | . | follow live: show the running experiment's proposal again |
    | tab, 1-9 | with parallel workers: select a worker (the diff pane follows it) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # The history key opens a screen: the App's action (it toggles the screen).
        *[replace(b, action=f"app.{b.action}") for b in KEYS if b.id == "history"],
        *[b for b in KEYS if b.id in SCREEN_KEYS and b.id != "history"],
    ]

    def __init__(self, *, view: SessionView, clock: Callable[[], float]) -> None:
        super().__init__(id="main")
        self.view = view
        """The session as the App keeps it (read here, never changed)."""
        self.clock = clock
        self._diff_n: int | None = None
        self._diff_live = False
        """Whether the pane shows a live (still changing) diff rather than a proposal."""
        self.following = True
        """Whether the pane follows the running experiment. Selecting a row pins the pane to
        that row (live updates must not snatch it away) until `.` or an approval."""
        self._diff_request = 0
        """Counts what the diff pane was asked to show; a slow load that finds it changed
        is stale (the user selected another row, or a live diff arrived) and is dropped."""
        self._diff_label = ""

    def compose(self) -> ComposeResult:
        # The first frame is the status line and the keys; the panes are mounted right
        # after it (`mount_panes`), so the terminal shows something as soon as possible.
        yield StatusLine(clock=self.clock, id="status")
        yield WorkersStrip(clock=self.clock, id="workers")  # hidden with one worker
        yield Vertical(id="panes")
        yield Footer()

    async def mount_panes(self) -> None:
        """Mount the diff, chart, table and activity panes (once, after the first frame)."""
        if self.query("#table"):
            return
        diff = DiffView(id="diff", placeholder="(no diff yet: the agent's\nchanges appear "
                        "here as it\nwrites them)")
        chart = MetricChart(id="chart")
        table = ExperimentTable(id="table", limit=MAIN_ROWS)
        activity = ActivityLog(id="activity")
        for widget, title in ((diff, "diff"), (chart, "metric"), (table, "experiments"),
                              (activity, "activity")):
            widget.border_title = title
        await self.query_one("#panes").mount_all(
            [Horizontal(diff, chart, id="top"), table, activity])
        # The table has the keys' focus from the start (j/k/g/G, enter, c act on its rows;
        # with nothing focused they did nothing until a tab), as a list does in lazygit.
        table.focus()

    def on_resize(self, event: events.Resize) -> None:
        # A compact footer keeps every key visible on an 80-column terminal; below 100
        # columns the palette's hint gives its room to the keys ("q Q" when approve was
        # shown too; ? lists ctrl+p).
        footer = self.query_one(Footer)
        footer.compact = event.size.width < 110
        palette = event.size.width >= 100
        if footer.show_command_palette != palette:
            footer.show_command_palette = palette
            footer.refresh(recompose=True)  # the footer reads it only when composing

    # -- called by the App ----------------------------------------------------------------
    def update_status(self, info: StatusInfo) -> None:
        self.query_one(StatusLine).update_info(info)

    def update_workers(self, view: SessionView) -> None:
        """The workers strip: one line per parallel worker (hidden with one)."""
        lines = [WorkerLine(w.worker, w.state, w.n, w.description, w.since)
                 for w in view.workers.values() if w.worker in view.worker_ids]
        self.query_one(WorkersStrip).set_workers(
            lines if view.parallel else [], selected=view.selected_worker)
        if view.parallel and self.query("#table"):
            self._show_in_flight(view)

    def session_opened(self, view: SessionView, *, review: bool) -> None:
        table = self.query_one(ExperimentTable)
        table.configure(metric_name=view.metric_name, direction=view.direction)
        table.set_experiments(view.experiments)
        self._table_subtitle()
        chart = self.query_one(MetricChart)
        chart.configure(metric_name=view.metric_name, unit=view.unit, direction=view.direction)
        chart.set_experiments(view.experiments)
        unit = f" ({view.unit})" if view.unit else ""
        chart.border_title = literal(one_line(f"{view.metric_name}{unit}"))
        if view.parallel:  # its lines name their worker: `w2 holdout`
            self.query_one(ActivityLog).source_width = 11
        if view.experiments:
            last = view.experiments[-1]
            count = plural(count_experiments(view.experiments), "experiment")
            review_note = (" · review mode on: each proposal waits for approve (a) or veto (v)"
                           if review else "")
            self.query_one(ActivityLog).add_rule(
                f"resumed {view.tag}: {count} and the baseline in the log{review_note}")
            # The pane names the last experiment: it shows that one's diff too (it showed
            # "no diff yet" under "#5 · interrupted") until the next one begins.
            self._diff_n = last.n
            self._set_diff_title(f"#{last.n} · {last.status}")
            if last.n in view.diffs:
                self._show_loaded_diff(last.n, view.diffs[last.n], self._title_of(last))
            elif view.source is not None and last.status is not Status.BASELINE:
                self._load_diff(last)

    def state_changed(self, view: SessionView) -> None:
        if view.parallel:
            self._show_in_flight(view)
            return
        table = self.query_one(ExperimentTable)
        if view.current is not None and view.state not in (LoopState.DONE, LoopState.FAILED,
                                                           LoopState.PAUSED):
            label = ("waiting (a/v)" if view.state is LoopState.WAITING_APPROVAL
                     else view.state.value)
            table.set_running(view.current, label=label,
                              description=view.descriptions.get(view.current, ""))

    def set_running(self, view: SessionView) -> None:
        """The table's provisional rows: the experiment in progress (every parallel
        worker's)."""
        if view.parallel:
            self._show_in_flight(view)
            return
        label = ("waiting (a/v)" if view.state is LoopState.WAITING_APPROVAL
                 else view.state.value)
        self.query_one(ExperimentTable).set_running(
            view.current, label=label, description=view.descriptions.get(
                view.current, "") if view.current is not None else "")

    def _show_in_flight(self, view: SessionView) -> None:
        """Parallel workers: each worker's experiment in progress is a provisional row at
        its number's place, saying its state and whose it is (`w2 · Lower a`)."""
        rows: dict[int, tuple[str, str]] = {}
        for w in view.workers.values():
            if w.n is None or w.worker not in view.worker_ids or is_over(view.state):
                continue
            description = view.descriptions.get(w.n, "") or w.description
            rows[w.n] = (w.table_label, worker_label(w.worker) + (
                f" · {description}" if description else ""))
        self.query_one(ExperimentTable).set_in_flight(rows)

    def experiment_began(self, view: SessionView, n: int) -> None:
        if view.parallel:
            self._show_in_flight(view)
        else:
            self.query_one(ExperimentTable).set_running(n, label="proposing")
        if self.following:
            self.show_diff(n, "", live=True)

    def showing_proposal(self, n: int | None) -> bool:
        """Whether the diff pane shows the finished proposal of experiment `n` (what an
        approval approves)."""
        return n is not None and self._diff_n == n and not self._diff_live

    def follow_live(self, view: SessionView) -> None:
        """Point the diff pane at the running experiment again and follow it."""
        self.following = True
        n = view.current
        if n is None:
            if view.parallel:  # the selected worker has no experiment: say so
                self._diff_request += 1
                self._diff_n, self._diff_live = None, True
                self.query_one(DiffView).set_diff("")
                self._set_diff_title(f"{worker_label(view.selected_worker)} · "
                                     f"{view.selected.state}")
            elif view.experiments:  # nothing runs (paused, ended): the newest experiment
                self._show_experiment(max(view.experiments, key=lambda e: e.n))
            return
        if n in view.diffs:
            self.show_diff(n, view.diffs[n], live=False,
                           description=view.descriptions.get(n, ""))
        else:
            self.show_diff(n, view.current_diff, live=True)

    def show_diff(self, n: int, diff: str, *, live: bool, description: str = "") -> None:
        """Show experiment `n`'s live diff or proposal, unless the user pinned another."""
        if not self.following:
            return
        self._diff_request += 1
        self._diff_n = n
        self._diff_live = live
        label = "live" if live else "proposal"
        if description:
            label += f" · {one_line(description)}"
        self._set_diff_title(f"{self._worker_prefix(n)}#{n} · {label}")
        self.query_one(DiffView).set_diff(diff, keep_scroll=live)

    def experiment_recorded(self, view: SessionView, experiment: Experiment) -> None:
        self.query_one(ExperimentTable).add_experiment(experiment)
        self._table_subtitle()
        self.query_one(MetricChart).add_experiment(experiment)
        if self._diff_n == experiment.n:
            self._set_diff_title(self._title_of(experiment))
            diff_view = self.query_one(DiffView)
            if not diff_view.diff.strip():  # decided with no change: not "no diff yet"
                self._diff_live = False
                diff_view.set_diff("", empty=self._no_change(experiment.n))

    def session_closed(self, view: SessionView) -> None:
        self.query_one(ExperimentTable).set_running(None)
        decided = [e for e in view.experiments if e.n > 0]
        if decided and all(e.n != self._diff_n for e in decided):
            # The last experiment never got a proposal (the agent ran out): show the last
            # decided one rather than an empty "live" pane.
            last = decided[-1]
            cached = view.diffs.get(last.n)
            if cached is not None:
                self._show_loaded_diff(last.n, cached, f"#{last.n} · {last.status}")
            elif self.view.source is not None:
                self._load_diff(last)
        reason = view.detail or "session ended"
        self.query_one(ActivityLog).add_rule(f"session ended: {reason}")

    def add_activity(self, entries: list[tuple[str, str, tuple[str, ...]]]) -> None:
        log = self.query_one(ActivityLog)
        for kind, source, lines in entries:
            if kind == "rule":
                log.add_rule(lines[0])
            elif kind == "text":
                log.add_agent_text(lines[0])
            elif kind == "tool":
                log.add_lines(source, [f"▸ {line}" for line in lines])
            else:
                log.add_lines(source, lines)

    def _worker_prefix(self, n: int) -> str:
        """`w2 · ` before a diff title when parallel workers propose (whose diff it is)."""
        worker = self.view.worker_of.get(n)
        return f"{worker_label(worker)} · " if self.view.parallel and worker is not None else ""

    def _title_of(self, experiment: Experiment) -> str:
        description = one_line(experiment.description)
        return (f"{self._worker_prefix(experiment.n)}#{experiment.n} · {experiment.status}"
                + (f" · {description}" if description and description != str(
                    experiment.status) else ""))  # not "#0 · baseline · baseline"

    def shown_diff(self) -> str:
        return self.query_one(DiffView).diff

    def diff_title(self) -> str:
        return self._diff_label

    def _table_subtitle(self) -> None:
        """Say so when the table shows only the newest experiments (a long night)."""
        table = self.query_one(ExperimentTable)
        table.border_subtitle = (
            f"showing the newest {len(table.experiments):,} of {table.total:,} — h for all"
            if table.hidden else "")

    # -- the user's own moves on this screen -------------------------------------------------
    def _set_diff_title(self, label: str) -> None:
        self._diff_label = label
        view = self.query_one(DiffView)
        view.border_title = literal(f"diff {label}")
        hidden = view.hidden_lines
        hints = [f"{hidden:,} lines hidden · f: full screen"] if hidden else []
        running = self.view.current
        if not self.following and running is not None and running != self._diff_n:
            hints.append(f". back to #{running}")
        view.border_subtitle = " · ".join(hints)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.app.check_action(action, parameters)  # the App knows what applies

    def action_cherry_pick(self) -> None:
        self.post_message(CherryPickRequested(self.query_one(ExperimentTable).selected()))

    def action_full_diff(self) -> None:
        from app.screens.modals import DiffScreen

        self.app.push_screen(DiffScreen(self.diff_title(), self.shown_diff()))

    def action_search(self) -> None:
        from app.screens.history import HistoryScreen

        self.app.push_screen(HistoryScreen(view=self.view, search=True))

    def action_follow_live(self) -> None:
        self.follow_live(self.view)

    def action_next_worker(self) -> None:
        if not self.view.parallel:
            # One worker: tab keeps its usual meaning (this binding shadows the screen's).
            self.focus_next()
            return
        self.post_message(WorkerSelectRequested(None))

    def action_select_worker(self, worker: int) -> None:
        self.post_message(WorkerSelectRequested(worker))

    @on(WorkersStrip.Selected)
    def _worker_clicked(self, event: WorkersStrip.Selected) -> None:
        self.post_message(WorkerSelectRequested(event.worker))

    @on(ExperimentTable.RowSelected)
    def _row_selected(self, event: ExperimentTable.RowSelected) -> None:
        table = self.query_one(ExperimentTable)
        experiment = table.selected()
        if experiment is None:
            if table.selected_key() == str(self.view.current):
                self.follow_live(self.view)  # the running row: its proposal, live
            return
        self.following = False
        self._show_experiment(experiment)

    def _show_experiment(self, experiment: Experiment) -> None:
        """Show a decided experiment's diff (from this launch's, else read from git)."""
        cached = self.view.diffs.get(experiment.n)
        if cached is not None:
            self._show_loaded_diff(experiment.n, cached, self._title_of(experiment))
        elif self.view.source is not None:
            self._load_diff(experiment)

    def _load_diff(self, experiment: Experiment) -> None:
        self._diff_request += 1
        self._read_diff(experiment, self._diff_request)

    @work(thread=True, exclusive=True, group="main-diff")
    def _read_diff(self, experiment: Experiment, request: int) -> None:
        source = self.view.source
        assert source is not None
        diff = source.diff_of(experiment.n)
        self.app.call_from_thread(self._diff_read, request, experiment.n, diff,
                                  self._title_of(experiment))

    def _diff_read(self, request: int, n: int, diff: str, label: str) -> None:
        # `exclusive` cancels the older worker, but a thread blocked in git still finishes:
        # only the newest request may paint.
        if request == self._diff_request:
            self._show_loaded_diff(n, diff, label)

    def _show_loaded_diff(self, n: int, diff: str, label: str) -> None:
        self._diff_request += 1
        self._diff_n = n
        self._diff_live = False
        self.query_one(DiffView).set_diff(diff, empty=self._no_change(n))
        self._set_diff_title(label)

    def _no_change(self, n: int) -> str:
        """What the diff pane says for a decided experiment with no diff."""
        experiment = self.view.experiment(n)
        if experiment is not None and experiment.status is Status.BASELINE:
            return "(the baseline: the code as the\nsession found it, measured;\nno change)"
        status = f" ({experiment.status})" if experiment is not None else ""
        return f"(#{n}{status} left no change\nto show)"
