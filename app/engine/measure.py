"""Parse what a benchmark printed: `METRIC name=value` lines, or a number on its last line
(DESIGN.md, "Metric output"). Running the command is `process.py`'s.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------
# Metric parsing (DESIGN.md, "Metric output")

METRIC_LINE = re.compile(r"^\s*METRIC\s+([^\s=]+)\s*=\s*(\S+)")
METRIC_ANYWHERE = re.compile(r"METRIC\s+([^\s=]+)\s*=")
"""A metric's name wherever it appears, also inside a line: code under test that prints
"# " without a newline right before the benchmark's line hides it from METRIC_LINE."""
NUMBER_LINE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*)?$")
BARE_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*(?:\S+\s*)?$")
"""A line that holds only a number, and perhaps a unit: what a benchmark without METRIC
lines prints as its result."""


@dataclass
class ParsedMetrics:
    value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    unit: str | None = None


def parse_metrics(stdout: str, primary: str | None, take: str = "once") -> ParsedMetrics:
    """`METRIC name=value` lines, or else the last non-empty line as a number (+ unit).

    With METRIC lines, the primary is the one named `primary`, else the first one printed.
    NaN, infinity and anything unparsable are errors (the experiment is a `crash`), and so
    is a name printed twice unless `take` is "last": a second line may come from the code
    under test (an `atexit` handler printing a better number after the benchmark's own).
    Without METRIC lines, so are two lines that hold only a number (and a unit).
    """
    metrics: dict[str, float] = {}
    order: list[str] = []
    for line in stdout.splitlines():
        match = METRIC_LINE.match(line)
        if not match:
            continue
        name, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            return ParsedMetrics(None, metrics, f"METRIC {name} is not a number: {raw[:40]!r}")
        if not math.isfinite(value):
            return ParsedMetrics(None, metrics, f"METRIC {name} is {raw} (not a finite number)")
        if name not in metrics:
            order.append(name)
        elif take != "last":
            return ParsedMetrics(None, metrics, f"metric printed twice: METRIC {name} was "
                                 f"{metrics[name]:g}, then {value:g} (a run prints each metric "
                                 "once; set `metric.take = \"last\"` if yours repeats it)")
        metrics[name] = value
    if take != "last" and metrics:
        seen: dict[str, int] = {}
        for found in METRIC_ANYWHERE.finditer(stdout):
            seen[found.group(1)] = seen.get(found.group(1), 0) + 1
        for name in order:
            if seen.get(name, 0) > 1:
                return ParsedMetrics(None, metrics, f"metric printed twice: METRIC {name} "
                                     "also appears inside another line (a run prints each "
                                     "metric once, at the start of a line)")
    if metrics:
        if primary and primary in metrics:
            return ParsedMetrics(metrics[primary], metrics)
        if primary and primary != "metric":
            return ParsedMetrics(None, metrics, f"no METRIC line named {primary!r} (found: "
                                 f"{', '.join(order)})")
        return ParsedMetrics(metrics[order[0]], metrics)
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return ParsedMetrics(None, {}, "printed no number (stdout was empty)")
    last = lines[-1].strip()
    match = NUMBER_LINE.match(last)
    if not match:
        lowered = last.lower().split()[0] if last.split() else ""
        if lowered.lstrip("+-") in ("nan", "inf", "infinity"):
            return ParsedMetrics(None, {}, f"printed {last[:40]!r}, not a finite number")
        return ParsedMetrics(None, {}, f"the last line is not a number: {last[:80]!r}")
    value = float(match.group(1))
    if not math.isfinite(value):  # '-1e309' is a valid float literal: -inf
        return ParsedMetrics(None, {}, f"printed {last[:40]!r}, not a finite number")
    numbers = [line.strip() for line in lines if BARE_NUMBER.match(line)]
    if take != "last" and len(numbers) > 1:
        # The bare-number twin of "metric printed twice": the code under test printing a
        # better number from an atexit handler, after the benchmark's own, is read instead.
        return ParsedMetrics(None, {}, f"printed a number twice: {numbers[-2][:40]!r}, then "
                             f"{numbers[-1][:40]!r} (a benchmark without METRIC lines prints "
                             "one line holding only a number; print `METRIC name=value` "
                             "lines, or set `metric.take = \"last\"` if yours prints "
                             "running values)")
    name = primary or "metric"
    return ParsedMetrics(value, {name: value}, None, (match.group(2) or "").strip() or None)
