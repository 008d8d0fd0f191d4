"""`history`: list a session's experiments, import other tools' logs, export results.tsv.

Two foreign formats are read:

- pi-autoresearch's JSONL log (`.auto/log.jsonl`, or the older `autoresearch.jsonl`):
  `{"type": "config", ...}` lines start segments (metricName, metricUnit, bestDirection,
  name); run lines carry run, commit, metric, metrics, status, description, timestamp (ms),
  confidence, asi, segment, iterationTokens. Other record types (hooks, ...) are skipped,
  malformed lines are skipped with a warning.
- karpathy-style `results.tsv`: `commit <metric> [more numeric columns] status description`.
  The second column is the primary metric, the other numeric columns are secondary metrics.

An import becomes a read-only session `import-<name>` in the repository's state folder, so
the TUI's history and `report` show it like any other session. Its log starts with a
`session_start` record carrying `imported_from` and `read_only: true`; each later segment of a
pi log (a new config line) is a `baseline_reset` record carrying that segment's metric name,
unit and direction, and its first run is the segment's baseline. Readers walk the records in
order, so each experiment is read with the metric definition in force when it ran, and
metrics are never compared across segments that measure different things.

Reading our own session logs (segments, loading) is `app.session_data`'s, which `report` and
`finalize` use without this importer.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.command_options import HistoryOptions
from app.engine.history import LogWriter, parse_record, read_log, repair_log
from app.engine.records import (
    Experiment,
    Status,
    Tokens,
    count_experiments,
    format_change,
    guess_direction,
    plural,
    relative_change,
)
from app.errors import UsageError
from app.files import write_text_atomic
from app.session_data import (
    Segment,
    SessionData,
    format_value,
    load_session,
    locate_session,
)

TAG_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

# -- reading foreign logs ------------------------------------------------------------------


@dataclass
class ImportedLog:
    """A foreign log turned into our records, before it is stored as a session."""

    source: Path
    format: str
    """"pi-autoresearch" or "results.tsv"."""
    name: str
    """The session name suggested by the file or folder (already in the tag alphabet)."""
    segments: list[Segment]
    warnings: list[str] = field(default_factory=list)

    @property
    def experiments(self) -> list[Experiment]:
        return [e for s in self.segments for e in s.experiments]


KNOWN_STATUSES = {"keep": Status.KEEP, "discard": Status.DISCARD, "crash": Status.CRASH,
                  "checks_failed": Status.CHECKS_FAILED}


def _map_status(raw: Any) -> tuple[Status, str]:
    text = str(raw or "").strip().lower()
    if text in KNOWN_STATUSES:
        return KNOWN_STATUSES[text], ""
    return Status.DISCARD, (f"imported status {text!r} is not keep, discard, crash or "
                            "checks_failed; recorded as discard")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def resolve_import_path(path: Path) -> Path:
    """A file as given, or the log inside a project folder."""
    if not path.exists():
        raise UsageError(f"{path} does not exist; pass a pi-autoresearch log "
                         "(.auto/log.jsonl or autoresearch.jsonl) or a results.tsv.")
    if path.is_dir():
        for candidate in (".auto/log.jsonl", "autoresearch.jsonl", "results.tsv"):
            if (path / candidate).is_file():
                return path / candidate
        raise UsageError(f"{path} is a folder without .auto/log.jsonl, autoresearch.jsonl or "
                         "results.tsv; pass the log file itself.")
    return path


def import_name(path: Path) -> str:
    """The session name for an imported file: its stem, or its project folder's name when the
    stem is the tool's generic one (`.auto/log.jsonl`, `autoresearch.jsonl`, `results.tsv`)."""
    resolved = path.resolve()
    stem = resolved.stem
    if stem.lower() in ("log", "autoresearch", "results"):
        folder = resolved.parent
        if folder.name == ".auto":
            folder = folder.parent
        stem = folder.name or stem
    name = TAG_CHARS.sub("-", stem).strip(".-")
    name = re.sub(r"-{2,}", "-", name).replace("..", ".")
    return name[:60] or "log"


def read_foreign_log(path: Path) -> ImportedLog:
    """Read a pi-autoresearch log or a results.tsv, told apart by their content."""
    path = resolve_import_path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}); check its permissions.") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return _read_pi_log(path, text)
    header = [c.strip().lower() for c in first.split("\t")]
    if len(header) >= 3 and header[0] == "commit" and "status" in header:
        return _read_results_tsv(path, text)
    raise UsageError(f"{path} is neither a pi-autoresearch JSONL log nor a results.tsv (tab "
                     "separated, header `commit <metric> ... status description`); pass one "
                     "of those.")


def _read_pi_log(path: Path, text: str) -> ImportedLog:
    log = ImportedLog(source=path, format="pi-autoresearch", name=import_name(path),
                      segments=[])
    config: dict[str, Any] | None = None
    segment: Segment | None = None
    segment_key: Any = None
    champion: float | None = None
    n = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = parse_record(line)
        if record is None:
            log.warnings.append(f"{path.name}: line {number} is not a JSON object; skipped")
            continue
        kind = record.get("type")
        if kind == "config":
            config = record
            segment = None  # the next run starts a new segment
            continue
        if kind not in (None, "run") or "run" not in record and "metric" not in record:
            continue  # hook lines and other record types
        # Older logs have no config line before the first run, or a run without `segment`.
        # A run without `segment` (older logs) belongs to the segment in force.
        key = record.get("segment")
        if segment is not None and key is not None and segment_key is None:
            segment_key = key
        if segment is None or (key is not None and key != segment_key):
            cfg = config or {}
            unit = str(cfg.get("metricUnit") or "")
            segment = Segment(first_n=n, metric_name=str(cfg.get("metricName") or "metric"),
                              unit=unit, direction="higher" if str(cfg.get("bestDirection"))
                              .lower() == "higher" else "lower", name=str(cfg.get("name") or ""))
            log.segments.append(segment)
            segment_key, champion = key, None
        try:
            experiment = _pi_experiment(record, n, segment, champion)
        except (TypeError, ValueError) as exc:
            log.warnings.append(f"{path.name}: line {number}: unreadable run ({exc}); skipped")
            continue
        if experiment.status in (Status.BASELINE, Status.KEEP) and experiment.metric is not None:
            champion = experiment.metric
        segment.experiments.append(experiment)
        n += 1
    if not log.segments:
        raise UsageError(f"{path} holds no runs; pass a pi-autoresearch log with run lines.")
    return log


def _pi_experiment(record: dict[str, Any], n: int, segment: Segment,
                   champion: float | None) -> Experiment:
    status, reason = _map_status(record.get("status"))
    metric = _number(record.get("metric"))
    metrics: dict[str, float] = {}
    raw_metrics = record.get("metrics")
    if isinstance(raw_metrics, dict):
        metrics = {str(k): v for k, v in ((k, _number(v)) for k, v in raw_metrics.items())
                   if v is not None}
    if status is Status.CRASH:
        metric, metrics = None, {}  # pi logs a crash as metric 0: no measurement at all
    elif metric is not None:
        metrics = {segment.metric_name: metric, **metrics}
    if not segment.experiments and status is Status.KEEP and metric is not None:
        status, reason = Status.BASELINE, "first run of the segment (pi-autoresearch's baseline)"
    asi = record.get("asi")
    if not isinstance(asi, dict):
        asi = {}
    hypothesis = str(asi.get("hypothesis") or "")
    if not reason and status is not Status.KEEP:
        reason = str(asi.get("rollback_reason") or asi.get("result") or "")
    learned = "; ".join(f"{k}: {_flat(v)}" for k, v in asi.items()
                        if k not in ("hypothesis", "rollback_reason") and v not in (None, ""))
    timestamp = _number(record.get("timestamp"))
    tokens = int(_number(record.get("iterationTokens")) or 0)
    run = record.get("run")
    return Experiment(
        n=n, status=status, reason=reason, metric=metric, metrics=metrics,
        confidence=_number(record.get("confidence")),
        commit=str(record["commit"]) if record.get("commit") else None,
        description=str(record.get("description") or ""), hypothesis=hypothesis,
        learned=learned,
        # pi logs milliseconds since the epoch.
        timestamp=timestamp / 1000 if timestamp and timestamp > 1e11 else (timestamp or 0.0),
        # pi logs one token total per iteration; stored as input so totals add up.
        tokens=Tokens(input=tokens),
        champion_metric=champion if status is not Status.BASELINE else None,
        source=f"pi-autoresearch run {run}" if run is not None else "pi-autoresearch")


def _flat(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _read_results_tsv(path: Path, text: str) -> ImportedLog:
    lines = [line.rstrip("\r") for line in text.splitlines()]
    header = [c.strip() for c in lines[0].split("\t")]
    lower = [c.lower() for c in header]
    status_at = lower.index("status")
    description_at = lower.index("description") if "description" in lower else None
    metric_name = header[1]
    value_columns = [i for i in range(1, len(header)) if i not in (status_at, description_at)]
    direction = guess_direction(metric_name)
    segment = Segment(first_n=0, metric_name=metric_name, unit="", direction=direction,
                      name=path.stem)
    log = ImportedLog(source=path, format="results.tsv", name=import_name(path),
                      segments=[segment])
    champion: float | None = None
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < len(header) - (1 if description_at is not None else 0):
            log.warnings.append(f"{path.name}: line {number} has {len(cells)} columns, the "
                                f"header {len(header)}; skipped")
            continue
        if description_at is not None and len(cells) > len(header):
            # A tab inside the description: the extra cells belong to it.
            cells = cells[:description_at] + ["\t".join(cells[description_at:])]
        status, reason = _map_status(cells[status_at])
        metrics: dict[str, float] = {}
        bad = False
        for i in value_columns:
            cell = cells[i].strip() if i < len(cells) else ""
            if cell in ("", "-", "nan", "NaN", "None"):
                continue
            value = _number(cell)
            if value is None:
                bad = True
                break
            metrics[header[i]] = value
        if bad:
            log.warnings.append(f"{path.name}: line {number} has a non-numeric value in a "
                                "metric column; skipped")
            continue
        metric = metrics.get(metric_name)
        if status is Status.CRASH:
            metric, metrics = None, {}  # karpathy's convention: 0.000000 for crashes
        n = len(segment.experiments)
        if n == 0 and status is Status.KEEP and metric is not None:
            status, reason = Status.BASELINE, "first row (the baseline)"
        description = cells[description_at].strip() if description_at is not None else ""
        commit = cells[0].strip()
        segment.experiments.append(Experiment(
            n=n, status=status, reason=reason, metric=metric, metrics=metrics,
            commit=commit if commit and commit != "-" else None, description=description,
            champion_metric=champion if status is not Status.BASELINE else None,
            timestamp=0.0, source="results.tsv"))
        if status in (Status.BASELINE, Status.KEEP) and metric is not None:
            champion = metric
    if not segment.experiments:
        raise UsageError(f"{path} holds no result rows; pass a results.tsv with at least one "
                         "row under its header.")
    return log


# -- storing an import as a read-only session ----------------------------------------------


def store_import(common_dir: Path, imported: ImportedLog) -> Path:
    """Write the import as session `import-<name>`; returns its state folder.

    An existing import of that name is replaced; a real session never is. The folder is
    written beside its final place and renamed into it, so a failure leaves nothing half-made.
    """
    tag = f"import-{imported.name}"
    sessions = common_dir / "autoresearch" / "sessions"
    target = sessions / tag
    if (target / "log.jsonl").exists() or target.exists():
        start = next(iter(read_log(target / "log.jsonl").of_type("session_start")), {})
        if not (start.get("read_only") and start.get("imported_from")):
            raise UsageError(f"a session named {tag!r} already exists and is not an import; "
                             "rename the file you import (the session is named after it).")
    sessions.mkdir(parents=True, exist_ok=True)
    # '+' is outside the tag alphabet, so no session listing ever mistakes these for sessions.
    staging = Path(tempfile.mkdtemp(prefix=f"{tag}+staging-", dir=sessions))
    try:
        writer = LogWriter(staging / "log.jsonl")
        first = imported.segments[0]
        writer.append({"type": "session_start", "tag": tag, "metric_name": first.metric_name,
                       "unit": first.unit, "direction": first.direction, "name": first.name,
                       "branch": None, "base_commit": None,
                       "imported_from": str(imported.source.resolve()),
                       "source_format": imported.format, "read_only": True,
                       "timestamp": _first_timestamp(imported)})
        for index, segment in enumerate(imported.segments):
            if index:
                writer.append({"type": "baseline_reset", "n": segment.first_n,
                               "metric_name": segment.metric_name, "unit": segment.unit,
                               "direction": segment.direction, "name": segment.name,
                               "reason": "a new config line in the imported log",
                               "timestamp": _first_timestamp(imported, segment)})
            for experiment in segment.experiments:
                writer.append_experiment(experiment)
        writer.close()
        if target.exists():
            old = target.with_name(f"{tag}+old-{os.getpid()}")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _first_timestamp(imported: ImportedLog, segment: Segment | None = None) -> float:
    experiments = segment.experiments if segment else imported.experiments
    return next((e.timestamp for e in experiments if e.timestamp), 0.0)


# -- the table -------------------------------------------------------------------------------


def history_lines(data: SessionData, width: int) -> list[str]:
    """The compact table: n, status, metric, delta vs champion, description; then a summary."""
    lines: list[str] = []
    numbers = [format_value(e.metric) for e in data.experiments]
    metric_width = max([len(s) for s in numbers] + [6])
    n_width = max([len(str(e.n)) for e in data.experiments] + [1])
    header = (f"{'n':>{n_width}}  {'status':<13} {'metric':>{metric_width}} {'delta':>7}"
              "  description")
    lines.append(header)
    many = len(data.segments) > 1
    for index, segment in enumerate(data.segments):
        if many:
            unit = f" ({segment.unit})" if segment.unit else ""
            lines.append(f"-- segment {index + 1}: {segment.metric_name}{unit}, "
                         f"{segment.direction} is better --")
        for e in segment.experiments:
            delta = e.delta()
            row = (f"{e.n:>{n_width}}  {str(e.status):<13} {format_value(e.metric):>{metric_width}}"
                   f" {'' if delta is None else format_change(delta):>7}  ")
            text = " ".join((e.description or e.reason).split())
            room = max(width - len(row), 10)
            if len(text) > room:
                text = text[:room - 1] + "…"
            lines.append(row + text)
    lines.append(summary_line(data))
    return lines


def summary_line(data: SessionData) -> str:
    counts: dict[str, int] = {}
    for e in data.experiments:
        counts[str(e.status)] = counts.get(str(e.status), 0) + 1
    order = [str(s) for s in Status if s is not Status.BASELINE]
    parts = ", ".join(f"{counts[s]} {s}" for s in order if s in counts)
    tried = count_experiments(data.experiments)
    line = (f"{plural(tried, 'experiment')} after the baseline" + (f" ({parts})" if parts
            else "")) if data.experiments else "no experiments yet"
    if data.segments:
        segment = data.segments[-1]
        base, best = segment.baseline, segment.best
        unit = f" {segment.unit}" if segment.unit else ""
        if base is not None and best is not None:
            gain = segment.improvement(best)
            change = relative_change(base.metric, best.metric)
            line += (f"; {segment.metric_name}: baseline {format_value(base.metric)}{unit} -> "
                     f"best {format_value(best.metric)}{unit} (#{best.n}"
                     + (f", {format_change(change)}" if gain is not None and change is not None
                        else "") + ")")
    return line


# -- export ----------------------------------------------------------------------------------


def export_status(status: Status) -> str:
    """karpathy's three statuses; a duplicate was not kept, like every other outcome."""
    if status in (Status.KEEP, Status.BASELINE):
        return "keep"
    if status in (Status.CRASH, Status.TIMEOUT, Status.AGENT_ERROR):
        return "crash"
    return "discard"


def _tsv_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def write_results_tsv(path: Path, data: SessionData) -> int:
    """Write karpathy's results.tsv; returns the number of rows. Atomic (temp file, rename).

    The metric column is named after the final segment's metric; earlier segments that measured
    something else show their primary metric in a column of its own name.
    """
    primary = data.segments[-1].metric_name if data.segments else "metric"
    segment_of = {e.n: s for s in data.segments for e in s.experiments}
    secondary: list[str] = []
    for e in data.experiments:
        names = list(e.metrics)
        own = segment_of[e.n].metric_name if e.n in segment_of else primary
        if e.metric is not None and own not in names:
            names.insert(0, own)
        for name in names:
            if name != primary and name not in secondary:
                secondary.append(name)
    rows = ["\t".join(["commit", _clean(primary), *map(_clean, secondary), "status",
                       "description"])]
    for e in data.experiments:
        own = segment_of[e.n].metric_name if e.n in segment_of else primary
        values = dict(e.metrics)
        if e.metric is not None:
            values[own] = e.metric
        status = export_status(e.status)
        main = values.get(primary)
        main_text = _tsv_number(main) if main is not None else ("0" if status == "crash" else "")
        description = e.description or e.reason
        if e.status not in (Status.KEEP, Status.BASELINE, Status.DISCARD, Status.CRASH):
            description = f"[{e.status}] {description}"
        rows.append("\t".join([(e.commit or e.candidate or "-")[:7], main_text,
                               *(_tsv_number(values.get(name)) for name in secondary), status,
                               _clean(description)]))
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a folder; pass a file name for --export, such as "
                         "results.tsv.")
    if not path.parent.is_dir():
        raise UsageError(f"the folder {path.parent} does not exist; create it or export "
                         "elsewhere.")
    write_text_atomic(path, "\n".join(rows) + "\n")
    return len(rows) - 1


def _clean(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").split())


# -- the command -----------------------------------------------------------------------------


def _print_lines(lines: list[str]) -> None:
    """Print, and stay quiet when the reader goes away early (`history | head`)."""
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run_history(options: HistoryOptions) -> int:
    """`history [--tag TAG] [--import PATH] [--export FILE] [--repair]`."""
    width = shutil.get_terminal_size((120, 40)).columns
    import_path = options.import_path
    export = options.export
    if import_path:
        imported = read_foreign_log(Path(import_path).expanduser())
        from app.engine.layout import find_repo

        repo = find_repo(Path.cwd())
        state_dir = store_import(repo.common_dir, imported)
        data = load_session(state_dir)
        for warning in imported.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        _print_lines(history_lines(data, width))
        print(f"imported {imported.source} ({imported.format}) as read-only session "
              f"{data.tag!r}; `autoresearch-tui report --tag {data.tag}` writes its report.")
    else:
        _, state_dir = locate_session(options.tag)
        if options.repair:
            moved = repair_log(state_dir / "log.jsonl")
            if moved is None:
                print("the log's hash chain is whole; nothing to repair")
            else:
                print(f"moved {moved[1]} line(s) that autoresearch-tui did not write (from "
                      f"the first break of the hash chain on) to {moved[0]}")
        data = load_session(state_dir)
        for warning in data.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if not export:
            _print_lines(history_lines(data, width))
    if export:
        rows = write_results_tsv(Path(export), data)
        print(f"wrote {rows} rows of session {data.tag!r} to {export}")
    return 0
