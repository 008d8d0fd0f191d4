"""CPU time of filling the experiment table with 1,000 rows, up to the painted frame.

Run: `python benchmarks/table_fill.py [--rows N] [--runs R]` (a few seconds).

The table replaces all its rows at once (resume, the history's search); the UI thread's CPU
time from `set_experiments` until the table has been painted is what a user waits for.
CPU time, not wall time, so other work on the machine hardly moves it; the median of the
runs after the first (which pays for imports and caches) is printed.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench_cli import arguments
from textual.app import App, ComposeResult

from app.engine.records import Experiment, Status
from widgets.experiment_table import ExperimentTable


def experiments(n: int) -> list[Experiment]:
    statuses = (Status.KEEP, Status.DISCARD, Status.CRASH)
    return [Experiment(n=i, status=statuses[i % 3], metric=100 - i * 0.01,
                       description=f"try {i}: inline the cache and hoist the loop",
                       metrics={"score": 100.0, "mem": 2.0}, commit=f"{i:07x}abc")
            for i in range(n)]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ExperimentTable()


async def measure(rows: int, runs: int) -> list[float]:
    app = TableApp()
    records = experiments(rows)
    times = []
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(ExperimentTable)
        for _ in range(runs + 1):
            await pilot.pause()
            start = time.process_time()
            table.set_experiments(records)
            await pilot.pause()
            await pilot.pause()
            times.append(time.process_time() - start)
            assert table.row_count == rows
    return times[1:]


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    times = asyncio.run(measure(args.rows, args.runs))
    print(f"table fill: {args.rows:,} rows, CPU ms per fill: median "
          f"{statistics.median(times) * 1000:.0f}, min {min(times) * 1000:.0f} "
          f"({args.runs} runs)")


if __name__ == "__main__":
    main()
