"""Fault points: named places where a test can have the process killed (SIGKILL).

`AUTORESEARCH_FAULTS="keep:1,measure:3"` kills the process the 1st time it reaches
`fault_point("keep")`, or the 3rd time it reaches "measure". Unset (always, outside the
fault-injection tests), a fault point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}
_plan: dict[str, int] | None = None

POINTS = ("propose", "proposed", "snapshot", "measure", "checks", "holdout", "keep",
          "keep-logged", "discard", "discard-logged", "log-write", "baseline", "remeasure",
          "setup")


def _load() -> dict[str, int]:
    plan: dict[str, int] = {}
    for item in os.environ.get("AUTORESEARCH_FAULTS", "").split(","):
        name, _, count = item.strip().partition(":")
        if name:
            plan[name] = int(count or 1)
    return plan


def fault_point(name: str) -> None:
    global _plan
    if _plan is None:
        _plan = _load()
    if not _plan or name not in _plan:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == _plan[name]:
        os.kill(os.getpid(), signal.SIGKILL)


def torn_write_point(fd: int, payload: bytes) -> None:
    """The "log-write" point: on its planned hit, write half a record, then die."""
    global _plan
    if _plan is None:
        _plan = _load()
    if "log-write" not in _plan:
        return
    _counts["log-write"] = _counts.get("log-write", 0) + 1
    if _counts["log-write"] == _plan["log-write"]:
        os.write(fd, payload[: len(payload) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
