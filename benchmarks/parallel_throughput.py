"""Throughput of parallel workers (issue #14): experiments per hour at K = 1, 2, 4 workers
with one measurement slot, an agent that takes L seconds and a benchmark of B seconds.

Run: `python benchmarks/parallel_throughput.py [--latency 4] [--bench 0.2] [--repeats 3]
[--experiments 12] [--workers 1,2,4]` (about 5 minutes with the defaults).

The project is the demo's (app/demo_project) with its benchmark replaced by a fixed amount
of CPU work lasting about B seconds (the metric is its wall time in ms: real noise), no
checks and no held-out benchmark (the figure is about scheduling, not about them). The
agent is the command agent: `sleep L`, then a real patch that changes nothing measured (a
new module file per experiment), so every decision should be a discard: any keep is a
false keep. Throughput counts decided experiments from the first proposal's start to the
last decision; slot utilisation is the share of that time a measurement slot was held
(from the records' measured_from/measured_to; the sequential loop, K = 1, records none).

Goals: K = 4 at least 3.2x K = 1 (the agent-bound limit is 4x); false keeps at K = 4 no
worse than at K = 1 (both <= 5%).
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import ROOT, arguments

from app.engine.controller import LoopController
from app.engine.events import Event, ExperimentStarted
from app.engine.launch import LaunchOptions
from app.engine.records import Status
from app.engine.session import open_session

DEMO = ROOT / "app" / "demo_project"
ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@b"}

BENCH = """\
import sys, time
start = time.perf_counter()
total, i = 0, 0
while i < {loops}:
    total += i * i
    i += 1
print(f"METRIC time_ms={{(time.perf_counter() - start) * 1000:.3f}}")
"""

AGENT = """\
sleep {latency}
echo "X = $AUTORESEARCH_EXPERIMENT" > "textstats/noop_$AUTORESEARCH_EXPERIMENT.py"
echo "DESCRIPTION: no-op module from worker $1"
"""

CONFIG = """\
[metric]
command = "python3 bench/fixed.py"
name = "time_ms"
direction = "lower"
unit = "ms"
timeout_s = 60
repeats = 3
max_repeats = 3
calibration_runs = 5
remeasure_every = 0

[decide]
alpha = 0.05
min_effect = 0.05

[agent]
kind = "command"

[agent.command]
command = "sh agent.sh {worker} {prompt_file}"
timeout_s = 120

[parallel]
measure_slots = 1
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env={**os.environ, **ENV}, check=True,
                   capture_output=True)


def loops_for(seconds: float) -> int:
    """How many loop turns take about `seconds` here."""
    n = 200_000
    while True:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", BENCH.format(loops=n)], check=True,
                       capture_output=True)
        took = time.perf_counter() - start
        if took > 0.05:
            return max(1, int(n * seconds / took))
        n *= 4


def make_project(where: Path, latency: float, loops: int) -> Path:
    root = where / "demo"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "bench" / "fixed.py").write_text(BENCH.format(loops=loops))
    (root / "autoresearch.toml").write_text(CONFIG)
    (root / "agent.sh").write_text(AGENT.format(latency=latency))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the demo, a fixed benchmark")
    return root


def one_run(root: Path, workers: int, experiments: int) -> dict[str, float]:
    first_start: list[float] = []

    def sink(event: Event) -> None:
        if isinstance(event, ExperimentStarted) and event.n > 0 and not first_start:
            first_start.append(time.time())

    os.environ.update(ENV)
    session = open_session(LaunchOptions(cwd=root, new=True, workers=workers,
                                         max_experiments=experiments))
    try:
        session.run(sink, LoopController())
    finally:
        session.close()
    done = [e for e in session.experiments if e.status is not Status.BASELINE]
    end = max(e.timestamp + e.duration_s for e in done)
    span = end - first_start[0]
    held = sum((e.measured_to or 0) - (e.measured_from or 0) for e in done
               if e.measured_from is not None)
    measured = [e for e in done if e.status in (Status.KEEP, Status.DISCARD)]
    return {"per_hour": len(done) / span * 3600, "span_s": span, "done": len(done),
            "utilisation": held / span if held else float("nan"),  # K = 1: not recorded
            "false_keeps": sum(e.status is Status.KEEP for e in measured),
            "measured": len(measured),
            "other": sum(e.status not in (Status.KEEP, Status.DISCARD) for e in done)}


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--latency", type=float, default=4.0)
    parser.add_argument("--bench", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--experiments", type=int, default=12)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    ks = [int(k) for k in args.workers.split(",")]
    loops = loops_for(args.bench)
    print(f"agent {args.latency:g} s, benchmark ~{args.bench:g} s ({loops} loop turns), "
          f"{args.experiments} experiments per run, {args.repeats} repeats, 1 slot, "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    rates: dict[int, list[float]] = {}
    for k in ks:
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="autoresearch-par-",
                                             ignore_cleanup_errors=True) as tmp:
                root = make_project(Path(tmp), args.latency, loops)
                got = one_run(root, k, args.experiments)
            rates.setdefault(k, []).append(got["per_hour"])
            busy = got["utilisation"]
            busy_text = "n/a" if math.isnan(busy) else f"{busy:.0%}"
            print(f"K={k} run {r + 1}: {got['per_hour']:.0f} experiments/h "
                  f"({got['done']:.0f} in {got['span_s']:.1f} s), slot busy "
                  f"{busy_text}, false keeps {got['false_keeps']:.0f} of "
                  f"{got['measured']:.0f} measured, other statuses {got['other']:.0f}",
                  flush=True)
    base = statistics.median(rates[ks[0]])
    for k in ks:
        median = statistics.median(rates[k])
        print(f"K={k}: median {median:.0f} experiments/h = {median / base:.2f}x K={ks[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
