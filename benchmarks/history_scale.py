"""Does a night of 10,000 experiments stay usable? Times and memory on a generated session.

Run: `python benchmarks/history_scale.py [--experiments N]` (about 30-60 seconds).

It builds a scratch git repository with a real session (opened by the engine, so branch,
worktree and state folder are genuine), appends N realistic experiment records to its log
with `LogWriter` (statuses, samples, descriptions, reasons, tokens), then measures:

* log read: `history.read_log` of the whole log (what every launch does once);
* report: `app.report.build_report` on the loaded session (the `report` command's work);
* filter: the history screen's `matches()` over all experiments for a status and a
  two-word search (pure Python, what each search runs), and, in the TUI, the history
  screen's whole refill of its table for one search (UI-thread time up to the frame; the
  search box waits for a pause in typing before it refills), and, for the record, the wall
  time from a keystroke until the table shows its result (debounce included);
* RSS: resident memory of this process with the TUI on the session: the script's own copies
  of the records (~50 MB per 10,000) are dropped and the peak count restarted (Linux
  clear_refs) before the TUI starts, so the peak is the TUI's (plus what Python keeps);
* TUI ready: from constructing the app under Textual's `run_test()` (the engine opened
  with `--paused`, so nothing runs) until the main screen's table holds every row;
* chart redraw: one rebuild of the metric chart's plot with N points (median of 5).

The main screen's table shows the newest `MAIN_ROWS` experiments and the history screen at
most `HISTORY_ROWS` of those its filter matches (widgets/experiment_table.py): "TUI ready"
waits for the main table to hold what it shows.

Goals (issue 8): ready < 1 s, chart redraw < 50 ms, RSS < 300 MB, filter < 100 ms.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import arguments

from app.engine.history import LogWriter, read_log
from app.engine.records import Experiment, Status, Tokens

GOALS = {"TUI ready": (1.0, "s"), "history screen open": (1.0, "s"),
         "chart redraw": (0.050, "s"), "RSS (peak)": (300.0, "MB"),
         "filter (matches)": (0.100, "s"), "filter (history table refill)": (0.100, "s")}

WORDS = ("inline cache vectorize hoist loop unroll bigram tokenizer regex parser buffer "
         "allocation pool batch sort dedupe hash set dict lookup prefetch").split()


def make_repo(base: Path) -> Path:
    repo = base / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "b@example.com"}
    (repo / "autoresearch.toml").write_text(
        '[metric]\ncommand = "echo 1"\nname = "seconds"\nunit = "s"\n\n'
        '[agent]\nkind = "scripted"\n\n[agent.scripted]\npatches = "patches"\n')
    (repo / "patches").mkdir()
    (repo / "patches" / ".keep").write_text("")
    (repo / "autoresearch.md").write_text("# Goal\nFaster.\n")
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "Bench"],
                 ["config", "user.email", "b@example.com"], ["add", "-A"],
                 ["commit", "-qm", "initial"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    return repo


def experiments(count: int, seed: int = 1) -> list[Experiment]:
    rng = random.Random(seed)
    best = 10.0
    out = [Experiment(n=0, status=Status.BASELINE, metric=best, samples=[best] * 5,
                      reason="noise ±1.0%", description="baseline")]
    statuses = [Status.DISCARD] * 60 + [Status.KEEP] * 8 + [Status.CRASH] * 10 + \
        [Status.CHECKS_FAILED] * 6 + [Status.REJECTED] * 5 + [Status.TIMEOUT] * 3 + \
        [Status.AGENT_ERROR] * 4 + [Status.OVERFIT] * 2 + [Status.VETOED] * 2
    for n in range(1, count):
        status = rng.choice(statuses)
        words = " ".join(rng.sample(WORDS, 4))
        value = None
        samples: list[float] = []
        if status in (Status.KEEP, Status.DISCARD, Status.CHECKS_FAILED, Status.OVERFIT):
            value = best * (0.995 if status is Status.KEEP else rng.uniform(0.98, 1.2))
            samples = [value * rng.uniform(0.99, 1.01) for _ in range(rng.randint(3, 10))]
            if status is Status.KEEP:
                best = value
        commit = f"{rng.getrandbits(160):040x}"
        out.append(Experiment(
            n=n, status=status, metric=value, metrics={"seconds": value} if value else {},
            samples=samples, champion_samples=[best] * 5,
            confidence=rng.uniform(0, 100) if value else None,
            p_value=rng.uniform(0, 1) if value else None, commit=commit, candidate=commit,
            description=f"{words} in module {n % 37}", hypothesis=f"{words} should help",
            reason="not credibly better: median +1.2% vs champion" if status is
            Status.DISCARD else "", diffstat="1 file changed, 3 insertions(+), 2 deletions(-)",
            duration_s=rng.uniform(20, 120),
            tokens=Tokens(input=rng.randint(1000, 9000), output=rng.randint(100, 900)),
            cost_usd=rng.uniform(0.01, 0.05), source="anthropic",
            output_tail="Traceback...\nValueError: x" if status is Status.CRASH else ""))
    return out


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


T0 = time.perf_counter()


def phase(name: str) -> None:
    """Progress on stderr, so a slow phase shows where the time goes."""
    print(f"[{time.perf_counter() - T0:6.1f} s] {name}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    """Peak resident memory: VmHWM, which `reset_peak` can restart (Linux), else ru_maxrss."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Restart the peak-RSS count, so the TUI's peak is not the script's earlier one."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def shown_rows(count: int) -> int:
    """How many rows the main screen's table shows for `count` experiments (it may cap them)."""
    from widgets import experiment_table

    cap = getattr(experiment_table, "MAIN_ROWS", None)
    return count if cap is None else min(count, cap)


async def measure_tui(repo: Path, tag: str, count: int, figures: dict[str, float]) -> None:
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session
    from app.screens.history import HistoryScreen
    from app.tui.launch import make_app
    from app.tui.state import AppOptions
    from widgets.experiment_table import ExperimentTable
    from widgets.metric_chart import MetricChart

    def open_source():  # type: ignore[no-untyped-def]
        return open_session(LaunchOptions(cwd=repo, tag=tag))

    started = time.perf_counter()
    app = make_app(AppOptions(open_source=open_source, paused=True))
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 60
        while True:
            main = getattr(app, "main", None)
            # The panes are mounted after the first frame: wait for the table too.
            tables = main.query(ExperimentTable) if main is not None and main.is_attached else []
            if tables and tables.first().row_count >= shown_rows(count):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the TUI never showed every experiment")
            await pilot.pause(0.005)
        await pilot.pause()  # the first frame with the rows
        figures["TUI ready"] = time.perf_counter() - started
        phase("TUI ready")
        figures["RSS (current)"] = current_rss_mb()
        figures["RSS (peak)"] = rss_mb()

        chart = main.query_one(MetricChart)
        deadline = time.monotonic() + 30
        while chart._plot is None and time.monotonic() < deadline:
            await pilot.pause(0.02)
        plot = chart._plot
        assert plot is not None
        await pilot.pause(0.2)
        draws: list[float] = []
        for _ in range(5):
            start = time.perf_counter()
            plot.render()
            draws.append(time.perf_counter() - start)
        figures["chart redraw"] = statistics.median(draws)
        phase("chart measured")

        screen = HistoryScreen(view=app.view)
        start = time.perf_counter()
        await app.push_screen(screen)
        await pilot.pause()
        figures["history screen open"] = time.perf_counter() - start
        phase("history screen open")
        from textual.widgets import Input

        # One keystroke's worth of filtering. The search box refills the table once typing
        # pauses (a debounce), so time the refill itself: the filter, the rows, the messages
        # it causes and the frame that shows it; the time the UI thread is busy. Not
        # `pilot.pause()`: it sleeps >= 20 ms and waits until the whole process is idle, so
        # it would also count the selected experiment's diff loading in a worker thread.
        search = screen.query_one("#search", Input)
        table = screen.query_one(ExperimentTable)
        refills: list[float] = []
        for query in ("cache", "cache hoist", "zzz-no-match", "regex module 3", ""):
            with screen.prevent(Input.Changed):
                search.value = query
            await pilot.pause()  # the previous refill's diff worker done
            start = time.perf_counter()
            screen._fill()
            await pilot._wait_for_screen()
            screen._on_timer_update()  # the frame
            refills.append(time.perf_counter() - start)
        figures["filter (history table refill)"] = statistics.median(refills)
        # ...and, for the record, a keystroke until the table shows its result, debounce
        # included.
        before = table.border_subtitle
        start = time.perf_counter()
        search.value = "regex"
        while table.border_subtitle == before and time.perf_counter() - start < 10:
            await pilot.pause(0.005)
        figures["filter (keystroke to table, debounced)"] = time.perf_counter() - start
        phase("history refill measured")
        figures["RSS (peak)"] = rss_mb()
        app.controller.stop("benchmark over")
    phase("TUI closed")
    app.loop_finished.wait(20)


def time_report_and_filter(state_dir: Path, loaded: list[Experiment],
                           out: Path) -> dict[str, float]:
    """Seconds to build the report and to filter the history, in a function of its own so
    its copies of the session are gone when it returns."""
    from app.report import build_report
    from app.screens.history import matches
    from app.session_data import load_session

    data = load_session(state_dir)
    figures: dict[str, float] = {}

    def report() -> None:
        build_report(state_dir, data.experiments, data.session_start, out)

    figures["report (build_report)"] = timed(report, repeat=1)
    figures["filter (matches)"] = statistics.median(
        timed(lambda s=s, q=q: [e for e in loaded if matches(e, s, q)])
        for s, q in ((None, "cache hoist"), ("keep", ""), ("discard", "regex module 3"),
                     (None, ""), (None, "zzz-no-match")))
    return figures


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--experiments", type=int, default=10_000)
    args = parser.parse_args()
    count = args.experiments
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="history-scale-") as temp:
        repo = make_repo(Path(temp))
        os.chdir(repo)
        from app.engine.launch import LaunchOptions
        from app.engine.session import open_session

        # creates branch, worktree, state
        engine = open_session(LaunchOptions(cwd=repo, tag="scale"))
        log = engine.state_dir / "log.jsonl"
        engine.close()
        generated = experiments(count)
        # The real LogWriter writes the records, but without its fsync per record: that
        # costs ~5 ms each here and is spread over a night, not part of what is measured.
        real_fsync = os.fsync
        os.fsync = lambda fd: None  # type: ignore[assignment]
        try:
            writer = LogWriter(log)
            start = time.perf_counter()
            for e in generated:
                writer.append_experiment(e)
            writer.close()
            write_s = time.perf_counter() - start
        finally:
            os.fsync = real_fsync
        size_mb = log.stat().st_size / 1e6

        contents = read_log(log)
        assert len(contents.experiments) == count, len(contents.experiments)
        figures["log read"] = timed(lambda: read_log(log), repeat=3)
        phase("log read")
        figures["RSS after log read"] = current_rss_mb()

        figures.update(time_report_and_filter(engine.state_dir, contents.experiments,
                                              Path(temp) / "report.md"))
        phase("report built")

        # The TUI loads the session itself: drop this script's own copies first (each copy of
        # 10,000 records is ~50 MB), so the RSS figures are the TUI's, not the benchmark's.
        del generated, contents
        gc.collect()
        figures["RSS before the TUI"] = current_rss_mb()
        figures["RSS (peak) before the TUI"] = rss_mb()
        if not reset_peak():
            print("note: could not reset the peak RSS; the TUI's peak includes the script's",
                  file=sys.stderr)
        asyncio.run(measure_tui(repo, "scale", count, figures))

    print(f"history_scale: {count:,} experiments, log {size_mb:.1f} MB "
          f"(written in {write_s:.1f} s, fsync skipped)")
    print(f"{'figure':34} {'value':>12} {'goal':>10}  ok")
    for name, value in figures.items():
        unit = "MB" if name.startswith("RSS") else "s"
        goal = GOALS.get(name)
        shown = f"{value:.1f} MB" if unit == "MB" else f"{value * 1000:.1f} ms"
        goal_text = "" if goal is None else (f"{goal[0]:.0f} MB" if goal[1] == "MB"
                                             else f"{goal[0] * 1000:.0f} ms")
        verdict = "" if goal is None else ("yes" if value < goal[0] else "NO")
        print(f"{name:34} {shown:>12} {goal_text:>10}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
