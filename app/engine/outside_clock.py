"""The outside clock: does the process's own time agree with the time it reports?

A benchmark that times itself can be fooled from inside: code under test that replaces
`time.perf_counter` with a slower-running clock makes every reported time shrink while
the process takes as long as before. The harness therefore keeps its own figures of every
benchmark run, taken from outside the process: the wall-clock time until the command's
process exited, and its CPU time (user + system, `os.wait4`'s resource usage of the
command and every descendant it waited for).

The rule compares *changes*, not ratios, in seconds: a candidate that reports a gain of
G seconds (champion's median minus candidate's median) must show at least `fraction` * G
(default 0.25) of it in the process's CPU time or in its wall time. Comparing changes
keeps fixed set-up cost (imports, loading data, a compiler) from hiding a real gain: a
benchmark that spends 10 s setting up and times a 1 s section which becomes 0.5 s reports
-0.5 s, and its process also takes 0.5 s less. The two figures are not equally
trustworthy: CPU time barely moves with other work on the machine, wall time moves a lot
(on a busy machine a process waits for a core). So a candidate is rejected when its CPU
time falls short *beyond noise* (by more than `SIGMAS` standard errors of the difference
of medians) and its wall time does not show the gain *beyond noise* either (a change that
trades CPU for wall time, such as threads, or less waiting on I/O, must show it there);
and only after fresh runs of the champion, measured right then, confirm it, so a machine
that got slower since the champion was measured cannot pass for a lie. docs/safety.md says
where the rule cannot apply (benchmarks that run for a fixed time, per-operation times far
below the process's noise, work done in another process).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.metric_spec import FIXED_TIME_FORMATS

# bench.py reads it here (an explicit re-export)
from app.metric_spec import metric_seconds_per_unit as metric_seconds_per_unit

SIGMAS = 3.0
"""How many standard errors the process's figures must fall short by."""
SHOWN_SIGMAS = 1.0
"""How many standard errors above the expected share the process's figures must be to show
the gain plainly (between the two, the verdict is unsettled and more runs are taken)."""
CONFIRM_RUNS = 3
"""Fresh pairs of runs (champion, candidate) that judge a verdict that is not plainly ok."""
MORE_PAIRS = 6
"""At most this many more runs of each side (champion, candidate, alternating) while the
verdict is unsettled; then the candidate gets the benefit of the doubt."""
MIN_ERROR_S = 0.001
"""The smallest standard error assumed (the clocks' and the scheduler's granularity)."""
CHAMPION_WINDOW = 10
"""Compare with the champion's most recent runs only (older ones are the most exposed to a
machine whose speed drifted)."""


def enabled(config: Any) -> bool:
    """The outside clock is on for time-like metrics (lower is better) unless switched off;
    for the formats of tools that run for a fixed time, only when switched on."""
    m, g = config.metric, config.guard
    if g.outside_clock is False or m.direction != "lower":
        return False
    if metric_seconds_per_unit(m) is None:
        return False
    return g.outside_clock is True or getattr(m, "format", "lines") not in FIXED_TIME_FORMATS


@dataclass(frozen=True)
class Run:
    reported_s: float
    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class ClockVerdict:
    ok: bool
    reason: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    """Reported, wall and CPU gains in seconds (what the log record keeps)."""
    settled: bool = True
    """False when the process's figures neither show the gain plainly nor fall credibly
    short of it: more runs of both sides can tell (a busy machine's CPU times wobble)."""


def _standard_error(a: list[float], b: list[float]) -> float:
    """Of the difference of the two medians, from the pooled median absolute deviation."""
    ma, mb = statistics.median(a), statistics.median(b)
    mad = statistics.median([abs(x - ma) for x in a] + [abs(x - mb) for x in b])
    sigma = 1.4826 * mad
    return max(MIN_ERROR_S, 1.2533 * sigma * math.sqrt(1 / len(a) + 1 / len(b)))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f} ms" if abs(seconds) < 10 else f"{seconds:+.2f} s"


def judge(champion: list[Run], candidate: list[Run], fraction: float,
          sigmas: float = SIGMAS, stretch_cpu: bool = True,
          shown_sigmas: float = SHOWN_SIGMAS) -> ClockVerdict:
    """Is the candidate's reported gain matched by the process's wall or CPU time?

    On a busy machine a process gets only a share of a core, and a benchmark that times
    itself with a wall clock reports its gain stretched by the waiting (a 60 ms gain in
    wall time may be 15 ms of CPU time). So the CPU figures are stretched by the
    process's wall time over its CPU time (at least 1) before they are compared.

    The verdict is settled when the candidate is rejected (both figures credibly short, by
    `sigmas` standard errors) or when one figure shows the expected share plainly (CPU
    time by `shown_sigmas` standard errors, wall time by `sigmas`: a lucky wall time on a
    busy machine must not settle it); otherwise it is ok but unsettled.
    """
    if len(champion) < 2 or len(candidate) < 2:
        return ClockVerdict(True)
    med = statistics.median
    reported = med([r.reported_s for r in champion]) - med([r.reported_s for r in candidate])
    both = champion + candidate
    cpu_med = med([r.cpu_s for r in both])
    stretch = max(1.0, med([r.wall_s for r in both]) / cpu_med) \
        if cpu_med > 0 and stretch_cpu else 1.0
    figures = {"reported_gain_s": reported, "cpu_stretch": stretch}
    short: dict[str, bool] = {}
    shown: dict[str, bool] = {}
    for name in ("wall", "cpu"):
        before = [getattr(r, f"{name}_s") for r in champion]
        after = [getattr(r, f"{name}_s") for r in candidate]
        moved = med(before) - med(after)
        figures[f"{name}_gain_s"] = moved
        figures[f"{name}_s"] = med(after)
        error = _standard_error(before, after)
        # CPU time is the quiet figure: it fails only when credibly short. Wall time
        # moves with everything else on the machine: it counts only when credibly there.
        short[name] = ((moved + sigmas * error) * stretch if name == "cpu"
                       else moved - sigmas * error) < fraction * reported
        # Shown plainly: CPU time above the expected share by `shown_sigmas` standard
        # errors; wall time, which a busy machine moves by seconds, only when credibly.
        shown[name] = (moved - shown_sigmas * error) * stretch >= fraction * reported \
            if name == "cpu" else not short[name]
    figures["champion_runs"], figures["candidate_runs"] = len(champion), len(candidate)
    if reported <= 0:
        return ClockVerdict(True, figures=figures)
    if not all(short.values()):
        return ClockVerdict(True, figures=figures, settled=any(shown.values()))
    base = med([r.reported_s for r in champion])
    share = f" ({-reported / base:+.0%})" if base > 0 else ""
    return ClockVerdict(False, (
        f"the reported time disagrees with the measured process time: reported "
        f"{_ms(-reported)}{share}, but the process's wall time moved "
        f"{_ms(-figures['wall_gain_s'])} and its CPU time {_ms(-figures['cpu_gain_s'])} "
        f"(at least {fraction:.0%} of the reported gain expected)"), figures)


def describe(figures: dict[str, float]) -> str:
    """One line for a person: the gain the benchmark reported against the process's own
    (from an experiment record's `outside_clock`)."""
    if "reported_gain_s" not in figures:
        return ""
    parts = [f"reported {_ms(-figures['reported_gain_s'])}"]
    if "wall_gain_s" in figures:
        parts.append(f"process wall {_ms(-figures['wall_gain_s'])}")
    if "cpu_gain_s" in figures:
        stretch = figures.get("cpu_stretch", 1.0)
        parts.append(f"CPU {_ms(-figures['cpu_gain_s'])}"
                     + (f" (x{stretch:.2f} for waiting)" if stretch > 1.005 else ""))
    if "champion_runs" in figures and "candidate_runs" in figures:
        parts.append(f"on {figures['champion_runs']:.0f} champion and "
                     f"{figures['candidate_runs']:.0f} candidate runs")
    return ", ".join(parts)


def settle(verdict: Callable[[], ClockVerdict], fresh_pairs: Callable[[], object],
           one_more_pair: Callable[[int], bool], *, knows_champion: bool = True,
           more_pairs: int = MORE_PAIRS) -> ClockVerdict:
    """The final verdict on a kept candidate, measuring more while it is unclear.

    A verdict that is not plainly ok (rejected or unsettled, or no champion runs known,
    e.g. after a restart) is judged again on fresh runs of both sides only: `fresh_pairs`
    forgets the runs so far and runs the champion and the candidate CONFIRM_RUNS times,
    alternating. Fresh, because the champion's older runs may come from a faster machine
    (a slower one then must not pass for a lie), and because the candidate's own runs were
    chosen by the keep rule for looking good: judged against them, an honest gain that
    came out lucky claims more than its process shows (the winner's curse; measured: it
    doubled the false rejections of a set-up-dominated benchmark under load). While the
    verdict is then unsettled, `one_more_pair(i)` runs each side once more, up to
    `more_pairs` times (False: a run failed, stop); then an unsettled candidate gets the
    benefit of the doubt. Measured in benchmarks/outside_clock.py (docs/decisions.md).
    """
    now = verdict()
    if now.ok and now.settled and knows_champion:
        return now
    fresh_pairs()
    now = verdict()
    for i in range(more_pairs):
        if not now.ok or now.settled or not one_more_pair(i):
            break
        now = verdict()
    return now


@dataclass
class OutsideClock:
    """The outside figures of the champion's and the current candidate's runs."""

    seconds_per_unit: float
    fraction: float = 0.25
    champion: list[Run] = field(default_factory=list)
    candidate: list[Run] = field(default_factory=list)
    candidate_n: int | None = None

    def note(self, n: int, role: str, reported: float, wall_s: float | None,
             cpu_s: float | None) -> None:
        """One benchmark run (not the held-out one) of the champion or of candidate `n`."""
        if wall_s is None or cpu_s is None:
            return
        run = Run(reported * self.seconds_per_unit, wall_s, cpu_s)
        if role == "candidate":
            if n != self.candidate_n:
                self.candidate, self.candidate_n = [], n
            self.candidate.append(run)
        else:
            self.champion.append(run)
            del self.champion[:-4 * CHAMPION_WINDOW]

    def reset(self) -> None:
        """A new baseline: the champion's runs start again."""
        self.champion, self.candidate, self.candidate_n = [], [], None

    def promote(self) -> None:
        """The candidate was kept: its runs are the champion's."""
        self.champion, self.candidate, self.candidate_n = list(self.candidate), [], None

    def forget(self) -> None:
        """Before fresh runs of both sides, so only they are compared."""
        self.champion, self.candidate = [], []

    @property
    def knows_champion(self) -> bool:
        return len(self.champion) >= 2

    def judge(self, n: int) -> ClockVerdict:
        candidate = self.candidate if self.candidate_n == n else []
        return judge(self.champion[-CHAMPION_WINDOW:], candidate, self.fraction)
