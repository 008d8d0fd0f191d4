"""A recorded session for the TUI's snapshot tests and screenshots: engine events with fixed
commit ids and times, replayed through the same `LoopSource` interface the engine has.

`ReplaySource.run` emits its events on the loop thread, as the engine would, then (unless
the recording ends the session) blocks until the controller says stop, like a loop that is
waiting. Nothing here touches git: diffs and outputs are canned.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.engine.controller import LoopController
from app.engine.events import (
    AgentActivity,
    DiffUpdated,
    Event,
    ExperimentDecided,
    ExperimentStarted,
    LoopState,
    OutputLines,
    ProposalReady,
    SampleMeasured,
    SessionEnded,
    SessionStarted,
    StateChanged,
)
from app.engine.records import Experiment, Status, Tokens, summarize

T0 = 1_790_000_000.0
"""A fixed wall-clock time for the experiments' timestamps."""


def commit_id(n: int) -> str:
    return f"{n:02d}c0ffee{n:02d}" + "ab" * 15


def fixed_clock() -> float:
    return 1000.0


DIFFS = {
    1: """diff --git a/textstats/count.py b/textstats/count.py
--- a/textstats/count.py
+++ b/textstats/count.py
@@ -1,9 +1,7 @@
-import re
+from collections import Counter
 
 def word_counts(text):
-    counts = {}
-    for word in re.findall(r"[a-z']+", text.lower()):
-        counts[word] = counts.get(word, 0) + 1
-    return counts
+    return Counter(text.lower().split())
""",
    2: """diff --git a/textstats/tokenize.py b/textstats/tokenize.py
--- a/textstats/tokenize.py
+++ b/textstats/tokenize.py
@@ -3,6 +3,6 @@ import re
 
 def tokens(text):
-    out = []
-    for match in re.finditer(r"\\w+", text):
-        out.append(match.group(0))
-    return out
+    return _WORD.findall(text)
+
+_WORD = re.compile(r"\\w+")
""",
    3: """diff --git a/textstats/sort.py b/textstats/sort.py
--- a/textstats/sort.py
+++ b/textstats/sort.py
@@ -1,5 +1,5 @@
 def top(counts, k):
-    return sorted(counts.items(), key=lambda kv: -kv[1])[:k]
+    import heapq
+    return heapq.nlargest(k, counts.items(), key=lambda kv: kv[1])
""",
}

DESCRIPTIONS = {
    1: "Count words with collections.Counter",
    2: "Precompile the token regex",
    3: "Use heapq.nlargest for the top-k",
    4: "Cache lowercase conversion per line",
    5: "Read the file in one call",
    6: "Vectorise the scoring loop",
}


def experiment(n: int, status: Status, metric: float | None, champion: float | None,
               **extra: object) -> Experiment:
    return Experiment(
        n=n, status=status, metric=metric, champion_metric=champion,
        metrics={"time_ms": metric, "peak_mb": 41.0 - n * 0.5} if metric is not None else {},
        samples=[metric * 0.99, metric, metric * 1.01] if metric is not None else [],
        champion_samples=[champion] * 3 if champion is not None else [],
        commit=commit_id(n), candidate=commit_id(n) if n else None,
        parent=commit_id(max(0, n - 1)), description=DESCRIPTIONS.get(n, "baseline" if n == 0
                                                                        else f"idea {n}"),
        hypothesis="fewer allocations per word" if n else "",
        learned="Counter is faster than a dict loop" if status is Status.KEEP else "",
        diffstat="1 file changed, 2 insertions(+), 4 deletions(-)" if n else "",
        duration_s=42.0 + n, tokens=Tokens(1200 * n, 300 * n, 5000 * n, 800 * n),
        cost_usd=0.021 * n, timestamp=T0 + 60 * n, p_value=0.01 if n else None,
        source=f"patches/{n:02d}.patch" if n else None, **extra)  # type: ignore[arg-type]


def recorded_history() -> list[Experiment]:
    """Six decided experiments: a baseline, two keeps, a discard, a crash, a veto."""
    return [
        experiment(0, Status.BASELINE, 812.0, None),
        experiment(1, Status.KEEP, 655.0, 812.0),
        experiment(2, Status.DISCARD, 660.0, 655.0),
        experiment(3, Status.KEEP, 590.0, 655.0),
        experiment(4, Status.CRASH, None, 590.0, reason="benchmark exited with status 1"),
        experiment(5, Status.VETOED, None, 590.0, veto_reason="keep the public API"),
    ]


def session_started(experiments: list[Experiment] | None = None,
                    isolation: str = "") -> SessionStarted:
    return SessionStarted(tag="nov27", branch="autoresearch/nov27",
                          worktree="/repo/.autoresearch/worktrees/nov27", resumed=True,
                          metric_name="time_ms", unit="ms", direction="lower",
                          experiments=tuple(experiments or ()), isolation=isolation)


def totals(experiments: list[Experiment]) -> tuple[Tokens, float]:
    tokens = Tokens()
    for e in experiments:
        tokens = tokens + e.tokens
    return tokens, sum(e.cost_usd for e in experiments)


def decided_events(experiments: list[Experiment], toasts: bool = True) -> list[Event]:
    """The events of deciding each experiment, one after the other (`toasts=False`: no
    "new best" notifications, which a snapshot under a modal would catch mid-removal)."""
    events: list[Event] = []
    done: list[Experiment] = []
    for e in experiments:
        events.append(ExperimentStarted(e.n, commit_id(max(0, e.n - 1))))
        if e.n in DIFFS:
            events.append(ProposalReady(e.n, e.description, e.hypothesis, DIFFS[e.n],
                                        e.diffstat, e.candidate))
        done.append(e)
        tok, cost = totals(done)
        events.append(ExperimentDecided(e, commit_id(e.n), toasts and e.status is Status.KEEP,
                                        tok, cost))
    return events


def mid_run_events(isolation: str = "") -> list[Event]:
    """Main screen mid-run: history decided, #6 being measured (sample 2 of 3)."""
    history = recorded_history()
    events: list[Event] = [session_started(isolation=isolation), *decided_events(history)]
    events += [
        ExperimentStarted(6, commit_id(3)),
        StateChanged(LoopState.PROPOSING, "", 6),
        AgentActivity(6, "tool", "read_file textstats/score.py"),
        AgentActivity(6, "text", "The scoring loop walks every word twice; "),
        AgentActivity(6, "text", "one pass is enough.\n"),
        DiffUpdated(6, DIFFS[3].replace("sort.py", "score.py")),
        ProposalReady(6, DESCRIPTIONS[6], "one pass over the words",
                      DIFFS[3].replace("sort.py", "score.py"), "1 file changed", commit_id(6)),
        StateChanged(LoopState.MEASURING, "2 of 3", 6),
        OutputLines(6, "bench", ("warming up", "METRIC time_ms=571.2", "warming up")),
        SampleMeasured(6, "candidate", 0, 571.2, {"time_ms": 571.2}, planned=3),
    ]
    return events


def review_waiting_events() -> list[Event]:
    events = mid_run_events()[:-3]
    events[-1:] = [events[-1], StateChanged(LoopState.WAITING_APPROVAL, "", 6)]
    return events


def ended_events() -> list[Event]:
    history = recorded_history()
    events: list[Event] = [session_started(), *decided_events(history, toasts=False)]
    summary = summarize("nov27", history, metric_name="time_ms", unit="ms", direction="lower",
                        reason="the scripted agent has no more patches")
    events += [StateChanged(LoopState.DONE, "the scripted agent has no more patches"),
               SessionEnded("the scripted agent has no more patches", summary, 0)]
    return events


@dataclass
class ReplaySource:
    """A `LoopSource` that replays recorded events."""

    events: list[Event]
    block: bool = True
    """Wait for stop after the events (a loop still running), else return at once."""
    other: list[tuple[str, list[Experiment]]] = field(default_factory=list)
    emitted: threading.Event = field(default_factory=threading.Event)
    outputs: dict[int, dict[str, str]] = field(default_factory=dict)

    def run(self, sink: Callable[[Event], None], controller: LoopController) -> int:
        for event in self.events:
            sink(event)
        self.emitted.set()
        if self.block:
            while not controller.stopping:
                controller.cancel.wait(0.05)
        return 0

    def diff_of(self, n: int, tag: str | None = None) -> str:
        return DIFFS.get(n, "")

    def output_of(self, n: int, tag: str | None = None) -> dict[str, str]:
        return self.outputs.get(n, {"bench": f"$ python bench.py\nwarming up\nMETRIC "
                                              f"time_ms={600 + n}\n"})

    def other_sessions(self) -> list[tuple[str, list[Experiment]]]:
        return self.other

    def close(self) -> None:
        pass


def count_messages(events: list[Event]) -> int:
    """How many of `events` the App counts in `events_seen` (batched ones are not)."""
    return sum(1 for e in events if not isinstance(e, (OutputLines, AgentActivity)))


def parallel_events(review: bool = False) -> list[Event]:
    """Three workers mid-run (issue #14; numbered 1-3, as the engine numbers parallel
    workers): w1 measures #6, w2 proposes #7 (a live diff), w3's
    #8 is queued for a measurement slot, or waits for approval (`review`)."""
    from app.engine.events import WorkerChanged, WorkerState

    history = recorded_history()
    first = session_started()
    events: list[Event] = [SessionStarted(**{**first.__dict__, "workers": 3}),
                           *decided_events(history)]
    diff6 = DIFFS[3].replace("sort.py", "score.py")
    diff8 = DIFFS[2].replace("tokenize.py", "split.py")
    events += [
        ExperimentStarted(6, commit_id(3), worker=1),
        WorkerChanged(1, WorkerState.PROPOSING, 6),
        ExperimentStarted(7, commit_id(3), worker=2),
        WorkerChanged(2, WorkerState.PROPOSING, 7),
        ExperimentStarted(8, commit_id(3), worker=3),
        WorkerChanged(3, WorkerState.PROPOSING, 8),
        AgentActivity(6, "tool", "read_file textstats/score.py", worker=1),
        AgentActivity(7, "text", "Lowercasing once per line ", worker=2),
        AgentActivity(6, "text", "The scoring loop walks every word twice.\n", worker=1),
        AgentActivity(7, "text", "saves a call per word.\n", worker=2),
        ProposalReady(6, DESCRIPTIONS[6], "one pass over the words", diff6, "1 file changed",
                      commit_id(6), worker=1),
        WorkerChanged(1, WorkerState.MEASURING, 6, DESCRIPTIONS[6]),
        StateChanged(LoopState.MEASURING, "2 of 3", 6, worker=1),
        OutputLines(6, "bench", ("METRIC time_ms=571.2",), worker=1),
        SampleMeasured(6, "candidate", 0, 571.2, {"time_ms": 571.2}, planned=3, worker=1),
        DiffUpdated(7, DIFFS[1].replace("count.py", "lower.py"), worker=2),
        ProposalReady(8, "Split on whitespace, no regex", "str.split is C", diff8,
                      "1 file changed", commit_id(8), worker=3),
    ]
    if review:
        events += [WorkerChanged(3, WorkerState.REVIEW, 8, "Split on whitespace, no regex"),
                   StateChanged(LoopState.WAITING_APPROVAL, "", 8, worker=3)]
    else:
        events += [WorkerChanged(3, WorkerState.QUEUED, 8, "Split on whitespace, no regex")]
    return events

async def settle(app: Any, expected: int, pilot: Any) -> None:
    """Wait until the App has handled `expected` replayed events (`count_messages`), then
    let it paint."""
    for _ in range(1000):
        if app.events_seen >= expected:
            break
        await asyncio.sleep(0.01)
    assert app.events_seen >= expected, "the replayed events were not all handled"
    await pilot.pause(0.1)
