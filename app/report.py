"""`report`: what a session did, as Markdown a reviewer can act on, with a chart beside it.

The report states the goal, baseline -> best and the improvement, the counts per status,
time, cost and tokens; shows the progress chart (SVG, and PNG where `rsvg-convert` exists);
lists the kept changes with their gain over the champion, confidence and p-value, and the
dead ends with their reasons; and closes with how much the final result can be trusted.

`build_report` is the reusable part: `finalize` adds its attribution through
`extra_sections` and `kept_columns` rather than writing a second report.
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.chart_svg import progress_chart
from app.command_options import ReportOptions
from app.engine.history import read_log
from app.engine.records import (
    Experiment,
    Status,
    Tokens,
    best_experiment,
    busy_seconds,
    format_change,
    improvement,
    is_better,
    plural,
)
from app.errors import UsageError
from app.files import write_text_atomic
from app.session_data import (
    Segment,
    comparable_tail,
    format_value,
    load_session,
    locate_session,
    split_segments,
)

DEAD_END_ORDER = (Status.DISCARD, Status.CRASH, Status.TIMEOUT, Status.CHECKS_FAILED,
                  Status.OVERFIT, Status.REJECTED, Status.VETOED, Status.AGENT_ERROR,
                  Status.INTERRUPTED, Status.INFRA_ERROR, Status.DUPLICATE, Status.STALE)
DEAD_END_TITLES = {
    Status.DISCARD: "Discarded: not better than the champion",
    Status.CRASH: "Crashed: the benchmark failed or printed no metric",
    Status.TIMEOUT: "Timed out",
    Status.CHECKS_FAILED: "Checks failed",
    Status.OVERFIT: "Overfit: better on the benchmark, worse on the held-out one",
    Status.REJECTED: "Rejected: changed protected files",
    Status.VETOED: "Vetoed by you",
    Status.AGENT_ERROR: "Agent errors",
    Status.INTERRUPTED: "Interrupted",
    Status.INFRA_ERROR: "Infrastructure errors: a cluster node was lost",
    Status.DUPLICATE: "Duplicates: the same change was already measured on that champion",
    Status.STALE: "Stale: no longer applied after another worker's keep (parallel workers)",
}
MAX_DEAD_ENDS = 50
"""Per status; the rest are counted (the history command lists them all)."""
MAX_GOAL_CHARS = 1200


def chart_paths(out_path: Path) -> tuple[Path, Path]:
    """The chart files beside a report: `report.md` -> `report-progress.svg` / `.png`."""
    stem = out_path.stem or "report"
    return (out_path.with_name(f"{stem}-progress.svg"),
            out_path.with_name(f"{stem}-progress.png"))


def build_report(state_dir: Path, experiments: Sequence[Experiment],
                 session_start: Mapping[str, Any], out_path: Path, *,
                 records: Sequence[Mapping[str, Any]] | None = None,
                 extra_sections: Sequence[tuple[str, str]] = (),
                 kept_columns: Mapping[str, Mapping[int, str]] | None = None,
                 png: bool = True) -> Path:
    """Write the Markdown report to `out_path` and the chart beside it; returns `out_path`.

    `records` are the log's records (for segment boundaries); read from `state_dir` when not
    given. `extra_sections` are (heading, Markdown body) pairs placed after the kept changes;
    `kept_columns` adds columns to the kept-changes table (column name -> n -> cell).
    """
    if records is None:
        records = read_log(Path(state_dir) / "log.jsonl").records
    experiments = sorted(experiments, key=lambda e: e.n)
    segments = split_segments(records, experiments, dict(session_start))
    tail = comparable_tail(segments)
    final = tail[-1] if tail else Segment(0, str(session_start.get("metric_name") or "metric"),
                                          str(session_start.get("unit") or ""),
                                          str(session_start.get("direction") or "lower"))
    shown = [e for s in tail for e in s.experiments]
    svg_path, png_path = chart_paths(out_path)
    chart = progress_chart(shown, metric_name=final.metric_name, unit=final.unit,
                           direction=final.direction,
                           segment_starts=[s.first_n for s in tail[1:]])
    write_text_atomic(svg_path, chart.svg)
    has_png = png and _render_png(svg_path, png_path)

    tag = str(session_start.get("tag") or Path(state_dir).name)
    lines: list[str] = [f"# Autoresearch report: {tag}", ""]
    if session_start.get("name"):
        lines += [f"*{_inline(str(session_start['name']))}*", ""]
    if session_start.get("imported_from"):
        lines += [f"Imported from `{session_start['imported_from']}` "
                  f"({session_start.get('source_format') or 'foreign log'}); read-only.", ""]
    goal = str(session_start.get("goal") or "").strip()
    if goal:
        if len(goal) > MAX_GOAL_CHARS:
            goal = goal[:MAX_GOAL_CHARS].rsplit("\n", 1)[0] + "\n…"
        lines += ["## Goal", "", *("> " + line if line else ">" for line in goal.splitlines()),
                  ""]
    lines += _summary(experiments, tail, final, session_start, _isolation(records))
    lines += ["", f"![Progress: {final.metric_name} per experiment]({svg_path.name})", ""]
    notes = []
    if has_png:
        notes.append(f"PNG: [{png_path.name}]({png_path.name})")
    if chart.labelled < chart.kept:
        notes.append(f"labels on the {chart.labelled} keeps with the largest gains of "
                     f"{chart.kept}")
    if chart.clipped:
        notes.append(f"{chart.clipped} far outliers drawn as triangles at the edge")
    if notes:
        lines += ["*" + "; ".join(notes) + ".*", ""]
    lines += _kept_section(tail, final, kept_columns or {})
    for heading, body in extra_sections:
        lines += [f"## {heading}", "", body.rstrip(), ""]
    lines += _workers_section(experiments)
    lines += _dead_ends(experiments, segments, tag)
    lines += _segments_section(segments, tail)
    lines += _confidence_section(tail, final)
    write_text_atomic(out_path, "\n".join(lines).rstrip() + "\n")
    return out_path


# -- sections ----------------------------------------------------------------------------


def _isolation(records: Sequence[Mapping[str, Any]]) -> str:
    """The sandbox of every launch (`session_start` records), in order, each once: "bwrap,
    no network"; "none (bwrap is not installed)" says why; several launches under different
    sandboxes name the launches ("bwrap, no network (launches 1-2); none (...) (launch 3)")."""
    launches = [str(r.get("isolation") or "") for r in records
                if r.get("type") == "session_start"]
    if not any(launches):
        return ""
    kinds = list(dict.fromkeys(launches))
    if len(kinds) == 1:
        return _inline(kinds[0])
    parts = []
    for kind in kinds:
        numbers = [i for i, k in enumerate(launches, 1) if k == kind]
        which = (f"launch {numbers[0]}" if len(numbers) == 1 else
                 f"launches {', '.join(map(str, numbers))}")
        parts.append(f"{_inline(kind) or 'not recorded'} ({which})")
    return "; ".join(parts)


def _summary(experiments: Sequence[Experiment], tail: Sequence[Segment], final: Segment,
             session_start: Mapping[str, Any], isolation: str = "") -> list[str]:
    unit = f" {final.unit}" if final.unit else ""
    baseline = next((s.baseline for s in tail if s.baseline is not None), None)
    best = _best(tail, final.direction)
    champion = final.champion
    rows: list[tuple[str, str]] = [
        ("Metric", f"`{final.metric_name}`" + (f" ({final.unit})" if final.unit else "")
         + f", {final.direction} is better"),
    ]
    if baseline is not None:
        rows.append(("Baseline", f"{format_value(baseline.metric)}{unit} (#{baseline.n})"))
    else:
        rows.append(("Baseline", "not measured"))
    if best is not None and best is not baseline:
        rows.append(("Best", f"**{format_value(best.metric)}{unit}** (#{best.n}: "
                     f"{_inline(_short(best.description, 60))})"))
    elif baseline is not None:
        rows.append(("Best", "the baseline: no kept improvement"))
    if champion is not None and best is not None and champion is not best and \
            champion.metric != best.metric:
        rows.append(("Final champion", f"{format_value(champion.metric)}{unit} (#{champion.n}), "
                     "a later keep that measured worse than the best"))
    if baseline is not None and best is not None and baseline.metric and best.metric is not None:
        gain = improvement(baseline.metric, best.metric, final.direction)
        change = (best.metric - baseline.metric) / abs(baseline.metric)
        rows.append(("Improvement", f"**{gain:.1%}** better ({format_change(change)} in "
                     f"{final.metric_name})"))
    counts: dict[Status, int] = {}
    for e in experiments:
        counts[e.status] = counts.get(e.status, 0) + 1
    after = sum(v for k, v in counts.items() if k is not Status.BASELINE)
    parts = ", ".join(f"{counts[s]} {s}" for s in Status if s in counts and
                      s is not Status.BASELINE)
    rows.append(("Experiments", f"{after} after the baseline" + (f": {parts}" if parts else "")))
    rows.append(("Time", _time_text(experiments)))
    if isolation:
        rows.append(("Sandbox", isolation))
    cost = sum(e.cost_usd for e in experiments)
    rows.append(("Cost", f"${cost:,.2f}" if cost else "not recorded"))
    tokens = Tokens()
    for e in experiments:
        tokens = tokens + e.tokens
    if tokens.total:
        detail = (f"input {tokens.input:,}, output {tokens.output:,}, cache read "
                  f"{tokens.cache_read:,}, cache write {tokens.cache_write:,}")
        if session_start.get("imported_from"):
            detail = "as logged per iteration"
        rows.append(("Tokens", f"{tokens.total:,} ({detail})"))
    else:
        rows.append(("Tokens", "not recorded"))
    noise = _noise_score(tail, final)
    if noise is not None:
        rows.append(("Confidence", f"{_times(noise[0])} the noise: {_verdict(noise[0])}"))
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _kept_section(tail: Sequence[Segment], final: Segment,
                  kept_columns: Mapping[str, Mapping[int, str]]) -> list[str]:
    kept = [e for s in tail for e in s.experiments if e.status is Status.KEEP]
    lines = ["## Kept changes", ""]
    if not kept:
        return lines + ["None: no change beat the baseline.", ""]
    extra = list(kept_columns)
    unit = f" ({final.unit})" if final.unit else ""
    lines.append("| # | commit | " + final.metric_name.replace("|", "\\|") + unit +
                 " | Δ champion | confidence | p-value | " +
                 "".join(f"{_cell(c)} | " for c in extra) + "change |")
    lines.append("|---:|---|---:|---:|---:|---:|" + "---|" * len(extra) + "---|")
    for e in kept:
        gain = "-"
        reference = e.champion_reference()
        if e.metric is not None and reference:
            gain = format_change(e.delta())
            if improvement(reference, e.metric, final.direction) < 0:
                gain += " (worse)"
        confidence = f"{e.confidence:.1f}x" if e.confidence is not None else "-"
        p_value = _p_text(e.p_value)
        cells = "".join(f"{_cell(kept_columns[c].get(e.n, ''))} | " for c in extra)
        lines.append(f"| {e.n} | `{e.short_commit or '-'}` | {format_value(e.metric)} | {gain} "
                     f"| {confidence} | {p_value} | {cells}{_cell(e.description)} |")
    worse = [e for e in kept if e.metric is not None and e.champion_reference() is not None
             and is_better(e.champion_reference() or 0.0, e.metric, final.direction)]
    if worse:
        lines += ["", f"{plural(len(worse), 'keep')} measured worse than the champion they "
                  "replaced (confirmation or clean-up runs kept by the tool that wrote the log): "
                  + ", ".join(f"#{e.n}" for e in worse) + "."]
    return lines + [""]


def _workers_section(experiments: Sequence[Experiment]) -> list[str]:
    """Per-worker figures when parallel workers proposed (`[parallel] workers`)."""
    done = [e for e in experiments if e.status is not Status.BASELINE]
    workers = sorted({e.worker for e in done if e.worker})
    if not workers:
        return []
    lines = ["## Workers", "", "| worker | experiments | keep | discard | stale | other | "
             "time |", "|---|---|---|---|---|---|---|"]
    for w in workers:
        mine = [e for e in done if e.worker == w]
        counts = {s: sum(e.status is s for e in mine)
                  for s in (Status.KEEP, Status.DISCARD, Status.STALE)}
        other = len(mine) - sum(counts.values())
        lines.append(f"| {w} | {len(mine)} | {counts[Status.KEEP]} | "
                     f"{counts[Status.DISCARD]} | {counts[Status.STALE]} | {other} | "
                     f"{_duration(sum(e.duration_s for e in mine))} |")
    return lines + [""]


def _dead_ends(experiments: Sequence[Experiment], segments: Sequence[Segment],
               tag: str) -> list[str]:
    by_status: dict[Status, list[Experiment]] = {}
    for e in experiments:
        if e.status in DEAD_END_ORDER:
            by_status.setdefault(e.status, []).append(e)
    lines = ["## Dead ends", ""]
    if not by_status:
        return lines + ["None.", ""]
    segment_of = {e.n: s for s in segments for e in s.experiments}
    final_metric = segments[-1].metric_name if segments else ""
    for status in DEAD_END_ORDER:
        group = by_status.get(status)
        if not group:
            continue
        shown = group[:MAX_DEAD_ENDS]
        # Imported logs often put the reason in the description only: no empty column then.
        with_reason = any(_reason(e) != "-" for e in shown)
        lines += [f"### {DEAD_END_TITLES[status]} ({len(group)})", "",
                  "| # | metric | Δ champion | " + ("reason | " if with_reason else "")
                  + "change |",
                  "|---:|---:|---:|" + ("---|" if with_reason else "") + "---|"]
        for e in shown:
            segment = segment_of.get(e.n)
            gain = "-"
            if e.metric is not None and e.champion_reference():
                gain = format_change(e.delta())
            value = format_value(e.metric)
            if e.metric is not None and segment and segment.metric_name != final_metric:
                value += f" ({segment.metric_name})"
            reason = f"{_cell(_reason(e), 160)} | " if with_reason else ""
            lines.append(f"| {e.n} | {_inline(value)} | {gain} | {reason}"
                         f"{_cell(e.description)} |")
        if len(group) > MAX_DEAD_ENDS:
            lines.append(f"| | | | … and {len(group) - MAX_DEAD_ENDS} more: "
                         f"`autoresearch-tui history --tag {tag}` lists them all |"
                         + (" |" if with_reason else ""))
        lines.append("")
    return lines


def _segments_section(segments: Sequence[Segment], tail: Sequence[Segment]) -> list[str]:
    if len(segments) < 2:
        return []
    lines = ["## Segments", "",
             "Each segment has its own baseline; results are compared within a segment only, "
             "and the summary above covers the last segments that measure "
             f"`{tail[-1].metric_name}`.", "",
             "| segment | experiments | metric | baseline | best | improvement |",
             "|---:|---|---|---:|---:|---:|"]
    for index, segment in enumerate(segments, start=1):
        base, best = segment.baseline, segment.best
        gain = segment.improvement(best)
        first, last = segment.experiments[0].n, segment.experiments[-1].n
        unit = f" ({segment.unit})" if segment.unit else ""
        lines.append(f"| {index} | #{first}–#{last} | `{segment.metric_name}`{unit}, "
                     f"{segment.direction} | {format_value(base.metric if base else None)} | "
                     f"{format_value(best.metric if best else None)} | "
                     f"{f'{gain + 0.0:.1%}' if gain is not None else '-'} |")
    return lines + [""]


def _confidence_section(tail: Sequence[Segment], final: Segment) -> list[str]:
    lines = ["## Confidence of the final result", ""]
    baseline = next((s.baseline for s in tail if s.baseline is not None), None)
    best = _best(tail, final.direction)
    if baseline is None or best is None or best is baseline:
        return lines + ["No kept improvement over the baseline to judge.", ""]
    noise = _noise_score(tail, final)
    if noise is not None:
        lines.append(f"- Improvement over noise: **{_times(noise[0])}** {noise[1]}: "
                     f"{_verdict(noise[0])} (>= 2 likely real, 1-2 marginal, < 1 within noise).")
    if len(baseline.samples) >= 2 and len(best.samples) >= 2:
        med_b, med_x = statistics.median(baseline.samples), statistics.median(best.samples)
        line = (f"- Samples: baseline median {format_value(med_b)} over {len(baseline.samples)}"
                f" runs, best median {format_value(med_x)} over {len(best.samples)} runs")
        decision = _evaluate(best.samples, baseline.samples, final.direction)
        if decision is not None and decision.p_value is not None:
            line += f"; {_p_is(decision.p_value)} that the difference is chance"
        lines.append(line + ".")
    if best.confidence is not None or best.p_value is not None:
        parts = []
        if best.confidence is not None:
            parts.append(f"confidence {best.confidence:.1f}x")
        if best.p_value is not None:
            parts.append(_p_is(best.p_value))
        lines.append(f"- The best experiment (#{best.n}) against its champion: "
                     + ", ".join(parts) + ".")
    kept = [e for s in tail for e in s.experiments if e.status is Status.KEEP]
    weak = [e for e in kept if e.confidence is not None and e.confidence < 1]
    if weak:
        lines.append(f"- {len(weak)} of {len(kept)} keeps were within noise when kept "
                     f"(confidence < 1): " + ", ".join(f"#{e.n}" for e in weak[:20]) + ".")
    if len(lines) == 2:
        lines.append("- Too few measurements to estimate the noise.")
    return lines + [""]


# -- helpers -------------------------------------------------------------------------------


def _best(tail: Sequence[Segment], direction: str) -> Experiment | None:
    return best_experiment((e for segment in tail for e in segment.experiments), direction)


def _noise_score(tail: Sequence[Segment], final: Segment) -> tuple[float, str] | None:
    """How many times the noise the improvement is, and what the noise was measured on.

    With repeated samples of the baseline, the noise is their median absolute deviation (the
    run-to-run spread of one unchanged program). Without (imported logs), it is the MAD of all
    measured results, as pi-autoresearch computes its confidence: a rougher, larger floor.
    """
    baseline = next((s.baseline for s in tail if s.baseline is not None), None)
    best = _best(tail, final.direction)
    if baseline is None or best is None or baseline.metric is None or best.metric is None:
        return None
    if len(baseline.samples) >= 3:
        middle = statistics.median(baseline.samples)
        mad = statistics.median(abs(v - middle) for v in baseline.samples)
        if mad > 0:
            return (abs(best.metric - baseline.metric) / mad,
                    f"the baseline's run-to-run spread (MAD of its {len(baseline.samples)} "
                    "samples)")
    values = [e.metric for s in tail for e in s.experiments if e.metric is not None]
    if len(values) < 3:
        return None
    middle = statistics.median(values)
    mad = statistics.median(abs(v - middle) for v in values)
    if mad == 0:
        return None
    return (abs(best.metric - baseline.metric) / mad,
            "the median absolute deviation of all measured results")


def _times(score: float) -> str:
    return f"{score:.1f}x" if score < 100 else f"{score:,.0f}x"


def _verdict(score: float) -> str:
    if score >= 2:
        return "likely real"
    if score >= 1:
        return "marginal"
    return "within noise"


def _evaluate(candidate: Sequence[float], champion: Sequence[float], direction: str) -> Any:
    """The keep rule's own statistics, applied to best vs baseline (None if unavailable)."""
    try:
        from app.engine.decide import evaluate

        return evaluate(list(candidate), list(champion), direction=direction, alpha=0.05,
                        min_effect=0.0, look=1, max_looks=1)
    except Exception:  # the statistics are optional decoration of the report
        return None


def _reason(e: Experiment) -> str:
    reason = e.reason or e.veto_reason
    if not reason and e.output_tail:
        reason = next((line for line in reversed(e.output_tail.splitlines()) if line.strip()),
                      "")
    return reason or "-"


def _time_text(experiments: Sequence[Experiment]) -> str:
    timed = [e for e in experiments if e.timestamp]
    measured = busy_seconds(list(experiments))
    parts = []
    if len(timed) >= 2:
        first = min(e.timestamp for e in timed)
        span = max(e.timestamp + e.duration_s for e in timed) - first
        start = dt.datetime.fromtimestamp(first).strftime("%Y-%m-%d %H:%M")
        parts.append(f"{_duration(span)} wall clock (from {start})")
    if measured:
        parts.append(f"{_duration(measured)} in experiments")
    return "; ".join(parts) or "not recorded"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _p_is(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _inline(text: str) -> str:
    return text.replace("|", "\\|")


def _cell(text: str, limit: int = 120) -> str:
    return _inline(_short(str(text), limit)) or "-"


def _render_png(svg_path: Path, png_path: Path) -> bool:
    """PNG beside the SVG where rsvg-convert is installed; silently nothing otherwise."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        return False
    try:
        result = subprocess.run([tool, "-z", "1.5", "-b", "white", "-o", str(png_path),
                                 str(svg_path)], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and png_path.exists()


# -- the command -----------------------------------------------------------------------------


def run_report(options: ReportOptions) -> int:
    """`report [--tag TAG] [--out FILE]`."""
    out_arg = options.out
    out: Path | None = None
    if out_arg:
        out = Path(out_arg).expanduser().absolute()
        if out.is_dir():
            raise UsageError(f"{out} is a folder; pass a file name for --out, such as "
                             "report.md.")
        if not out.parent.is_dir():
            raise UsageError(f"the folder {out.parent} does not exist; create it or pass "
                             "another --out.")
    _, state_dir = locate_session(options.tag)
    data = load_session(state_dir)
    if not data.experiments:
        raise UsageError(f"session {data.tag!r} has no experiments yet; run it first, then "
                         "ask for its report.")
    from app.attribution import load_attribution, report_parts

    # `finalize` stores attribution.json beside the log; the report shows it when present.
    attribution = load_attribution(state_dir)
    sections, columns = report_parts(attribution) if attribution else ([], None)
    path = build_report(state_dir, data.experiments, data.session_start,
                        out or state_dir / "report.md",
                        records=data.records, extra_sections=sections, kept_columns=columns)
    svg, png = chart_paths(path)
    print(f"wrote {path}")
    print(f"chart: {svg}" + (f" and {png}" if png.exists() else ""))
    return 0
