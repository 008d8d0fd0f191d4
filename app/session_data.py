"""A session's log read for showing: its experiments split into segments, each measured
with one metric definition. Used by `history`, `report` and `finalize`; knows nothing of the
foreign formats that `app.interop` imports (an import is stored as an ordinary session log).

A `baseline_reset` record starts a new segment, and so does a later `session_start` whose
metric name differs: metrics are never compared across segments that measure different things.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.history import read_log
from app.engine.records import Experiment, Status, best_experiment, improvement
from app.errors import UsageError

# -- segments: runs of experiments measured with one metric definition ---------------------


@dataclass
class Segment:
    """A stretch of experiments measured with one metric definition and one baseline."""

    first_n: int
    metric_name: str
    unit: str
    direction: str
    name: str = ""
    experiments: list[Experiment] = field(default_factory=list)

    @property
    def baseline(self) -> Experiment | None:
        return next((e for e in self.experiments if e.status is Status.BASELINE
                     and e.metric is not None), None)

    @property
    def champion(self) -> Experiment | None:
        """The final champion: the last kept experiment (else the baseline).

        In our own sessions every keep beat the champion before it, so this is also the best;
        imported logs may hold keeps that measured worse (confirmation or clean-up runs).
        """
        for e in reversed(self.experiments):
            if e.status is Status.KEEP and e.metric is not None:
                return e
        return self.baseline

    @property
    def best(self) -> Experiment | None:
        """The best measured result among the baseline and the keeps."""
        return best_experiment(self.experiments, self.direction)

    def improvement(self, to: Experiment | None = None) -> float | None:
        base, target = self.baseline, to or self.best
        if base is None or target is None or base.metric is None or target.metric is None:
            return None
        return improvement(base.metric, target.metric, self.direction)


@dataclass
class SessionData:
    """A session as history and report need it: its experiments split into segments."""

    tag: str
    state_dir: Path
    session_start: dict[str, Any]
    experiments: list[Experiment]
    segments: list[Segment]
    records: list[dict[str, Any]] = field(default_factory=list)
    """All of the log's records, in order (segment markers, session starts and ends)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def read_only(self) -> bool:
        return bool(self.session_start.get("read_only"))


def split_segments(records: Iterable[Mapping[str, Any]], experiments: Sequence[Experiment],
                   session_start: dict[str, Any]) -> list[Segment]:
    """Assign experiments to segments by walking the log's records in order.

    A `baseline_reset` record starts a new segment (at its `n`, else at the next experiment);
    so does a later `session_start` whose metric name differs. Each may carry `metric_name`,
    `unit`, `direction` and `name`; what it leaves out is inherited from the segment before.
    """
    current = {"metric_name": str(session_start.get("metric_name") or "metric"),
               "unit": str(session_start.get("unit") or ""),
               "direction": str(session_start.get("direction") or "lower"),
               "name": str(session_start.get("name") or "")}
    # (first n, definition); the first segment starts wherever the experiments do.
    starts: list[tuple[int | None, dict[str, str]]] = [(None, dict(current))]
    pending: dict[str, str] | None = None
    pending_n: int | None = None
    seen_first_start = False
    for record in records:
        kind = record.get("type")
        if kind == "session_start":
            if not seen_first_start:
                seen_first_start = True
                continue
            if record.get("metric_name") and record["metric_name"] != current["metric_name"]:
                pending, pending_n = _inherit(current, record), None
        elif kind == "baseline_reset":
            pending = _inherit(current, record)
            pending_n = record.get("n") if isinstance(record.get("n"), int) else None
        elif kind == "experiment" and pending is not None:
            n = record.get("n")
            start = pending_n if pending_n is not None else (n if isinstance(n, int) else None)
            if start is not None:
                starts.append((start, pending))
                current = pending
            pending, pending_n = None, None
    if pending is not None and pending_n is not None:
        starts.append((pending_n, pending))
    segments: list[Segment] = []
    for first_n, spec in starts:
        if segments and first_n is not None and segments[-1].first_n >= first_n:
            segments.pop()  # two resets before any experiment between them: the later wins
        first = first_n if first_n is not None else (experiments[0].n if experiments else 0)
        segments.append(Segment(first, spec["metric_name"], spec["unit"], spec["direction"],
                                spec["name"]))
    index = 0
    for e in experiments:
        while index + 1 < len(segments) and e.n >= segments[index + 1].first_n:
            index += 1
        segments[index].experiments.append(e)
    return [s for s in segments if s.experiments] or segments[:1]


def _inherit(current: dict[str, str], record: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(record[key]) if record.get(key) is not None else current[key]
            for key in ("metric_name", "unit", "direction", "name")}


def comparable_tail(segments: Sequence[Segment]) -> list[Segment]:
    """The last segments that measure the same metric as the final one (oldest first)."""
    if not segments:
        return []
    name = segments[-1].metric_name
    out: list[Segment] = []
    for segment in reversed(segments):
        if segment.metric_name != name:
            break
        out.append(segment)
    return out[::-1]


# -- finding and loading sessions --------------------------------------------------------


def locate_session(tag: str | None, cwd: Path | None = None) -> tuple[Path, Path]:
    """(common git dir, state folder) of the session `tag`, or of the newest one."""
    from app.engine.layout import find_repo, list_sessions
    from app.tags import validate_tag

    repo = find_repo(cwd or Path.cwd())
    if tag:
        validate_tag(tag)
        state = repo.sessions_dir / tag
        if not (state / "log.jsonl").is_file():
            known = ", ".join(s.tag for s in list_sessions(repo)[:8]) or "none yet"
            raise UsageError(f"there is no session {tag!r} in this repository (sessions: "
                             f"{known}); pass one of those with --tag.")
        return repo.common_dir, state
    sessions = list_sessions(repo)
    if not sessions:
        raise UsageError("this repository has no autoresearch sessions yet; start one with "
                         "`autoresearch-tui` (or `run --headless`), or import a log with "
                         "`history --import PATH`.")
    return repo.common_dir, sessions[0].state_dir


def load_session(state_dir: Path) -> SessionData:
    """A session's log, read for showing; UsageError when its hash chain is broken (a record
    that autoresearch-tui did not write must not be shown or finalized as if it had)."""
    contents = read_log(state_dir / "log.jsonl")
    if contents.broken is not None:
        raise UsageError(contents.broken_message(state_dir / "log.jsonl"))
    starts = contents.of_type("session_start")
    session_start = dict(starts[0]) if starts else {}
    # A later launch may have changed the unit or the direction of the same metric.
    for later in starts[1:]:
        if later.get("metric_name") == session_start.get("metric_name"):
            session_start.update({k: v for k, v in later.items() if k in ("unit", "direction",
                                                                          "goal")})
    segments = split_segments(contents.records, contents.experiments, session_start)
    return SessionData(tag=str(session_start.get("tag") or state_dir.name), state_dir=state_dir,
                       session_start=session_start, experiments=contents.experiments,
                       segments=segments, records=contents.records,
                       warnings=contents.warnings)


# -- showing numbers ------------------------------------------------------------------------


def format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
