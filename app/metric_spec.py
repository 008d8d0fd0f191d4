"""What a `[metric]` section may say that the engine also needs: time units, the formats
that report times, JSON paths. Shared by the config (validating) and the engine (reading
results, the outside clock), so the config does not import the engine (like `tags.py`)."""

from __future__ import annotations

import re
from typing import Any

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
"""Seconds per unit, as benchmarking tools name their units."""
TIME_FORMATS = ("pytest-benchmark", "hyperfine", "google-benchmark", "criterion")
"""Formats whose numbers are always times (pyperf may hold bytes or counts too)."""
FIXED_TIME_FORMATS = ("pytest-benchmark", "hyperfine", "google-benchmark", "criterion",
                      "pyperf")
"""`[metric] format`s of tools that repeat the code for a time budget (or a count they
choose), so the process's time does not follow the code's: off unless switched on."""
SECONDS_PER_UNIT = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
                    "ms": 1e-3, "msec": 1e-3, "us": 1e-6, "µs": 1e-6, "usec": 1e-6,
                    "ns": 1e-9, "nsec": 1e-9}
"""Seconds per unit, as users write `[metric] unit`."""

_FIRST_KEY = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")
_NEXT_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(-?\d+)\]")


def parse_json_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ["a", "b", 0, "c"]; ValueError when it is not such a path."""
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = (_FIRST_KEY if pos == 0 else _NEXT_TOKEN).match(path, pos)
        if not match:
            raise ValueError(f"cannot read it at character {pos + 1}")
        key, index = match.groups()
        tokens.append(int(index) if index is not None else key)
        pos = match.end()
    if not tokens:
        raise ValueError("it is empty")
    return tokens


def format_problem(fmt: str, path: str | None, unit: str) -> str:
    """What is wrong with this combination of keys ('' when nothing), as `key problem`."""
    if fmt == "json":
        if not path:
            return "metric.path is missing; with format \"json\" set it to where the number " \
                   "is, such as path = \"results.time\""
        try:
            parse_json_path(path)
        except ValueError as exc:
            return f"metric.path {path!r} is not a path like \"a.b[0].c\" ({exc})"
    elif path is not None:
        return f"metric.path is only read with format \"json\" (format is {fmt!r}); remove it"
    if fmt in TIME_FORMATS and unit and unit not in TIME_UNITS:
        return (f"metric.unit is {unit!r}, but {fmt} reports times; use one of "
                f"{', '.join(u for u in TIME_UNITS if u.isascii())}, or leave it out for seconds")
    return ""


def seconds_per_unit(unit: str) -> float | None:
    return SECONDS_PER_UNIT.get(unit.strip().lower()) if unit else None


def metric_seconds_per_unit(metric: Any) -> float | None:
    """Seconds per unit of the metric (a MetricConfig; None: not a time). A tool's format
    without a unit reports seconds."""
    if metric.kind == "other":
        return None
    scale = seconds_per_unit(metric.unit)
    if scale is None and not metric.unit and getattr(metric, "format", "lines") in \
            FIXED_TIME_FORMATS:
        return 1.0
    return scale
