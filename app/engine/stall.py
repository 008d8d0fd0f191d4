"""The stall stop: `[session] stop_after_no_gain = N` ends the session normally after N
experiments in a row without a keep (0: never).

What counts: every decided experiment since the last keep or baseline (a new baseline
starts the count again), including vetoes and duplicates (an agent repeating itself is
the clearest stall). Agent errors and interrupted experiments are not ideas tried, so
they neither count nor break the streak: an outage of the API is handled by
`max_consecutive_errors`, not by this.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.engine.records import Experiment, Status

NOT_TRIED = frozenset({Status.AGENT_ERROR, Status.INTERRUPTED})


def experiments_without_gain(experiments: Sequence[Experiment]) -> int:
    """How many experiments were tried since the last keep (or baseline)."""
    count = 0
    for e in reversed(experiments):
        if e.status in (Status.KEEP, Status.BASELINE):
            break
        if e.status not in NOT_TRIED:
            count += 1
    return count


def stall_reason(experiments: Sequence[Experiment], limit: int) -> str:
    """Why the session stops now ('' while it goes on, or when `limit` is 0)."""
    if limit <= 0:
        return ""
    count = experiments_without_gain(experiments)
    if count < limit:
        return ""
    return (f"no gain in the last {count} experiments (stop_after_no_gain = {limit}): the "
            "ideas have run dry; add ideas to the program file or steer with a note, then "
            "launch again")
