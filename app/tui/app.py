"""The Textual App: it runs the loop in one thread worker and shows what the loop reports.

Data flows one way. The loop (on the worker's thread) emits engine events into `sink`,
where the bridge (`app.tui.bridge`) turns them into Messages with `post_message`
(thread-safe; high-rate lines go through the `ActivityBuffer`). `@on(...)` handlers on the
App, on the UI thread, own all state (`SessionView`) and hand records to the widgets. The
user steers through the engine's `LoopController`, never by touching the loop.

Nothing heavy is imported here: the engine (pygit2), plotext and anthropic load after the
first frame, in the worker or in a widget's deferred mount.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from app.engine.controller import LoopController
from app.engine.events import MEASURING_STATES, BudgetReached, Event, LoopState
from app.engine.records import Experiment, Status, Tokens, busy_seconds
from app.errors import AutoresearchError, UsageError
from app.screens.keys import KEYS, RESUME, SCREEN_KEYS, default_key
from app.tui.activity import ActivityBuffer
from app.tui.bridge import (
    ActivityBuffered,
    ChecksReported,
    DiffRefreshed,
    EventBridge,
    ExperimentBegan,
    ExperimentRecorded,
    LoopStateChanged,
    NotesReached,
    NoticeRaised,
    ProposalArrived,
    SampleArrived,
    SessionClosed,
    SessionOpened,
    WorkerStateChanged,
    notice_text,
)
from app.tui.commands import AutoresearchCommands
from app.tui.requests import CherryPickRequested, WorkerSelectRequested
from app.tui.state import (
    WORKER_UI_STATE,
    AppOptions,
    LoopSource,
    SessionView,
    UiOnlyState,
    UiState,
    WorkerView,
    is_over,
)
from widgets.literal import one_line, visible

if TYPE_CHECKING:
    from app.screens.main import MainScreen
    from app.tui.terminal_watch import TerminalWatch


FULL_GC_EVERY_S = 30.0
"""How often the App runs the cyclic collector's full pass itself (see
`AutoresearchApp._tame_garbage_collection`)."""


class _Nowhere:
    """Accepts any method call and does nothing (see `AutoresearchApp.shown`)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class AutoresearchApp(App[int]):
    """The autoresearch TUI, built by `app.tui.launch.make_app` from `AppOptions`."""

    CSS_PATH = "app.tcss"
    TITLE = "autoresearch"
    BINDINGS: ClassVar[list[BindingType]] = [
        RESUME,  # before pause: the footer shows the first key that applies
        *[b for b in KEYS if b.id not in SCREEN_KEYS],
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit_now",
                tooltip="Quit (asks first while a session runs)."),
    ]
    COMMANDS = App.COMMANDS | {AutoresearchCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def __init__(self, options: AppOptions) -> None:
        super().__init__()
        self.options = options
        self.open_source = options.open_source
        self.controller = LoopController(paused=options.paused, review=options.review)
        self.clock = options.clock
        self.view = SessionView()
        self.activity = ActivityBuffer()
        self.bridge = EventBridge(self.post_message, self.activity)
        self.needs_init = options.needs_init
        self.usage_error: AutoresearchError | None = None
        self.events_seen = 0
        """Engine events handled so far (tests wait on it)."""
        self.quitting = False
        self.interrupted = False
        """Ctrl+C was pressed: the app exits with status 130 once the loop has stopped."""
        self.farewell: list[str] = []
        """Lines the CLI prints once the app has closed (where typed text was kept)."""
        self._review_explained = False
        self._review_lock = threading.Lock()
        self._keys_applied: tuple[object, ...] = ()
        self._baseline_n: int | None = None
        """The experiment being measured as a baseline (nothing to veto: a veto would stop
        the session), until its record arrives."""
        self._vetoes: dict[int, str] = {}
        """Veto reasons sent to the loop, by experiment, until its decision arrives."""
        self._gc_threshold: tuple[int, int, int] | None = None
        self.loop_finished = threading.Event()
        self.terminal_watch: TerminalWatch | None = None
        """Notices the terminal going away (a real terminal only, not under tests)."""
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._theme_name = options.theme
        self.user_keymap = dict(options.keymap)
        if self.user_keymap:
            self.set_keymap(self.user_keymap)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """A toast whose text is shown literally (descriptions, reasons, errors and paths
        come from outside: `[/tmp]` must not be read as a closing tag). Only a caller that
        passes `markup=True` gets markup, for its own text."""
        if not markup:
            message = visible(message)
        super().notify(message, title=one_line(title), severity=severity, timeout=timeout,
                       markup=markup)

    def action_help_quit(self) -> None:
        """Ctrl+C (with no text selected to copy) interrupts, as in any terminal program and
        as the README says: the running experiment is recorded as `interrupted`, the
        worktree returns to the champion, and the app exits with status 130. No question
        first (that is `q`); a second Ctrl+C while the loop stops quits at once. Text being
        typed in a dialog is kept, never dropped silently (`_keep_typed`)."""
        if not self.interrupted:
            self._keep_typed()
        self.interrupted = True
        if not self.view.loop_running or self.loop_finished.is_set() or self.quitting:
            self.exit(self.interrupt_status)
            return
        self.quitting = True
        self.controller.stop("interrupted")
        self.notify("Interrupted: stopping the running experiment (Ctrl+C again quits at "
                    "once).", timeout=10)
        self.refresh_status()

    @property
    def interrupt_status(self) -> int:
        """The exit status of an interrupted session: 130 after Ctrl+C, 129 when the
        terminal went away."""
        from app.tui.terminal_watch import EXIT_HANGUP

        watch = self.terminal_watch
        return EXIT_HANGUP if watch is not None and watch.lost else 130

    def _watch_terminal(self) -> None:
        """On a real terminal: when it goes away (window closed, ssh dropped, SIGHUP), stop
        as Ctrl+C does (`_terminal_lost`)."""
        from app.tui.terminal_watch import TerminalWatch, terminal_fd

        fd = terminal_fd()
        if self.is_headless or fd is None or self.terminal_watch is not None:
            return
        self._event_loop = asyncio.get_running_loop()
        self.terminal_watch = TerminalWatch(fd, self._terminal_lost, self.loop_finished)
        self.terminal_watch.start()

    def stop_watching_terminal(self) -> None:
        """The app has closed (the CLI calls this after `run`)."""
        if self.terminal_watch is not None:
            self.terminal_watch.close()

    def _terminal_lost(self) -> None:
        """The terminal went away (on the watch's thread): the loop stops at once, as on
        Ctrl+C (the running experiment recorded as `interrupted`, the worktree reset, its
        commands ended), whatever the UI thread can still do; the App then exits with 129
        (the watch ends the process itself if the UI cannot)."""
        if self.view.loop_running and not self.loop_finished.is_set():
            from app.tui.terminal_watch import EXIT_HANGUP

            self.controller.stop("interrupted", exit_status=EXIT_HANGUP)
        loop = self._event_loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._after_terminal_lost)
            except RuntimeError:  # the event loop has closed: the app is gone already
                pass

    def _after_terminal_lost(self) -> None:
        if not self.interrupted:
            self._keep_typed()  # a veto reason being typed becomes the experiment's note
        self.interrupted = True
        if not self.view.loop_running or self.loop_finished.is_set():
            self.exit(self.interrupt_status)
            return
        self.quitting = True  # the loop's end exits (`_worker_changed`)

    def _keep_typed(self) -> None:
        """Ctrl+C with a dialog open: a veto reason becomes the experiment's note (as for
        an experiment decided before the veto), a note goes to the session's inbox for the
        next experiment (on relaunch), and an unfinished init form says nothing was written.
        Each says where, in `farewell`."""
        from app.config import CONFIG_NAME
        from app.screens.modals import NoteScreen, VetoReasonScreen

        for screen in self.screen_stack:
            if isinstance(screen, VetoReasonScreen) and screen.typed():
                # Not a veto (Ctrl+C stops the experiment: `interrupted`), its note: kept
                # when the record arrives, or now if it was decided already.
                if self.view.experiment(screen.n) is None:  # not decided yet
                    self._vetoes[screen.n] = screen.typed()
                else:
                    self._keep_note(screen.n, screen.typed())
                self.farewell.append(f"Your veto reason for #{screen.n} is kept as its note "
                                     f"(history, notes tab): {screen.typed()}")
            elif isinstance(screen, NoteScreen) and screen.typed():
                if self._post_note(text=screen.typed(), standing=screen.standing):
                    kind = "standing note" if screen.standing else "note"
                    self.farewell.append(f"Your {kind} is kept: it reaches the next "
                                         f"experiment when the session resumes: "
                                         f"{screen.typed()}")
                else:
                    self.farewell.append(f"Your note could not be kept (the session is not "
                                         f"running): {screen.typed()}")
        if self.needs_init is not None and not self.view.loop_running and not (
                self.needs_init / CONFIG_NAME).exists():
            self.farewell.append(f"{CONFIG_NAME} was not written (the form was interrupted); "
                                 "launch again to fill it in, or run `autoresearch-tui init`.")

    # -- start-up -------------------------------------------------------------------------
    async def on_mount(self) -> None:
        self._watch_terminal()
        if self._theme_name:
            if self._theme_name in self.available_themes:
                self.theme = self._theme_name
            else:
                self.notify(f"Unknown theme {self._theme_name!r} in [ui] theme; using "
                            f"{self.theme}.", severity="warning")
        from app.screens.main import MainScreen

        self.main = MainScreen(view=self.view, clock=self.clock)
        await self.push_screen(self.main)
        self.refresh_status()
        if self.needs_init is not None:
            self._offer_init(self.needs_init)
        else:
            # Open the engine after the first frame: its imports (pygit2, the agents) would
            # otherwise hold the GIL while the screen is being drawn.
            self.call_after_refresh(self._after_first_frame)

    async def _after_first_frame(self) -> None:
        await self.main.mount_panes()
        self._tame_garbage_collection()
        self.start_loop()

    def _tame_garbage_collection(self) -> None:
        """Full collections pause every thread for ~30 ms here, and a flood of output lines
        triggers one every second or two: that was most of the key latency under load. So
        what exists after start-up is frozen (never scanned again), automatic full passes
        are turned off, and a full pass runs on a timer instead: the same work, at a known
        and rarer moment."""
        gc.freeze()
        self._gc_threshold = gc.get_threshold()
        gen0, gen1, _ = self._gc_threshold
        gc.set_threshold(gen0, gen1, 1_000_000)
        self.set_interval(FULL_GC_EVERY_S, lambda: gc.collect(2), name="full gc")

    def _restore_garbage_collection(self) -> None:
        """Undo `_tame_garbage_collection` (the settings are the whole process's)."""
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
            self._gc_threshold = None

    def _offer_init(self, root: Path) -> None:
        try:
            from app.screens.init_form import InitScreen
        except ImportError:
            self.usage_error = UsageError(f"no autoresearch.toml in {root}; create one with "
                                          "`autoresearch-tui init`.")
            self.exit(2)
            return

        async def after(result: object) -> None:
            if (root / "autoresearch.toml").exists():
                await self._after_first_frame()
            else:
                self.usage_error = UsageError(f"no autoresearch.toml in {root}; create one "
                                              "with `autoresearch-tui init`.")
                self.exit(2)

        self.push_screen(InitScreen(root), after)

    @property
    def source(self) -> LoopSource | None:
        """The engine (or a recorded session), once the loop's thread has opened it."""
        return self.view.source

    @property
    def shown(self) -> MainScreen:
        """The main screen to update, or a sink that drops updates while the app closes (the
        loop may still report its last events as the screen is being torn down)."""
        main: MainScreen | None = getattr(self, "main", None)
        if main is None or not main.is_attached or not main.is_running:
            return _Nowhere()  # type: ignore[return-value]
        return main

    def on_unmount(self) -> None:
        # However the app closes, the loop must not run on headless: it would hold the lock.
        if self.view.loop_running and not self.loop_finished.is_set():
            self.controller.stop("interrupted")
        self._restore_garbage_collection()

    def start_loop(self) -> None:
        self.view.loop_running = True
        self.view.session_since = self.clock()
        self.view.state_since = self.clock()
        self.run_loop()

    @work(thread=True, exclusive=True, exit_on_error=False, group="loop", name="loop")
    def run_loop(self) -> int:
        """The loop's thread: open the session, run it, close it. Returns the exit status."""
        try:
            source = self.view.source = self.open_source()
            self._restore_review(source)
            return source.run(self.sink, self.controller)
        finally:
            if self.view.source is not None:
                try:
                    self.view.source.close()
                except Exception:  # closing must not hide the loop's own error
                    pass
            self.loop_finished.set()

    def _restore_review(self, source: LoopSource) -> None:
        """Review mode is session state: on if the session had it on when it was last left
        (or if the user turned it on before the session opened, which is then recorded)."""
        saved = getattr(source, "review", None)
        remember = getattr(source, "remember_review", None)
        if saved and not self.controller.review:
            self.controller.set_review(True)
        elif self.controller.review and not saved and remember is not None:
            remember(True)

    def sink(self, event: Event) -> None:
        """The loop's event sink (loop thread): events become Messages."""
        self.bridge.sink(event)

    # -- engine messages ------------------------------------------------------------------
    def _seen(self) -> None:
        self.events_seen += 1

    @on(SessionOpened)
    def _session_opened(self, message: SessionOpened) -> None:
        e = message.event
        v = self.view
        v.tag, v.branch, v.metric_name, v.unit, v.direction, v.isolation = (
            e.tag, e.branch, e.metric_name, e.unit, e.direction, e.isolation)
        v.experiments = list(e.experiments)
        v.worker_count = max(1, e.workers)
        for x in v.experiments:
            v.worker_of[x.n] = x.worker
        for w in v.worker_ids:
            v.worker(w)
        if v.parallel and v.selected_worker not in v.worker_ids:
            v.selected_worker = v.worker_ids[0]
        # The session's clock goes on across launches, as the summary's time does: the
        # experiments' time so far, then this launch's.
        v.session_since = self.clock() - busy_seconds(v.experiments)
        v.tokens = Tokens()
        v.cost_usd = 0.0
        for x in v.experiments:
            v.tokens = v.tokens + x.tokens
            v.cost_usd += x.cost_usd
        self.sub_title = one_line(f"{e.tag} · {e.branch}")
        self.shown.session_opened(v, review=self.controller.review)
        self.shown.update_workers(v)
        if e.notice:
            self.notify(e.notice, title="Note", severity="warning", timeout=10)
        self.refresh_status()
        self._seen()

    @on(LoopStateChanged)
    def _state_changed(self, message: LoopStateChanged) -> None:
        e = message.event
        v = self.view
        state = e.state
        if v.parallel:
            self._parallel_state_changed(e.worker, state, e.detail)
            self._seen()
            return
        if state is not v.state or e.detail != v.detail:
            if state is not v.state:
                v.state_since = self.clock()
            v.state, v.detail = state, e.detail
        if e.n is not None and state not in (LoopState.DONE, LoopState.FAILED, LoopState.PAUSED):
            v.current = e.n
        if state is LoopState.CALIBRATING:
            self._baseline_n = e.n
        if state is LoopState.FAILED and e.detail:
            v.error = e.detail
        self.shown.state_changed(v)
        self.refresh_status()
        self._seen()

    def _parallel_state_changed(self, worker: int | None, state: UiState, detail: str
                                ) -> None:
        """With parallel workers a state is one worker's (kept for it, shown while it is
        selected) or the session's (paused, done, failed, the baseline)."""
        v = self.view
        if worker is None:
            if state is not v.session_state:
                v.session_state_since = self.clock()
            v.session_state, v.session_detail = state, detail
            v.session_current = True
        else:
            w = v.worker(worker)
            if state is not w.loop_state:
                w.loop_since = self.clock()
            w.loop_state, w.detail = state, detail
        if state is LoopState.FAILED and detail:
            v.error = detail
        if worker is None or worker == v.selected_worker:
            self._follow_selected(moved=False, chosen=False)

    def _parallel_shown_state(self) -> tuple[UiState, str, float | None]:
        """The state the status line shows with parallel workers: the session's when it
        is paused or over, else the selected worker's."""
        v = self.view
        session = v.session_state
        if is_over(v.state):
            return v.state, v.detail, v.state_since
        if session in (LoopState.DONE, LoopState.FAILED):
            return session, v.session_detail, v.session_state_since
        workers = [v.worker(w) for w in v.worker_ids]
        all_idle = all(w.state in ("idle", "stopped") for w in workers)
        if self.controller.paused and (all_idle or session is LoopState.PAUSED):
            # The workers stop at their next safe point: paused once none is at work.
            since = max((w.since for w in workers if w.since is not None), default=None)
            return LoopState.PAUSED, "", since
        if v.state is UiOnlyState.RESUMING and all_idle:
            return v.state, "", v.state_since
        w = v.selected
        if w.n is None and w.state == "idle" and session is not None and v.session_current:
            return session, v.session_detail, v.session_state_since  # e.g. the baseline
        shown = WORKER_UI_STATE.get(w.state, UiOnlyState.IDLE)
        fresh = w.loop_since is not None and (w.since is None or w.loop_since >= w.since)
        if fresh and ((shown is LoopState.MEASURING and w.loop_state in MEASURING_STATES) or (
                shown is LoopState.PROPOSING and w.loop_state is LoopState.PROPOSING)):
            assert w.loop_state is not None
            return w.loop_state, w.detail, w.loop_since
        return shown, "", w.since

    @on(ExperimentBegan)
    def _experiment_began(self, message: ExperimentBegan) -> None:
        v = self.view
        e = message.event
        v.worker_of[e.n] = e.worker
        if v.parallel:
            w = v.worker(e.worker)
            w.n, w.diff, w.description = e.n, "", ""
            if e.worker != v.selected_worker:
                self.shown.update_workers(v)
                self._seen()
                return
        v.current = message.event.n
        v.current_diff = ""
        v.shown_n = message.event.n
        self.shown.experiment_began(v, message.event.n)
        self.refresh_status()
        self._seen()

    @on(DiffRefreshed)
    def _diff_refreshed(self, message: DiffRefreshed) -> None:
        e = message.event
        if self.view.parallel:
            w = self.view.worker(e.worker)
            if w.n == e.n:
                w.diff = e.diff
        if e.n == self.view.current:
            self.view.current_diff = e.diff
            self.shown.show_diff(e.n, e.diff, live=True)
        self._seen()

    @on(ProposalArrived)
    def _proposal_arrived(self, message: ProposalArrived) -> None:
        e = message.event
        self.view.diffs[e.n] = e.diff
        self.view.descriptions[e.n] = e.description
        self.view.worker_of[e.n] = e.worker
        if self.view.parallel:
            w = self.view.worker(e.worker)
            if w.n == e.n:
                w.diff, w.description = e.diff, e.description
                self.shown.update_workers(self.view)
        if e.n == self.view.current:
            self.view.current_diff = e.diff
            self.shown.show_diff(e.n, e.diff, live=False, description=e.description)
        self._seen()

    @on(SampleArrived)
    def _sample_arrived(self, message: SampleArrived) -> None:
        self._drain_activity()  # its line went into the buffer, in order, in `sink`
        self._seen()

    @on(ChecksReported)
    def _checks_reported(self, message: ChecksReported) -> None:
        self._drain_activity()
        self._seen()

    @on(ExperimentRecorded)
    def _experiment_recorded(self, message: ExperimentRecorded) -> None:
        e = message.event
        v = self.view
        v.upsert(e.experiment)
        v.tokens, v.cost_usd = e.totals, e.cost_usd
        if e.experiment.n == self._baseline_n:
            self._baseline_n = None
        vetoed = self._vetoes.pop(e.experiment.n, None)
        if vetoed is not None and e.experiment.status is not Status.VETOED:
            self._keep_note(e.experiment.n, vetoed)
        if v.current == e.experiment.n:
            v.current = None
        if v.parallel:
            for w in v.workers.values():
                if w.n == e.experiment.n:
                    w.n, w.diff = None, ""
            self.shown.update_workers(v)
        self.shown.experiment_recorded(v, e.experiment)
        for screen in self.screen_stack:
            if screen.id == "history":  # open (perhaps under a diff): live, not frozen
                screen.experiment_recorded(e.experiment)  # type: ignore[attr-defined]
        if e.new_best and e.experiment.status is Status.KEEP:
            # The baseline is where the session starts, not a "new best".
            self.notify(f"#{e.experiment.n}: {e.experiment.description or 'kept'}",
                        title="New best", timeout=4)
            self.bell()  # heard from another window, hours into a run
        self.refresh_status()
        self._seen()

    @on(NoticeRaised)
    def _notice_raised(self, message: NoticeRaised) -> None:
        e = message.event
        severity: SeverityLevel = "information" if isinstance(e, BudgetReached) else "warning"
        self._drain_activity()
        self.notify(notice_text(e), severity=severity, timeout=8)
        self._seen()

    @on(NotesReached)
    def _notes_reached(self, message: NotesReached) -> None:
        self.view.standing_notes = message.event.standing
        self._drain_activity()
        self.refresh_status()

    @on(SessionClosed)
    def _session_closed(self, message: SessionClosed) -> None:
        e = message.event
        v = self.view
        v.summary = e.summary
        v.exit_status = e.exit_status
        v.state, v.detail, v.current = LoopState.DONE, e.reason, None
        if v.parallel:
            for w in v.workers.values():
                w.n, w.diff = None, ""
            self.shown.update_workers(v)
        self.shown.session_closed(v)
        self.refresh_status()
        if not self.quitting:
            from app.screens.modals import SummaryScreen

            # The summary supersedes transient toasts such as "New best".
            self.clear_notifications()
            self.push_screen(SummaryScreen(e.summary, tag=v.tag), self._after_summary)
        self._seen()

    def _after_summary(self, choice: str | None) -> None:
        if choice == "history":
            self.action_history()
        elif choice == "quit":
            self.exit(self.view.exit_status or 0)

    @on(WorkerStateChanged)
    def _worker_state_changed(self, message: WorkerStateChanged) -> None:
        e = message.event
        v = self.view
        w = v.worker(e.worker)
        if str(e.state) != w.state or e.experiment != w.n:
            w.since = self.clock()
        w.state = str(e.state)
        if w.state not in ("idle", "stopped"):
            v.session_current = False  # the workers are at work: the session's state is past
        if e.experiment != w.n:
            w.diff = v.diffs.get(e.experiment, "") if e.experiment is not None else ""
        w.n = e.experiment
        w.description = e.description or (
            v.descriptions.get(e.experiment, "") if e.experiment is not None else "")
        if e.experiment is not None:
            v.worker_of[e.experiment] = e.worker
        if v.parallel:
            # Every worker's change may change what the status line says: the selected
            # one's state, "paused" once all are idle, "w3 waiting (press 3)".
            self._follow_selected(moved=e.worker == v.selected_worker and v.current != w.n,
                                  chosen=False)
            self.shown.update_workers(v)
        self._seen()

    @on(WorkerSelectRequested)
    def _worker_select_requested(self, message: WorkerSelectRequested) -> None:
        v = self.view
        if not v.parallel:
            return
        worker = message.worker
        if worker is None:
            ids = v.worker_ids
            at = ids.index(v.selected_worker) if v.selected_worker in ids else -1
            worker = ids[(at + 1) % len(ids)]
        if worker not in v.worker_ids:
            return
        self.select_worker(worker)

    def select_worker(self, worker: int) -> None:
        """Select parallel worker `worker`: the status line, the diff pane, the table's
        running row, `a` and `v` follow it."""
        v = self.view
        v.selected_worker = worker
        self._follow_selected(moved=True, chosen=True)
        self.shown.update_workers(v)

    def _follow_selected(self, *, moved: bool, chosen: bool) -> None:
        """Bring `current`, the state shown and the diff pane to the selected worker
        (`chosen`: the user selected it, so the pane follows it even if a table row was
        pinned; a worker moving on to its next experiment leaves a pinned pane alone)."""
        v = self.view
        w: WorkerView = v.selected
        v.current, v.current_diff = w.n, w.diff
        v.state, v.detail, since = self._parallel_shown_state()
        v.state_since = since if since is not None else v.state_since
        self.shown.state_changed(v)
        if moved:
            if chosen or self.shown.following:
                self.shown.follow_live(v)
            self.shown.set_running(v)
        self.refresh_status()

    @on(ActivityBuffered)
    def _activity_buffered(self, message: ActivityBuffered) -> None:
        self._drain_activity()

    def _drain_activity(self) -> None:
        self.shown.add_activity(self.activity.drain())

    # -- the worker's fate ----------------------------------------------------------------
    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "loop":
            return
        v = self.view
        if event.state is WorkerState.SUCCESS:
            v.loop_running = False
            v.exit_status = event.worker.result if v.exit_status is None else v.exit_status
            if v.state is not LoopState.DONE:
                v.state = UiOnlyState.STOPPED
            self.refresh_status()
            if self.quitting:
                self.exit(self.interrupt_status if self.interrupted else v.exit_status or 0)
        elif event.state is WorkerState.ERROR:
            v.loop_running = False
            error = event.worker.error
            if isinstance(error, UsageError) and not v.tag:
                # The session could not even open (no repo, bad config, locked): say it on
                # the command line, as the other subcommands do.
                self.usage_error = error
                self.exit(error.exit_status)
                return
            v.exit_status = getattr(error, "exit_status", 3)
            v.state = LoopState.FAILED
            v.error = f"the loop stopped: {type(error).__name__}: {error}"
            self.activity.push("info", "error", (v.error,))
            self._drain_activity()
            self.notify(v.error, title="Loop stopped", severity="error", timeout=30)
            self.refresh_status()
            if self.quitting:
                self.exit(v.exit_status)
        elif event.state is WorkerState.CANCELLED:
            v.loop_running = False

    # -- which keys apply now -----------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows only the keys that apply now (False hides a key; it then does
        nothing, so no warning toasts either)."""
        v = self.view
        if action in ("toggle_pause", "resume", "toggle_review", "cherry_pick") and \
                self.session_over:
            return False
        if action == "resume":
            return self.controller.paused
        if action == "next_worker":
            return True  # with one worker, tab moves the focus (MainScreen)
        if action == "select_worker":
            return v.parallel and bool(parameters) and isinstance(parameters[0], int) and (
                parameters[0] in v.worker_ids)
        if action == "approve":
            if v.parallel:
                return v.selected.waiting_approval and v.selected.n is not None
            return v.state is LoopState.WAITING_APPROVAL
        if action == "veto":  # a proposal, not the baseline being measured
            return (v.current is not None and v.current != self._baseline_n
                    and v.loop_running and not self.session_over)
        return True

    def key_of(self, binding_id: str) -> str:
        """The key bound to `binding_id` now (after the user's keymap), for hints: the
        keymap is the only thing that rebinds a key table's binding."""
        if self.user_keymap.get(binding_id):
            return self.user_keymap[binding_id].split(",")[0].strip()
        return default_key(binding_id) or binding_id

    def _refresh_keys(self) -> None:
        label = "Resume" if self.controller.paused and not self.session_over else "Pause"
        # Recomposing the footer on every event would cost key latency: only on a change.
        applies = (label, self.session_over, self.check_action("approve", ()),
                   self.check_action("veto", ()), self.view.parallel)
        if self.screen_stack and applies != self._keys_applied:
            self._keys_applied = applies
            self.refresh_bindings()

    # -- status line ------------------------------------------------------------------------
    def refresh_status(self) -> None:
        from widgets.status_line import StatusInfo

        v = self.view
        state = UiOnlyState.STOPPING if self.quitting and v.loop_running else v.state
        info = StatusInfo(
            tag=v.tag, branch=v.branch, state=state, detail=v.detail, n=v.current,
            state_since=v.state_since, session_since=v.session_since,
            pause_requested=self.controller.paused and not self.session_over,
            review=self.controller.review, metric_name=v.metric_name, unit=v.unit,
            direction=v.direction, baseline=v.baseline, best=v.best, counts=v.counts(),
            tokens=v.tokens.total, cost_usd=v.cost_usd,
            queued=self.controller.pending_cherry_picks, error=v.error,
            pause_key=self.key_of("pause"), started=bool(v.experiments),
            notes=v.standing_notes, worker=self._worker_badge(), workers=v.worker_count,
            others_waiting=self._others_waiting(), isolation=v.isolation)
        self.shown.update_status(info)
        self._refresh_keys()

    def _worker_badge(self) -> str:
        """`w2` in the status line when parallel workers run: whose state it shows."""
        from widgets.workers_strip import worker_label

        v = self.view
        if not v.parallel or is_over(v.state) or v.selected.n is None or v.state in (
                LoopState.PAUSED, LoopState.STARTING, UiOnlyState.RESUMING):
            return ""  # the state shown is the session's, not the worker's
        return worker_label(v.selected_worker)

    def _others_waiting(self) -> tuple[str, ...]:
        """The workers other than the selected one whose proposal waits for approval."""
        from widgets.workers_strip import worker_label

        v = self.view
        if not v.parallel or self.session_over:
            return ()
        return tuple(worker_label(w.worker) for w in sorted(
            v.workers.values(), key=lambda w: w.worker)
            if w.waiting_approval and w.worker != v.selected_worker and w.worker in v.worker_ids)

    # -- actions ----------------------------------------------------------------------------
    @property
    def session_over(self) -> bool:
        """The loop ran and ended (before it starts, keys such as pause still apply)."""
        return is_over(self.view.state) or self.loop_finished.is_set()

    def action_resume(self) -> None:
        """`p` while paused (see `keys.RESUME`)."""
        self.action_toggle_pause()

    def action_toggle_pause(self) -> None:
        if self.session_over:
            self.notify("The session is not running.", severity="warning")
            return
        paused = self.controller.toggle_pause()
        if not paused and self.view.state is LoopState.PAUSED:
            self.view.state, self.view.state_since = UiOnlyState.RESUMING, self.clock()
        if self.view.parallel:  # all workers idle already: paused at once
            self._follow_selected(moved=False, chosen=False)
        # The status line says it ("pausing after this step", then "paused"); no toast,
        # which would cost a layout on every press.
        self.refresh_status()

    def action_toggle_review(self) -> None:
        on_now = not self.controller.review
        self.controller.set_review(on_now)
        remember = getattr(self.source, "remember_review", None)
        if remember is not None and not self.loop_finished.is_set():
            # A log append is an fsync: off the UI thread. Each worker records the state
            # as it is when it holds the lock, so the last record is the last state.
            def record() -> None:
                with self._review_lock:
                    remember(self.controller.review)

            self.run_worker(record, thread=True, group="review")
        # The status line's REVIEW badge says it; the first time, also say what it means.
        if on_now and not self._review_explained:
            self._review_explained = True
            self.notify("Review mode: each proposal waits for approve (a) or veto (v).",
                        timeout=4)
        self.refresh_status()

    def action_approve(self) -> None:
        v = self.view
        if v.parallel:
            self._approve_selected()
            return
        if self.view.state is not LoopState.WAITING_APPROVAL:
            self.notify("No proposal is waiting for approval.", severity="warning")
            return
        n = self.view.current
        if not self.main.showing_proposal(n):
            # Never approve a diff the user is not looking at: show it first.
            self.main.follow_live(self.view)
            self.notify(f"The diff pane now shows #{n}, the proposal waiting for approval; "
                        "press a again to approve it.", timeout=5)
            return
        if not self.controller.approve():
            self.notify(f"#{n} is no longer waiting for approval.", severity="warning")
            return
        self.notify(f"Approved #{n}.", timeout=3)

    def _approve_selected(self) -> None:
        """`a` with parallel workers: approve the selected worker's proposal, and only when
        the diff pane shows exactly that proposal (never another worker's, never a row the
        user pinned, never a live diff still being written)."""
        from widgets.workers_strip import worker_label

        v = self.view
        w = v.selected
        label = worker_label(w.worker)
        if not w.waiting_approval or w.n is None:
            waiting = [x for x in v.workers.values()
                       if x.waiting_approval and x.worker in v.worker_ids]
            hint = (f" {', '.join(worker_label(x.worker) for x in waiting)} "
                    f"{'waits' if len(waiting) == 1 else 'wait'}: select it with "
                    f"{waiting[0].worker} first." if waiting else "")
            self.notify(f"{label} has no proposal waiting for approval.{hint}",
                        severity="warning")
            return
        n = w.n
        if v.current != n or not self.main.showing_proposal(n):
            v.current, v.current_diff = n, w.diff
            self.main.follow_live(v)
            self.notify(f"The diff pane now shows #{n}, {label}'s proposal waiting for "
                        "approval; press a again to approve it.", timeout=5)
            return
        if not self.controller.approve(worker=w.worker):
            self.notify(f"#{n} ({label}) is no longer waiting for approval.",
                        severity="warning")
            return
        self.notify(f"Approved #{n} ({label}).", timeout=3)

    def action_veto(self) -> None:
        n = self.view.current
        if n is None or not self.view.loop_running or n == self._baseline_n:
            self.notify("No proposal to veto right now.", severity="warning")
            return
        from app.screens.modals import VetoReasonScreen

        # While the reason is being typed, the experiment is not decided: the loop goes on
        # measuring but holds before its decision (`LoopController.settle`).
        self.controller.hold()
        worker = self.view.selected_worker if self.view.parallel else None

        def after(reason: str | None) -> None:
            try:
                if reason is None:
                    return
                if worker is not None:
                    # The worker that had #n when v was pressed, whichever is selected now.
                    if self.view.worker(worker).n != n:
                        self._keep_note(n, reason)
                        return
                elif self.view.current != n:
                    self._keep_note(n, reason)
                    return
                self._vetoes[n] = reason
                if worker is None:
                    self.controller.veto(reason)
                else:
                    self.controller.veto(reason, worker=worker)
                self.notify(f"Vetoed #{n}.", timeout=3)
            finally:
                self.controller.release()

        self.push_screen(VetoReasonScreen(n), after)

    def action_instruct(self) -> None:
        """`i`: a note to the agent, through the session's inbox (app/engine/steering.py),
        the same way `autoresearch-tui instruct` sends one from another shell."""
        from app.screens.modals import NoteScreen

        def after(answer: tuple[str, bool] | None) -> None:
            if answer is not None:
                self._post_note(text=answer[0], standing=answer[1])

        self.push_screen(NoteScreen(), after)

    def action_clear_notes(self) -> None:
        """`I`: clear the standing notes from the next experiment on."""
        self._post_note(clear=True)

    def _post_note(self, *, text: str = "", standing: bool = False, clear: bool = False
                   ) -> bool:
        """Post a note to the session's inbox; whether it was saved."""
        from app.engine.steering import MAX_NOTE_CHARS, Note, post

        state_dir = getattr(self.source, "state_dir", None)
        if state_dir is None or self.session_over:
            self.notify("The session is not running: notes reach a running session.",
                        severity="warning")
            return False
        try:
            post(state_dir, Note(text=text[:MAX_NOTE_CHARS], standing=standing, clear=clear,
                                 source="tui"))
        except OSError as exc:
            self.notify(f"The note could not be saved: {exc}", severity="error")
            return False
        self.notify("Standing notes are cleared from the next experiment on." if clear else
                    "Standing note: it reaches every experiment from the next one on, until "
                    "I clears it." if standing else "Note sent: it reaches the next "
                    "experiment.", timeout=4)
        return True

    def _keep_note(self, n: int, reason: str) -> None:
        """A veto reason for an experiment already decided is kept as its note."""
        experiment = self.view.experiment(n)
        decided = f" ({experiment.status})" if experiment is not None else ""
        if not reason:
            self.notify(f"#{n} was decided{decided} before the veto; nothing vetoed.",
                        severity="warning")
            return
        add_note = getattr(self.source, "add_note", None)
        if add_note is None:
            self.notify(f"#{n} was decided{decided} before the veto; the reason could not "
                        "be saved.", severity="warning")
            return
        add_note(n, reason)
        if experiment is not None:
            experiment.note = "\n".join(filter(None, (experiment.note, reason)))
        self.notify(f"#{n} was decided{decided} before the veto took effect; your reason is "
                    "kept as its note (history, notes tab).", severity="warning", timeout=8)

    @on(CherryPickRequested)
    def _cherry_pick_requested(self, message: CherryPickRequested) -> None:
        self.cherry_pick(message.experiment, message.tag)

    def cherry_pick(self, experiment: Experiment | None, tag: str | None = None) -> None:
        """Queue `experiment` for cherry-picking (from the table or the history; `tag` names
        the session it comes from when that is not this one)."""
        if experiment is None:
            self.notify("Select an experiment first.", severity="warning")
            return
        other = tag is not None and tag != self.view.tag
        label = f"{tag}#{experiment.n}" if other else f"#{experiment.n}"
        commit = experiment.candidate or experiment.commit
        if not commit or experiment.status is Status.BASELINE:
            self.notify(f"{label} has no change to cherry-pick (its diff was empty).",
                        severity="warning")
            return
        if experiment.status is Status.KEEP and not other:
            self.notify(f"{label} is already part of the champion.", severity="warning")
            return
        if self.session_over:
            self.notify("The session is not running; cherry-picks are measured by the loop.",
                        severity="warning")
            return
        if other:
            self.controller.cherry_pick(experiment.n, tag=tag, commit=commit,
                                        description=experiment.description,
                                        hypothesis=experiment.hypothesis)
        else:
            self.controller.cherry_pick(experiment.n)
        if self.view.parallel and not self.controller.paused:
            # The queue is the session's: the next worker to start an experiment takes it.
            when = "the next worker to start an experiment takes it"
        elif self.view.current is not None:
            when = "after the running experiment"
        elif self.controller.paused:
            when = f"it runs when you resume ({self.key_of('pause')})"
        else:
            when = "it runs next"
        self.notify(f"Cherry-pick of {label} queued: {when}.", timeout=4)
        self.refresh_status()

    def action_history(self) -> None:
        from app.screens.history import HistoryScreen

        if isinstance(self.screen, HistoryScreen):
            self.pop_screen()
            return
        self.push_screen(HistoryScreen(view=self.view))

    def action_help(self) -> None:
        from app.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        # The keys of the screen it is opened on. Built once per screen and kept installed:
        # opening it again costs a repaint, not a compose.
        of = self.screen.id or "main"
        name = "help" if of == "main" else f"help-{of}"
        workers = self.view.worker_count if of == "main" else 1
        if workers > 1:  # its keys include the workers' (not listed with one)
            name += f"-{workers}"
        if not self.is_screen_installed(name):
            self.install_screen(HelpScreen(of, workers=workers), name)
        self.push_screen(name)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Our Quit (which asks first while a session runs) is in the palette already.
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    async def action_quit(self) -> None:
        if not self.view.loop_running:
            self.exit(self.view.exit_status or 0)
            return
        if self.quitting:
            from app.screens.modals import ConfirmScreen

            def force(yes: bool | None) -> None:
                if yes:
                    self.exit(130)

            self.push_screen(ConfirmScreen(
                "Quit without waiting?", "The loop is still stopping; quitting now may "
                "leave the running command behind.", yes="Quit now", no="Keep waiting"), force)
            return
        from app.screens.modals import ConfirmScreen

        def after(yes: bool | None) -> None:
            if yes:
                self.quitting = True
                self.controller.stop("stopped by the user")
                self.refresh_status()

        self.push_screen(ConfirmScreen(
            "Stop the session and quit?",
            "The running experiment is stopped and recorded as interrupted; the worktree "
            "returns to the champion. Resume later by launching again.",
            yes="Stop and quit", no="Keep running"), after)
