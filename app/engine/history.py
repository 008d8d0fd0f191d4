"""The session log: append-only JSONL, one record a line, fsynced per record.

Every record has `type` and `timestamp`. Types: `session_start` (one per launch),
`experiment`, `drift`, `baseline_reset`, `session_end`, `import` (an imported session's
origin). A truncated or garbled line (power loss) is skipped with a warning, never fatal.
The log is read once at start and then only appended to.

Every record goes through `LogWriter.append`, which validates it and chains it: `seq` (one
more than the previous record's) and `prev` (the sha256 of the previous record's line, ""
for the first). A record that anything else appended or altered breaks the chain, and
`read_log` reports the first such line as `LogContents.broken`; a launch then stops (exit
2) and `history --repair` moves the tail from that line aside. Logs of 0.1.0 have no chain:
their records load as they are, and the chain starts at the first chained record.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.records import Experiment


@dataclass
class LogContents:
    records: list[dict[str, Any]] = field(default_factory=list)
    experiments: list[Experiment] = field(default_factory=list)
    """The latest record of each experiment number, in number order."""
    warnings: list[str] = field(default_factory=list)
    broken: tuple[int, str] | None = None
    """(line number, why) of the first record that breaks the hash chain: it and every line
    after it are left out of `records` (see `repair_log`)."""

    def broken_message(self, path: Path) -> str:
        """The one sentence a launch stops with when the log is broken."""
        assert self.broken is not None
        number, why = self.broken
        return (f"{path}: line {number} {why}: something other than autoresearch-tui wrote "
                "the log; run `autoresearch-tui history --repair` to move that line and the "
                "ones after it aside, then launch again.")

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


def iter_raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        yield from enumerate(handle, start=1)


def line_hash(raw: bytes) -> str:
    """The chain's hash of one log line (its bytes without the line end)."""
    return hashlib.sha256(raw.rstrip(b"\r\n")).hexdigest()


PREV_DIFFERS = "does not follow the line before it (its `prev` hash differs)"


def _chain_error(seq: Any, prev: Any, chained: bool, last_seq: int, last_hash: str) -> str:
    if seq is None and prev is None:
        return "has no `seq` and `prev`, unlike the records before it"
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(prev, str):
        return "has a malformed `seq` or `prev`"
    if chained and seq != last_seq + 1:
        return f"has seq {seq} where {last_seq + 1} was due"
    if prev != last_hash:
        return PREV_DIFFERS
    return ""


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
    chained = False
    last_seq = 0
    last_hash = ""
    last_number = 0
    numbers: list[int] = []
    for number, raw in iter_raw_lines(path):
        if not raw.strip():
            continue
        line = raw.decode("utf-8", errors="replace")
        record = parse_record(line)
        if record is None:
            contents.warnings.append(
                f"{path}: line {number} is not a complete JSON record (an interrupted write?); "
                "skipped")
            continue
        seq, prev = record.get("seq"), record.get("prev")
        if seq is not None or prev is not None or chained:
            why = _chain_error(seq, prev, chained, last_seq, last_hash)
            if why == PREV_DIFFERS and contents.records:
                # Either this line was forged with a wrong hash or the line before it was
                # altered; the two cannot be told apart, so neither is trusted.
                contents.records.pop()
                numbers.pop()
                contents.broken = (last_number, f"was altered, or line {number} does not "
                                                "follow it (the hash chain breaks there)")
                break
            if why:
                contents.broken = (number, why)
                break
            chained, last_seq = True, seq  # type: ignore[assignment]
        last_hash = line_hash(raw)
        last_number = number
        contents.records.append(record)
        numbers.append(number)
    for number, record in zip(numbers, contents.records):
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


RECORD_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def validate_record(record: Any) -> None:
    """ValueError unless `record` is one the log may hold: an object with a `type`, and for
    the records that decisions are made from, the fields those decisions read."""
    if not isinstance(record, dict):
        raise ValueError(f"a log record must be an object, not {type(record).__name__}")
    kind = record.get("type")
    if not isinstance(kind, str) or not RECORD_TYPE.match(kind):
        raise ValueError(f"a log record needs a `type` of lower-case letters, not {kind!r}")
    if kind == "experiment":
        if not isinstance(record.get("n"), int) or isinstance(record.get("n"), bool):
            raise ValueError("an experiment record needs its number `n`")
        Experiment.from_json(record)
    if kind == "champion_samples":
        samples = record.get("samples")
        if not isinstance(record.get("n"), int) or not isinstance(samples, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in samples):
            raise ValueError("a champion_samples record needs an experiment number `n` and "
                             "finite `samples`")


def _last_line(path: Path) -> bytes | None:
    """The last complete JSON record line of `path` (read backwards, a block at a time), or
    None for an empty or missing file."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        buffer = b""
        pos = end
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            handle.seek(pos)
            buffer = handle.read(step) + buffer
            lines = buffer.split(b"\n")
            # lines[0] may be cut short unless we reached the start of the file
            complete = lines if pos == 0 else lines[1:]
            for raw in reversed(complete):
                if raw.strip() and parse_record(raw.decode("utf-8", "replace")) is not None:
                    return raw
        return None


class LogWriter:
    """Appends records; each is one write of one line, flushed and fsynced, validated and
    chained to the one before it (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._lock = threading.Lock()
        """The UI thread appends a few records (review mode, notes) while the loop runs."""
        last = _last_line(path)
        self._prev = line_hash(last) if last is not None else ""
        seq = parse_record(last.decode("utf-8", "replace")).get("seq") if last else None  # type: ignore[union-attr]
        self._seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
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
        """The one way into the log: ValueError for a record the log must not hold."""
        validate_record(record)
        record.setdefault("timestamp", time.time())
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path} is closed")
            record["seq"] = self._seq + 1
            record["prev"] = self._prev
            line = json.dumps(_finite(record), ensure_ascii=False, allow_nan=False,
                              default=str).encode("utf-8")
            payload = line + b"\n"
            if os.environ.get("AUTORESEARCH_FAULTS"):
                from app.engine.faults import torn_write_point

                torn_write_point(self._fd, payload)
            written = 0
            while written < len(payload):
                written += os.write(self._fd, payload[written:])
            os.fsync(self._fd)
            self._seq += 1
            self._prev = line_hash(line)

    def append_experiment(self, experiment: Experiment) -> None:
        self.append(experiment.to_json())

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def repair_log(path: Path) -> tuple[Path, int] | None:
    """Move the broken tail of a log (the first line that breaks the chain and every line
    after it) into `log.jsonl.rejected-<time>` beside it; returns (that file, lines moved),
    or None when the chain is whole. The log keeps its good head, so the session goes on."""
    contents = read_log(path)
    if contents.broken is None:
        return None
    number = contents.broken[0]
    with path.open("rb") as handle:
        lines = handle.readlines()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rejected = path.with_name(f"{path.name}.rejected-{stamp}")
    i = 2
    while rejected.exists():
        rejected = path.with_name(f"{path.name}.rejected-{stamp}-{i}")
        i += 1
    rejected.write_bytes(b"".join(lines[number - 1:]))
    tmp = path.with_name(path.name + ".repair-tmp")
    tmp.write_bytes(b"".join(lines[:number - 1]))
    os.replace(tmp, path)
    return rejected, len(lines) - number + 1
