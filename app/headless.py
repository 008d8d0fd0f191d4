"""`autoresearch-tui run --headless`: the loop with one line per experiment."""

from __future__ import annotations

import signal
import sys
from typing import TextIO

from app.engine.controller import LoopController
from app.engine.events import (
    BaselineReset,
    BudgetReached,
    DriftDetected,
    Event,
    ExperimentDecided,
    NotesTaken,
    SessionEnded,
    SessionStarted,
    WarningRaised,
)
from app.engine.launch import LaunchOptions
from app.engine.records import (
    Experiment,
    SessionSummary,
    Status,
    change_words,
    count_experiments,
    format_change,
    plural,
)


def format_metric(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.4e}"
    return f"{text} {unit}".strip()


def format_experiment(e: Experiment, unit: str) -> str:
    parts = [f"#{e.n}", str(e.status), format_metric(e.metric, unit)]
    delta = e.delta()
    if delta is not None and e.status is not Status.BASELINE:
        parts.append(f"({format_change(delta)} vs champion)")
    if e.status is Status.BASELINE:
        text = e.reason
    elif e.status in (Status.KEEP, Status.DISCARD) and e.description:
        text = e.description + (f" — {e.reason}" if e.status is Status.DISCARD and e.reason
                                else "")
    else:
        text = f"{e.description} — {e.reason}" if e.description else e.reason
    parts.append(text)
    spent = f"{e.duration_s:.1f} s"
    if e.tokens.total:
        spent += f", {e.tokens.total / 1000:.1f}k tokens, ${e.cost_usd:.3f}"
    parts.append(f"[{spent}]")
    return " ".join(p for p in parts if p)


def format_summary(s: SessionSummary) -> list[str]:
    lines = [f"session {s.tag}: {s.reason}" if s.reason else f"session {s.tag}"]
    if s.baseline is not None:
        imp = s.improvement
        lines.append(f"  {s.metric_name}: {format_metric(s.baseline, s.unit)} -> "
                     f"{format_metric(s.best, s.unit)}"
                     + ("" if imp is None else
                        f" ({change_words(s.baseline, s.best, s.direction)})")
                     + (f", best #{s.best_n}" if s.best_n else ""))
    counts = ", ".join(f"{v} {k}" for k, v in sorted(s.counts.items(), key=lambda kv: -kv[1])
                       if k != str(Status.BASELINE))
    lines.append(f"  {plural(s.experiments, 'experiment')}" + (f": {counts}" if counts else ""))
    cost = f", ${s.cost_usd:.2f}, {s.tokens.total:,} tokens" if s.tokens.total else ""
    lines.append(f"  time {s.duration_s / 60:.1f} min{cost}")
    return lines


class LinePrinter:
    """The headless event sink."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self.unit = ""
        self.workers = 1
        self.per_worker: dict[int, dict[str, int]] = {}
        """Statuses of this launch's experiments by worker (parallel workers' summary)."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.unit = event.unit
            self.workers = event.workers
            verb = "resuming" if event.resumed else "starting"
            self.say(f"{verb} session {event.tag} on branch {event.branch} "
                     f"(worktree {event.worktree})")
            if event.isolation:
                self.say(f"sandbox: {event.isolation}")
            if event.workers > 1:
                self.say(f"{event.workers} workers propose at once")
            if event.notice:
                self.say(f"note: {event.notice}")
            if event.resumed:
                self.say(f"{plural(count_experiments(event.experiments), 'experiment')} "
                         "in the log")
        elif isinstance(event, ExperimentDecided):
            line = format_experiment(event.experiment, self.unit)
            worker = event.experiment.worker
            if self.workers > 1 and worker:
                line = f"[w{worker}] {line}"  # which worker proposed it
                counts = self.per_worker.setdefault(worker, {})
                status = str(event.experiment.status)
                counts[status] = counts.get(status, 0) + 1
            self.say(line)
            out = self.out or sys.stdout
            if event.new_best and event.experiment.status is Status.KEEP and out.isatty():
                out.write("\a")  # a new best rings the terminal bell
                out.flush()
        elif isinstance(event, (WarningRaised,)):
            # Warnings (a torn log line, ...) go where warnings go: stderr.
            print(f"warning: {event.message}", file=self.out or sys.stderr, flush=True)
        elif isinstance(event, DriftDetected):
            self.say(f"drift: {event.detail}")
        elif isinstance(event, BaselineReset):
            self.say(f"new baseline: {event.reason}")
        elif isinstance(event, NotesTaken):
            for text in event.once:
                self.say(f"note for #{event.n}: {text}")
            if event.standing or not event.once:  # a standing note came or went
                self.say(f"standing notes: {' | '.join(event.standing)}" if event.standing
                         else "standing notes: none")
        elif isinstance(event, BudgetReached):
            self.say(f"{'stalled' if event.stalled else 'budget'}: {event.reason}")
        elif isinstance(event, SessionEnded):
            for line in format_summary(event.summary):
                self.say(line)
            for worker, counts in sorted(self.per_worker.items()):
                done = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(),
                                                              key=lambda kv: -kv[1]))
                self.say(f"  worker {worker}: {plural(sum(counts.values()), 'experiment')}"
                         f" ({done})")

    def say(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)


def run_headless(options: LaunchOptions) -> int:
    from app.engine.session import open_session

    engine = open_session(options)
    controller = LoopController(paused=False)
    # Load warnings (a torn log line) arrive as WarningRaised events, as in the TUI.
    interrupts = 0

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        print("\ninterrupted: stopping the running experiment (Ctrl-C again to force)",
              file=sys.stderr, flush=True)
        controller.stop("interrupted")

    previous = signal.signal(signal.SIGINT, on_sigint)
    previous_term = signal.signal(signal.SIGTERM, on_sigint)
    try:
        return engine.run(LinePrinter(), controller)
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        engine.close()
