"""Read the result files that benchmarking tools already write.

`[metric] format` names the layout: `lines` (METRIC lines or a number on the last line, see
`measure.parse_metrics`), `pytest-benchmark`, `hyperfine`, `google-benchmark`, `criterion`
(cargo-criterion's `--message-format=json` lines, or criterion's own `estimates.json` or
`sample.json`), `pyperf`, or `json` with `path = "a.b[0].c"`. When the command holds
`{output}`, each run gets a fresh path there (in a new private folder) and the harness
reads that file afterwards; otherwise the format is read from stdout.

`name` picks the benchmark in the file: an exact name first, else a glob; the default name
`metric` matches every benchmark. Several matches are an error unless `aggregate` says how to
combine them. `stat` picks the statistic over a tool's own samples (`median`, `mean`, `min`),
and times are converted to the configured `unit` (seconds when none is set).

Tools that time many samples inside one process report them here as `samples`; the keep
rule ranks one value per process run (the chosen statistic), because samples from one
process share that process's luck and are not independent runs. The samples go to it as
within-process samples, which only floor the confidence's noise scale
(`decide.within_floor`, docs/decisions.md "Samples inside one run").
"""

from __future__ import annotations

import fnmatch
import json
import math
import shlex
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.measure import ParsedMetrics, parse_metrics
from app.engine.output_watch import OutputWatch
from app.metric_spec import TIME_UNITS, parse_json_path

OUTPUT = "{output}"
FORMATS = ("lines", "pytest-benchmark", "hyperfine", "google-benchmark", "criterion", "pyperf",
           "json")
STATS = ("median", "mean", "min")
AGGREGATES = ("sum", "mean")
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_SECONDARY = 20
"""A file with more benchmarks than this reports only the primary metric."""


class FormatError(ValueError):
    """The output does not hold what the configuration asks for (the run is a crash)."""


@dataclass
class Bench:
    """One benchmark found in a tool's output, in seconds (or the tool's own unit)."""

    name: str
    stats: dict[str, float] = field(default_factory=dict)
    """Statistics the tool computed itself, by name (`median`, `mean`, `min`)."""
    samples: list[float] = field(default_factory=list)
    """Per-iteration values measured inside the one process, when the tool lists them."""
    unit: str = "s"
    """`s`, `ms`, `us`, `ns`, or a unit that is not a time (`byte`, `cycles`...)."""
    other_names: tuple[str, ...] = ()
    """Longer names it also answers to (pytest-benchmark's `fullname`)."""

    def stat(self, which: str) -> float:
        if which in self.stats:
            return self.stats[which]
        if self.samples:
            pick: dict[str, Callable[[list[float]], float]] = {
                "median": statistics.median, "mean": statistics.fmean, "min": min}
            return pick[which](self.samples)
        raise FormatError(f"benchmark {self.name!r} reports no {which}; set `stat` to one of "
                          f"{', '.join(sorted(self.stats)) or 'median, mean'}")


@dataclass
class Reading(ParsedMetrics):
    samples: list[float] = field(default_factory=list)
    """The chosen benchmark's within-process samples, in the configured unit."""


@contextmanager
def output_file(command: str, parent: Path | None = None) -> Iterator[tuple[str, Path | None]]:
    """The command with `{output}` replaced by a fresh path, and that path (None without
    `{output}`). The folder is new and private for this run and removed afterwards, so no
    earlier run's file (or one planted by a candidate) can be read as this run's result."""
    if OUTPUT not in command:
        yield command, None
        return
    folder = Path(tempfile.mkdtemp(prefix="autoresearch-out-", dir=parent))
    out = folder / "output.json"
    _WATCHES[out] = OutputWatch.start(folder, out.name)  # written once? (read_run asks)
    try:
        yield command.replace(OUTPUT, shlex.quote(str(out))), out
    finally:
        _WATCHES.pop(out).close()
        shutil.rmtree(folder, ignore_errors=True)


_WATCHES: dict[Path, OutputWatch] = {}
"""The watch of each `{output}` path in use (paths are unique: one folder per run)."""


def read_run(metric: Any, stdout: str, output: Path | None, *, lines_only: bool = False
             ) -> ParsedMetrics:
    """Parse one run's result as `metric` (a MetricConfig) says; errors go in `.error`."""
    fmt = "lines" if lines_only else getattr(metric, "format", "lines")
    name = None if lines_only else metric.name
    if output is not None:
        watch = _WATCHES.get(output)
        problem = watch.problem() if watch is not None else None
        if problem:
            return ParsedMetrics(None, {}, problem)
        try:
            text = _read_file(output)
        except FormatError as exc:
            return ParsedMetrics(None, {}, str(exc))
    else:
        text = stdout
    if fmt == "lines":
        return parse_metrics(text, name, getattr(metric, "take", "once"))
    try:
        return _read_format(fmt, text, metric, from_file=output is not None)
    except FormatError as exc:
        return ParsedMetrics(None, {}, str(exc))


def sniff(text: str) -> str | None:
    """Which tool wrote this output (a format name), or None when it is none of them."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        doc = json.loads(stripped)
    except ValueError:
        first = stripped.splitlines()[0]
        try:
            doc = json.loads(first)
        except ValueError:
            return None
    if not isinstance(doc, dict):
        return None
    if "reason" in doc or ("mean" in doc and "median_abs_dev" in doc) \
            or ("sampling_mode" in doc and "iters" in doc and "times" in doc):
        return "criterion"
    if isinstance(doc.get("results"), list):
        return "hyperfine"
    if "machine_info" in doc and "benchmarks" in doc:
        return "pytest-benchmark"
    if "context" in doc and "benchmarks" in doc:
        return "google-benchmark"
    if isinstance(doc.get("benchmarks"), list) and "version" in doc:
        return "pyperf"
    return None


def _read_file(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FormatError(f"wrote {size:,} bytes to {OUTPUT}, more than the "
                              f"{MAX_FILE_BYTES // 2**20} MB read")
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"wrote no file at {OUTPUT}; make the command write its results "
                          "to the path that replaces {output}") from None
    except OSError as exc:
        raise FormatError(f"the {OUTPUT} file cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise FormatError(f"left the {OUTPUT} file empty")
    return data.decode("utf-8", errors="replace")


def _read_format(fmt: str, text: str, metric: Any, *, from_file: bool) -> Reading:
    stat = getattr(metric, "stat", "median")
    unit = metric.unit or ""
    if fmt == "criterion":
        benches = _criterion(text)
    else:
        doc = _load_json(text, fmt, from_file)
        if fmt == "json":
            value = _number_at(doc, getattr(metric, "path", None) or "")
            return Reading(value, {metric.name: value}, None, unit or None)
        reader = {"pytest-benchmark": _pytest_benchmark, "hyperfine": _hyperfine,
                  "google-benchmark": _google_benchmark, "pyperf": _pyperf}[fmt]
        benches = reader(doc)
    if not benches:
        raise FormatError(f"the {fmt} output lists no benchmark")
    chosen = _select(benches, metric.name, getattr(metric, "aggregate", None), fmt)
    target = unit if unit else ("s" if all(b.unit in TIME_UNITS for b in chosen) else "")
    values = [_convert(b.stat(stat), b, target) for b in chosen]
    combine = getattr(metric, "aggregate", None) or "sum"
    value = sum(values) if combine == "sum" else statistics.fmean(values)
    _finite(value, metric.name)
    metrics: dict[str, float] = {}
    if len(benches) <= MAX_SECONDARY:
        for b in benches:
            try:
                metrics[b.name] = _convert(b.stat(stat), b, target)
            except FormatError:
                continue
            _finite(metrics[b.name], b.name)
    metrics[metric.name] = value
    samples = [_convert(s, chosen[0], target) for s in chosen[0].samples] \
        if len(chosen) == 1 else []
    return Reading(value, metrics, None, target or None, samples)


def _load_json(text: str, fmt: str, from_file: bool) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f"the {OUTPUT} file" if from_file else "stdout"
        hint = "" if from_file else " (put {output} in the command to have the tool write a file)"
        raise FormatError(f"{where} is not {fmt} JSON ({exc}){hint}") from None


def _finite(value: float, name: str) -> None:
    if not math.isfinite(value):
        raise FormatError(f"benchmark {name!r} is {value} (not a finite number)")


def _convert(value: float, bench: Bench, target: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise FormatError(f"benchmark {bench.name!r} has a value that is not a number: "
                          f"{str(value)[:40]!r}")
    if not math.isfinite(value):
        raise FormatError(f"benchmark {bench.name!r} is {value} (not a finite number)")
    source = bench.unit
    if not target or target == source:
        return float(value)
    if source in TIME_UNITS and target in TIME_UNITS:
        return value * TIME_UNITS[source] / TIME_UNITS[target]
    raise FormatError(f"benchmark {bench.name!r} is in {source!r}, which cannot be converted "
                      f"to metric.unit {target!r}; change metric.unit")


def _select(benches: list[Bench], name: str, aggregate: str | None, fmt: str) -> list[Bench]:
    exact = [b for b in benches if name == b.name or name in b.other_names]
    if exact:
        chosen = exact
    elif name == "metric":
        chosen = benches
    else:
        chosen = [b for b in benches if fnmatch.fnmatchcase(b.name, name)
                  or any(fnmatch.fnmatchcase(o, name) for o in b.other_names)]
    names = ", ".join(b.name for b in benches[:8]) + (", ..." if len(benches) > 8 else "")
    if not chosen:
        raise FormatError(f"no benchmark named {name!r} in the {fmt} output (it has: {names}); "
                          "fix metric.name")
    if len(chosen) > 1 and not aggregate:
        picked = ", ".join(b.name for b in chosen[:8]) + (", ..." if len(chosen) > 8 else "")
        raise FormatError(f"metric.name {name!r} matches {len(chosen)} benchmarks ({picked}); "
                          "name one, or set aggregate = \"sum\" to add them up")
    return chosen


def _dicts(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FormatError(f"the output has no {what} list")
    return value


def _pytest_benchmark(doc: Any) -> list[Bench]:
    if not isinstance(doc, dict):
        raise FormatError("the output is not pytest-benchmark JSON (no top-level object)")
    out = []
    for b in _dicts(doc.get("benchmarks"), "`benchmarks`"):
        stats = b.get("stats") or {}
        out.append(Bench(str(b.get("name")), {k: stats[k] for k in STATS if k in stats},
                         list(stats.get("data") or []), "s",
                         (str(b["fullname"]),) if b.get("fullname") else ()))
    return out


def _hyperfine(doc: Any) -> list[Bench]:
    if not isinstance(doc, dict):
        raise FormatError("the output is not hyperfine JSON (no top-level object)")
    return [Bench(str(r.get("command")), {k: r[k] for k in STATS if k in r},
                  list(r.get("times") or []), "s")
            for r in _dicts(doc.get("results"), "`results`")]


def _google_benchmark(doc: Any) -> list[Bench]:
    """Repetitions (`run_type` "iteration") are the samples; with only aggregates reported
    (`--benchmark_report_aggregates_only`) their `mean`/`median` entries are used."""
    if not isinstance(doc, dict):
        raise FormatError("the output is not Google Benchmark JSON (no top-level object)")
    found: dict[str, Bench] = {}
    for entry in _dicts(doc.get("benchmarks"), "`benchmarks`"):
        run = str(entry.get("run_name") or entry.get("name"))
        if entry.get("error_occurred"):
            raise FormatError(f"benchmark {run!r} failed: {entry.get('error_message', '')}"[:200])
        unit = str(entry.get("time_unit") or "ns")
        bench = found.setdefault(run, Bench(run, unit=unit))
        real = entry.get("real_time")
        if real is None:
            continue
        if unit != bench.unit:  # mixed units inside one benchmark: keep the first one's
            real = real * TIME_UNITS.get(unit, 1.0) / TIME_UNITS.get(bench.unit, 1.0)
        if entry.get("run_type", "iteration") == "iteration":
            bench.samples.append(real)
        elif entry.get("aggregate_name") in STATS and entry.get("aggregate_unit",
                                                                  "time") == "time":
            bench.stats[str(entry["aggregate_name"])] = real
    for bench in found.values():
        if bench.samples:  # computed from the repetitions, not the tool's rounding
            bench.stats.clear()
    return list(found.values())


def _criterion(text: str) -> list[Bench]:
    """cargo-criterion's JSON messages (one per line), or criterion's estimates.json or
    sample.json (`target/criterion/<id>/new/`)."""
    stripped = text.strip()
    try:
        doc = json.loads(stripped)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("iters"), list) \
            and isinstance(doc.get("times"), list):
        # criterion's sample.json: each sample's total time over its iteration count.
        samples = [float(t) / float(i) for t, i in zip(doc["times"], doc["iters"])
                   if isinstance(t, (int, float)) and isinstance(i, (int, float)) and i]
        if not samples:
            raise FormatError("the criterion sample.json lists no samples")
        return [Bench("sample", {}, samples, "ns")]
    if isinstance(doc, dict) and "reason" not in doc:
        if not isinstance(doc.get("mean"), dict):
            raise FormatError("the output is not criterion JSON (no `mean` estimate)")
        return [Bench("estimates", {k: doc[k]["point_estimate"] for k in ("mean", "median")
                                    if isinstance(doc.get(k), dict)}, [], "ns")]
    out = []
    for i, line in enumerate(stripped.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue  # cargo's own lines in a mixed stream
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise FormatError(f"line {i + 1} of the criterion output is not JSON ({exc})") \
                from None
        if not isinstance(message, dict) or message.get("reason") != "benchmark-complete":
            continue
        stats = {k: message[k]["estimate"] for k in ("mean", "median")
                 if isinstance(message.get(k), dict) and "estimate" in message[k]}
        values = message.get("measured_values") or []
        counts = message.get("iteration_count") or []
        samples = [v / c for v, c in zip(values, counts) if c]
        unit = str(message.get("unit") or (message.get("typical") or {}).get("unit") or "ns")
        out.append(Bench(str(message.get("id")), stats, samples, unit))
    if not out:
        raise FormatError("the criterion output has no \"benchmark-complete\" message; run "
                          "`cargo criterion --message-format=json`")
    return out


def _pyperf(doc: Any) -> list[Bench]:
    if not isinstance(doc, dict):
        raise FormatError("the output is not pyperf JSON (no top-level object)")
    common = doc.get("metadata") or {}
    out = []
    for b in _dicts(doc.get("benchmarks"), "`benchmarks`"):
        meta = {**common, **(b.get("metadata") or {})}
        values = [v for run in _dicts(b.get("runs"), "`runs`") for v in run.get("values") or []]
        if not values:
            raise FormatError(f"pyperf benchmark {meta.get('name')!r} has no values")
        unit = str(meta.get("unit") or "second")
        out.append(Bench(str(meta.get("name")), {}, values, "s" if unit == "second" else unit))
    return out


def _number_at(doc: Any, path: str) -> float:
    here = doc
    walked = ""
    for token in parse_json_path(path):
        if isinstance(token, int):
            if not isinstance(here, list) or not -len(here) <= token < len(here):
                raise FormatError(f"the JSON has no item [{token}] at {walked or 'the top'}")
            here = here[token]
            walked += f"[{token}]"
        else:
            if not isinstance(here, dict) or token not in here:
                raise FormatError(f"the JSON has no key {token!r} at {walked or 'the top'}")
            here = here[token]
            walked += ("." if walked else "") + token
    if isinstance(here, bool) or not isinstance(here, (int, float)):
        raise FormatError(f"{path} is {json.dumps(here)[:40]}, not a number")
    if not math.isfinite(here):
        raise FormatError(f"{path} is {here} (not a finite number)")
    return float(here)
