"""The session log: append-only JSONL, one record a line, fsynced per record.

Every record has `type` and `timestamp`. Types: `session_start` (one per launch),
`experiment`, `drift`, `baseline_reset`, `session_end`, `import` (an imported session's
origin). A truncated or garbled line (power loss) is skipped with a warning, never fatal.
The log is read once at start and then only appended to.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from app.engine.records import Experiment


@dataclass
class LogContents:
    records: list[dict[str, Any]] = field(default_factory=list)
    experiments: list[Experiment] = field(default_factory=list)
    """The latest record of each experiment number, in number order."""
    warnings: list[str] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == kind]

    @property
    def segment_start(self) -> int:
        """Index into `experiments` where the current baseline segment starts."""
        resets = [r for r in self.records if r.get("type") == "baseline_reset"]
        if not resets:
            return 0
        first_n = resets[-1].get("n", 0)
        if not isinstance(first_n, int):
            first_n = 0
        for i, e in enumerate(self.experiments):
            if e.n >= first_n:
                return i
        return len(self.experiments)


def iter_log_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw.decode("utf-8", errors="replace")


def parse_record(line: str) -> dict[str, Any] | None:
    """One JSONL line as a record (a JSON object), or None for a torn or foreign line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def first_record(path: Path) -> dict[str, Any]:
    """The first record of a log (the session_start), reading only its first line."""
    try:
        with path.open("rb") as handle:
            line = handle.readline()
    except OSError:
        return {}
    return parse_record(line.decode("utf-8", errors="replace")) or {}


def read_log(path: Path) -> LogContents:
    """Read a log; a missing file is an empty log."""
    contents = LogContents()
    if not path.exists():
        return contents
    by_n: dict[int, Experiment] = {}
    for number, line in iter_log_lines(path):
        if not line.strip():
            continue
        record = parse_record(line)
        if record is None:
            contents.warnings.append(
                f"{path}: line {number} is not a complete JSON record (an interrupted write?); "
                "skipped")
            continue
        contents.records.append(record)
        if record.get("type") == "experiment":
            try:
                if not isinstance(record.get("n"), int):
                    raise ValueError("its number n is missing")
                experiment = Experiment.from_json(record)
            except (TypeError, ValueError) as exc:
                contents.warnings.append(f"{path}: line {number}: bad experiment ({exc}); "
                                         "skipped")
                continue
            if experiment.n in by_n and by_n[experiment.n].note:
                experiment.note = by_n[experiment.n].note
            by_n[experiment.n] = experiment
        elif record.get("type") == "note" and isinstance(record.get("n"), int):
            noted = by_n.get(record["n"])
            if noted is not None:
                noted.note = "\n".join(filter(None, (noted.note, str(record.get("text", "")))))
    contents.experiments = [by_n[n] for n in sorted(by_n)]
    return contents


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such numbers are stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class LogWriter:
    """Appends records; each is one write of one line, flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._lock = threading.Lock()
        """The UI thread appends a few records (review mode, notes) while the loop runs."""
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair_tail(self) -> None:
        """After a power loss the last line may lack its newline; end it so the next record
        starts on a line of its own (the partial line is then skipped on read)."""
        try:
            with self.path.open("rb+") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() == 0:
                    return
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
        except FileNotFoundError:
            pass

    def append(self, record: dict[str, Any]) -> None:
        record.setdefault("timestamp", time.time())
        data = json.dumps(_finite(record), ensure_ascii=False, allow_nan=False,
                          default=str) + "\n"
        payload = data.encode("utf-8")
        if os.environ.get("AUTORESEARCH_FAULTS"):
            from app.engine.faults import torn_write_point

            torn_write_point(self._fd, payload)
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path} is closed")
            written = 0
            while written < len(payload):
                written += os.write(self._fd, payload[written:])
            os.fsync(self._fd)

    def append_experiment(self, experiment: Experiment) -> None:
        self.append(experiment.to_json())

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
