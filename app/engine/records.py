"""Domain records: what an experiment is, as the log stores it and the UI shows it.

Plain dataclasses with `to_json()` / `from_json()`: the log, the TUI widgets, the report and
the importers all speak these, so none of them needs git or an agent to render an experiment.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import functools
import math
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    BASELINE = "baseline"
    KEEP = "keep"
    DISCARD = "discard"
    CRASH = "crash"
    TIMEOUT = "timeout"
    CHECKS_FAILED = "checks_failed"
    VETOED = "vetoed"
    REJECTED = "rejected"
    OVERFIT = "overfit"
    AGENT_ERROR = "agent_error"
    INTERRUPTED = "interrupted"
    INFRA_ERROR = "infra_error"
    """A cluster node was lost while measuring (not the code's fault)."""
    DUPLICATE = "duplicate"
    """The same change as an earlier experiment on the same champion: not measured."""
    STALE = "stale"
    """Parallel workers: the champion moved while it waited and its diff no longer applies
    onto the new one: recorded with its diff, not measured."""

    @property
    def measured(self) -> bool:
        """Whether experiments with this status usually carry a metric."""
        return self in (Status.BASELINE, Status.KEEP, Status.DISCARD, Status.OVERFIT,
                        Status.CHECKS_FAILED)


@dataclass
class Tokens:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.input + other.input, self.output + other.output,
                      self.cache_read + other.cache_read, self.cache_write + other.cache_write)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Tokens:
        data = data or {}
        return cls(**{k: int(data.get(k) or 0) for k in ("input", "output", "cache_read",
                                                           "cache_write")})


@dataclass
class Experiment:
    """One proposal, its measurements and its decision (a log record of type `experiment`)."""

    n: int
    status: Status
    reason: str = ""
    metric: float | None = None
    """The candidate's primary metric: the median of its samples."""
    metrics: dict[str, float] = field(default_factory=dict)
    """All parsed numbers (medians over the samples), primary included."""
    samples: list[float] = field(default_factory=list)
    champion_samples: list[float] = field(default_factory=list)
    confidence: float | None = None
    p_value: float | None = None
    holdout: float | None = None
    holdout_samples: list[float] = field(default_factory=list)
    holdout_champion_samples: list[float] = field(default_factory=list)
    """The champion's held-out runs, paired with `holdout_samples` (in the order they ran:
    decide.champion_first)."""
    commit: str | None = None
    """The candidate commit (`refs/autoresearch/<tag>/<n>`), or the kept commit on keep."""
    parent: str | None = None
    """The champion the candidate was measured against."""
    description: str = ""
    hypothesis: str = ""
    learned: str = ""
    veto_reason: str = ""
    diffstat: str = ""
    duration_s: float = 0.0
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    timestamp: float = field(default_factory=time.time)
    candidate: str | None = None
    """The candidate commit id, also on keep (where `commit` is the kept commit)."""
    champion_metric: float | None = None
    source: str | None = None
    """Where the proposal came from: the patch file (scripted agent), `cherry-pick:<n>`."""
    simplification: bool = False
    output_tail: str = ""
    """The last lines of the failing command's output (for the agent and the history)."""
    checks: dict[str, Any] | None = None
    """What the checks ran (check_counts.CheckCounts as JSON): runner, passed, failed,
    skipped, deselected; None when they did not run or printed no summary we recognise."""
    note: str = ""
    """The user's notes (a veto reason typed after the experiment was decided); they
    arrive as `note` records of the log."""
    fingerprints: dict[str, str] = field(default_factory=dict)
    """Baseline: the results its benchmark and held-out benchmark printed (`FINGERPRINT`)."""
    outside_clock: dict[str, float] = field(default_factory=dict)
    """Time metrics: the reported gain and the process's wall and CPU gains, in seconds."""
    executor: str = ""
    """"ray" when a cluster node measured it ('' here: the local machine)."""
    node: str = ""
    """The Ray node id that measured it."""
    host: str = ""
    """That node's host name."""
    gpus: list[str] = field(default_factory=list)
    """The GPUs Ray gave the measurement on that node (ids as Ray names them)."""
    instructions: list[str] = field(default_factory=list)
    """The user's notes the agent was given for this experiment (app/engine/steering.py)."""
    duplicate_of: int | None = None
    """`duplicate`: the earlier experiment that measured the same change on this champion."""
    worker: int = 0
    """The worker that proposed it (`[parallel] workers`; 0 when sequential)."""
    measured_from: float | None = None
    """Wall time its measurement slot was taken (benchmark, checks, holdout, keep)."""
    measured_to: float | None = None
    """Wall time that slot was given back; None: it never held one."""
    slot: int | None = None
    """Which measurement slot measured it (`[parallel] measure_slots`)."""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        if not data["note"]:
            del data["note"]  # notes are records of their own
        for key in ("executor", "node", "host", "gpus"):  # measured here: nothing to say
            if not data[key]:
                del data[key]
        for key in ("duplicate_of", "measured_from", "measured_to", "slot"):
            if data[key] is None:
                del data[key]
        if not data["holdout_champion_samples"]:
            del data["holdout_champion_samples"]
        if not data["worker"]:
            del data["worker"]
        return {"type": "experiment", **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Experiment:
        known = _experiment_fields()
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = Status(values.get("status", "discard"))
        values["tokens"] = Tokens.from_json(values.get("tokens"))
        # A value the benchmark printed as infinity was stored as null (JSON has no
        # infinity), and a log may be edited by hand: numbers that are not finite are
        # dropped here, so no reader (relaunch, history, report, finalize) meets them.
        values["metrics"] = {str(k): float(v) for k, v in
                             dict(values.get("metrics") or {}).items() if _finite_number(v)}
        for key in ("samples", "champion_samples", "holdout_samples",
                    "holdout_champion_samples"):
            values[key] = finite_samples(values.get(key))
        for key in ("metric", "holdout", "champion_metric", "confidence", "p_value"):
            values[key] = float(values[key]) if _finite_number(values.get(key)) else None
        return cls(**values)

    def champion_reference(self) -> float | None:
        """The champion value this experiment was judged against: the median of the
        champion's samples measured alongside it (as the keep rule compared them), else the
        recorded champion metric (imported logs); None for a baseline, which has none."""
        if self.status is Status.BASELINE:
            return None
        if self.champion_samples:
            return statistics.median(self.champion_samples)
        return self.champion_metric

    def copy(self) -> Experiment:
        """A copy that shares no list or dict with this record: what an event carries to
        another thread (the loop keeps its own)."""
        return dataclasses.replace(
            self, metrics=dict(self.metrics), samples=list(self.samples),
            champion_samples=list(self.champion_samples),
            holdout_samples=list(self.holdout_samples),
            holdout_champion_samples=list(self.holdout_champion_samples),
            tokens=dataclasses.replace(self.tokens),
            checks=copy.deepcopy(self.checks), fingerprints=dict(self.fingerprints),
            outside_clock=dict(self.outside_clock))

    def delta(self) -> float | None:
        """THE delta of an experiment, wherever one is shown: the relative change of its
        metric against `champion_reference()` (None when either is missing)."""
        return relative_change(self.champion_reference(), self.metric)

    @property
    def short_commit(self) -> str:
        return (self.candidate or self.commit or "")[:7]


def _finite_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def finite_samples(values: Any) -> list[float]:
    """The finite numbers of a logged sample list (null, strings and infinities dropped)."""
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if _finite_number(v)]


@functools.cache
def _experiment_fields() -> frozenset[str]:
    # Computed once: reading a 10,000-experiment log calls from_json 10,000 times.
    return frozenset(f.name for f in dataclasses.fields(Experiment))


def improvement(baseline: float, best: float, direction: str) -> float:
    """Relative improvement, positive when `best` is better than `baseline`."""
    if baseline == 0:
        return 0.0
    change = (best - baseline) / abs(baseline)
    return -change if direction == "lower" else change


def relative_change(old: float | None, new: float | None) -> float | None:
    """THE sign of a change, everywhere a signed percentage is shown: the metric's own
    change, (new - old) / |old|. A lower-is-better metric that improves shows a minus;
    whether that is better is said in words or colour, never by flipping the sign."""
    if old is None or new is None or old == 0:
        return None
    return (new - old) / abs(old)


def format_change(change: float | None) -> str:
    """`-25.0%`, `+3.1%`, or `–` when there is nothing to compare."""
    return "–" if change is None else f"{change * 100 + 0.0:+.1f}%"


def change_words(old: float | None, new: float | None, direction: str) -> str:
    """`-25.0%, better`, `+3.1%, worse` or `no change`: a change for sentences."""
    change = relative_change(old, new)
    if change is None or abs(change) < 5e-4:
        return "no change"
    better = change < 0 if direction == "lower" else change > 0
    return f"{format_change(change)}, {'better' if better else 'worse'}"


def plural(count: int, word: str) -> str:
    """`1 experiment`, `2 experiments`: the one way counts are written."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def count_experiments(experiments: list[Experiment] | tuple[Experiment, ...]) -> int:
    """How many experiments a log holds: the baseline (and re-measured baselines) is a
    measurement of the starting point, not an experiment."""
    return sum(1 for e in experiments if e.status is not Status.BASELINE)


def is_better(a: float, b: float, direction: str) -> bool:
    return a < b if direction == "lower" else a > b


def best_experiment(experiments: Iterable[Experiment], direction: str) -> Experiment | None:
    """THE best: the best measured result among the baselines and the keeps (the first of
    equals). Callers pass experiments that measure one metric (a segment)."""
    best: Experiment | None = None
    for e in experiments:
        if (e.status in (Status.BASELINE, Status.KEEP) and e.metric is not None
                and (best is None or best.metric is None
                     or is_better(e.metric, best.metric, direction))):
            best = e
    return best


# Names that suggest a bigger number is better; everything else (time, loss, bytes, bpb) is
# lower-is-better. Matched against the name's alphanumeric words, e.g. `val_acc`, `f1-score`.
HIGHER_WORDS = {"acc", "accuracy", "score", "ratio", "throughput", "speedup", "f1", "auc",
                "precision", "recall", "reward", "bleu", "rouge", "qps", "rps", "tps", "ops",
                "iops", "hits", "hitrate", "winrate", "ndcg", "map", "mrr", "fps", "gflops",
                "tflops", "mfu"}


def guess_direction(metric_name: str) -> str:
    """THE guess of a metric's direction from its name (`init`'s default answer, and imported
    results.tsv logs, which carry none): `higher` if the name suggests it (accuracy, score,
    ratio, throughput, ops/s), else `lower`, as most metrics are a loss, a time or a size."""
    words = {w for w in re.split(r"[^a-z0-9]+", metric_name.lower()) if w}
    lowered = metric_name.lower()
    if words & HIGHER_WORDS or lowered.endswith(("_per_s", "_per_sec", "/s", "per_second")):
        return "higher"
    return "lower"


@dataclass
class SessionSummary:
    """What the end of a session says: baseline -> best, counts, time, cost."""

    tag: str
    metric_name: str
    unit: str
    direction: str
    baseline: float | None
    best: float | None
    best_n: int | None
    counts: dict[str, int]
    experiments: int
    duration_s: float
    tokens: Tokens
    cost_usd: float
    reason: str = ""

    @property
    def improvement(self) -> float | None:
        if self.baseline is None or self.best is None:
            return None
        return improvement(self.baseline, self.best, self.direction)


def summarize(tag: str, experiments: list[Experiment], *, metric_name: str, unit: str,
              direction: str, reason: str = "") -> SessionSummary:
    baseline = next((e.metric for e in experiments if e.status is Status.BASELINE), None)
    # The best is the champion: the last kept experiment (each keep beat the one before).
    best, best_n = baseline, (0 if baseline is not None else None)
    for e in experiments:
        if e.status is Status.KEEP and e.metric is not None:
            best, best_n = e.metric, e.n
    counts: dict[str, int] = {}
    tokens = Tokens()
    for e in experiments:
        counts[str(e.status)] = counts.get(str(e.status), 0) + 1
        tokens = tokens + e.tokens
    return SessionSummary(
        tag=tag, metric_name=metric_name, unit=unit, direction=direction, baseline=baseline,
        best=best, best_n=best_n, counts=counts,
        experiments=count_experiments(experiments),
        duration_s=busy_seconds(experiments), tokens=tokens,
        cost_usd=sum(e.cost_usd for e in experiments), reason=reason)


def add_interval(busy: list[tuple[float, float]], start: float, end: float) -> float:
    """Merge [start, end] into the sorted, disjoint intervals `busy`; returns how much the
    covered length grew (0 for an interval already covered)."""
    if end <= start:
        return 0.0
    i = bisect.bisect_left(busy, (start, start))
    if i > 0 and busy[i - 1][1] >= start:
        i -= 1
    j, before = i, 0.0
    while j < len(busy) and busy[j][0] <= end:
        start, end = min(start, busy[j][0]), max(end, busy[j][1])
        before += busy[j][1] - busy[j][0]
        j += 1
    busy[i:j] = [(start, end)]
    return (end - start) - before


def busy_seconds(experiments: list[Experiment]) -> float:
    """The wall time `experiments` took together: parallel workers' experiments overlap,
    so theirs count as the union of their [start, end] intervals (a sum would count the
    night once per worker); the sequential loop's (worker 0) are added as they are."""
    busy: list[tuple[float, float]] = []
    return sum(span(busy, e) for e in experiments)


def span(busy: list[tuple[float, float]], e: Experiment) -> float:
    """How much wall time `e` adds to the experiments whose intervals are `busy`."""
    if not e.worker:
        return e.duration_s
    return add_interval(busy, e.timestamp, e.timestamp + e.duration_s)
