"""`report`: the Markdown report and its progress chart, end to end on real logs."""

from __future__ import annotations

import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.chart_svg import KEEP, nice_ticks, progress_chart, tick_label
from app.cli import main
from app.engine.history import LogWriter
from app.engine.layout import find_repo
from app.engine.records import Experiment, Status, Tokens
from app.errors import UsageError
from app.interop import read_foreign_log, store_import
from app.report import build_report, chart_paths, run_report
from tests.conftest import git

DATA = Path(__file__).parent / "data" / "interop"
SVG = "{http://www.w3.org/2000/svg}"


def common_dir(repo: Path) -> Path:
    """The layout contract: `git rev-parse --git-common-dir`, made absolute."""
    out = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    return out if out.is_absolute() else (repo / out).resolve()


def own_session(repo: Path, tag: str = "nov27") -> Path:
    """A session log as the loop writes it: baseline, keeps, and one of each dead end."""
    state = common_dir(repo) / "autoresearch" / "sessions" / tag
    writer = LogWriter(state / "log.jsonl")
    t0 = 1_764_000_000.0
    writer.append({"type": "session_start", "tag": tag, "metric_name": "wall_ms", "unit": "ms",
                   "direction": "lower", "goal": "Make the word counter faster.\n\nKeep the "
                   "output identical.", "branch": f"autoresearch/{tag}", "base_commit": "0" * 40,
                   "timestamp": t0})
    experiments = [
        Experiment(0, Status.BASELINE, metric=200.0, samples=[199.0, 200.0, 201.0, 200.5],
                   commit="a" * 40, description="baseline", duration_s=20, timestamp=t0),
        Experiment(1, Status.KEEP, metric=170.0, samples=[169.0, 170.0, 171.0, 170.2],
                   champion_metric=200.0, confidence=4.2, p_value=0.004, commit="b" * 40,
                   description="count words in one pass", duration_s=30,
                   tokens=Tokens(1000, 200, 5000, 300), cost_usd=0.12, timestamp=t0 + 600),
        Experiment(2, Status.DISCARD, metric=173.0, champion_metric=170.0,
                   reason="median +1.8% vs champion, not better", description="dedupe with a set",
                   duration_s=25, cost_usd=0.10, timestamp=t0 + 1200),
        Experiment(3, Status.CRASH, reason="benchmark exited with status 1",
                   output_tail="Traceback...\nValueError: bad token", description="regex tokenizer",
                   duration_s=5, cost_usd=0.08, timestamp=t0 + 1800),
        Experiment(4, Status.CHECKS_FAILED, metric=150.0, champion_metric=170.0,
                   reason="checks failed: test_counts", description="skip punctuation",
                   duration_s=40, cost_usd=0.09, timestamp=t0 + 2400),
        Experiment(5, Status.REJECTED, reason="changed protected file tests/test_wc.py",
                   description="loosen the test", cost_usd=0.05, timestamp=t0 + 3000),
        Experiment(6, Status.KEEP, metric=150.0, samples=[149.0, 150.0, 151.0, 150.4],
                   champion_metric=170.0, confidence=3.1, p_value=0.02, commit="c" * 40,
                   description="fast path for common words", duration_s=30, cost_usd=0.11,
                   timestamp=t0 + 3600),
    ]
    for e in experiments:
        writer.append_experiment(e)
    writer.close()
    return state


def test_report_end_to_end_on_a_session_log(repo: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    state = own_session(repo)
    assert main(["report"]) == 0  # no --tag: the newest session
    assert "report.md" in capsys.readouterr().out
    text = (state / "report.md").read_text()
    assert text.startswith("# Autoresearch report: nov27\n")
    assert "> Make the word counter faster." in text
    assert "| Baseline | 200 ms (#0) |" in text
    assert "| Best | **150 ms** (#6: fast path for common words) |" in text
    assert "| Improvement | **25.0%** better (-25.0% in wall_ms) |" in text
    assert "| Experiments | 6 after the baseline: 2 keep, 1 discard, 1 crash, " \
           "1 checks_failed, 1 rejected |" in text
    assert "| Cost | $0.55 |" in text
    assert "| Tokens | 6,500 (input 1,000, output 200, cache read 5,000, cache write 300) |" \
        in text
    assert "| Time | 1 h 00 min wall clock (from " in text and "; 2 min in experiments |" in text
    # The kept changes with their change vs champion (the metric's own, as the table shows
    # it), confidence and p-value.
    assert "| 1 | `bbbbbbb` | 170 | -15.0% | 4.2x | 0.004 | count words in one pass |" in text
    assert "| 6 | `ccccccc` | 150 | -11.8% | 3.1x | 0.020 | fast path for common words |" in text
    # Dead ends with their reasons (the sign agrees with the reason's).
    assert "| 2 | 173 | +1.8% | median +1.8% vs champion, not better | dedupe with a set |" \
        in text
    assert "benchmark exited with status 1" in text
    assert "changed protected file tests/test_wc.py" in text
    assert "### Checks failed (1)" in text
    assert "## Confidence of the final result" in text
    svg, png = chart_paths(state / "report.md")
    assert "![Progress: wall_ms per experiment](report-progress.svg)" in text
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "wall_ms (ms), lower is better" in texts
    assert "count words in one pass" in texts and "fast path for common words" in texts
    if shutil.which("rsvg-convert"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({png.name})" in text


def test_report_out_elsewhere_puts_the_chart_beside_it(repo: Path, tmp_path: Path) -> None:
    state = own_session(repo, "other")
    out = tmp_path / "reports" / "night.md"
    out.parent.mkdir()
    assert main(["report", "--tag", "other", "--out", str(out)]) == 0
    assert out.exists() and (out.parent / "night-progress.svg").exists()
    assert not (state / "report.md").exists()


def test_report_of_an_imported_pi_log(repo: Path) -> None:
    state = store_import(find_repo(repo).common_dir,
                         read_foreign_log(DATA / "pi-log-shopify-liquid.jsonl"))
    assert main(["report", "--tag", state.name]) == 0
    text = (state / "report.md").read_text()
    assert "Imported from `" in text and "read-only" in text
    assert "| Metric | `combined_µs` (µs), lower is better |" in text
    assert "| Baseline | 3818 µs (#0) |" in text
    assert "**3314 µs** (#20" in text
    assert "| Final champion | 3445 µs (#22)" in text
    assert "**13.2%** better" in text
    assert "22 after the baseline: 6 keep, 13 discard, 3 crash" in text
    assert "2 keeps measured worse than the champion they replaced" in text
    assert "REVERTED: split-based tokenizer" in text
    ET.parse(chart_paths(state / "report.md")[0])


def test_report_never_compares_segments_with_different_metrics(repo: Path) -> None:
    state = store_import(find_repo(repo).common_dir,
                         read_foreign_log(DATA / "pi-log-automattic-jetpack.jsonl"))
    assert main(["report", "--tag", state.name]) == 0
    text = (state / "report.md").read_text()
    summary = text.split("![Progress")[0]
    assert "`pnpm_install_calls`" in summary and "pnpm_install_s" not in summary
    assert "| Baseline | 12 (#2) |" in summary and "**66.7%** better" in summary
    assert "## Segments" in text
    assert "| 1 | #0–#1 | `pnpm_install_s` (s), lower | 26.6 | 26.6 | 0.0% |" in text
    assert "| 2 | #2–#3 | `pnpm_install_calls`, lower | 12 | 4 | 66.7% |" in text
    # The chart shows only the last metric's experiments.
    root = ET.parse(chart_paths(state / "report.md")[0]).getroot()
    assert any("pnpm_install_calls" in "".join(t.itertext())
               for t in root.iter(f"{SVG}text"))
    assert not any("pnpm_install_s," in "".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def test_report_of_results_tsv_has_every_keep_labelled(repo: Path) -> None:
    state = store_import(find_repo(repo).common_dir,
                         read_foreign_log(DATA / "results-tsv-six-columns.tsv"))
    path = build_report(state, read_foreign_log(DATA / "results-tsv-six-columns.tsv")
                        .experiments, {"tag": "t", "metric_name": "val_bpb", "unit": "",
                                       "direction": "lower"}, state / "r.md", records=[],
                        png=False)
    text = path.read_text()
    assert "| Best | **1.26752** (#21: XSA on all 9 layers (was last-4) — novel contribution" \
        in text
    chart = progress_chart(read_foreign_log(DATA / "results-tsv-six-columns.tsv").experiments,
                           metric_name="val_bpb")
    assert chart.kept == 9 and chart.labelled == 9 and chart.clipped == 0


def test_chart_scales_to_ten_thousand_experiments_and_keeps_every_keep(tmp_path: Path) -> None:
    experiments = [Experiment(0, Status.BASELINE, metric=1000.0)]
    champion = 1000.0
    for n in range(1, 10_001):
        if n % 20 == 0:
            champion *= 0.998
            experiments.append(Experiment(n, Status.KEEP, metric=champion,
                                          champion_metric=champion / 0.998,
                                          description=f"keep <{n}> & more"))
        elif n % 13 == 0:
            experiments.append(Experiment(n, Status.CRASH, reason="boom"))
        else:
            experiments.append(Experiment(n, Status.DISCARD, metric=champion * (1 + (n % 7) / 50),
                                          champion_metric=champion, reason="not better"))
    # CPU time, not wall time: the machine running the tests may be busy with other work.
    start = time.process_time()
    path = build_report(tmp_path, experiments, {"tag": "big", "metric_name": "t", "unit": "ms",
                                                "direction": "lower"}, tmp_path / "report.md",
                        records=[], png=False)
    elapsed = time.process_time() - start
    assert elapsed < 2.0, f"report took {elapsed:.2f}s for 10,000 experiments"
    root = ET.parse(chart_paths(path)[0]).getroot()
    keep_groups = [g for g in root.iter(f"{SVG}g") if g.get("fill") == KEEP]
    assert len(list(keep_groups[0].iter(f"{SVG}circle"))) == 500  # never thinned
    circles = len(list(root.iter(f"{SVG}circle")))
    assert circles < 5000  # the discards are binned to pixels
    text = path.read_text()
    # Long dead-end lists are capped, with a pointer to the full list.
    assert "… and 8719 more: `autoresearch-tui history --tag big` lists them all" in text
    assert "… and 681 more:" in text
    labels = re.findall(r"keep &lt;\d+&gt; &amp; more", chart_paths(path)[0].read_text())
    assert 5 <= len(labels) <= 30  # escaped; only some keeps can carry a readable label
    assert "labels on the" in text


def test_nice_ticks_and_labels() -> None:
    assert nice_ticks(3200, 4200, 6) == [3200, 3400, 3600, 3800, 4000, 4200]
    ticks = nice_ticks(1.26, 1.38, 7)
    assert ticks[0] == pytest.approx(1.26) and ticks[-1] == pytest.approx(1.38)
    assert tick_label(1.3, 0.02) == "1.30" and tick_label(4000, 200) == "4,000"
    assert tick_label(2.5, 2.5) == "2.5"


def report(*argv: str) -> int:
    """`report ARGV...` through the real parser, with the UsageError raised, not printed."""
    from app.cli import build_parser, command_options
    from app.command_options import ReportOptions

    options = command_options(build_parser().parse_args(["report", *argv]))
    assert isinstance(options, ReportOptions)
    return run_report(options)


def test_report_bad_inputs(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no autoresearch sessions yet"):
        report()
    own_session(repo)
    with pytest.raises(UsageError, match="does not exist; create it"):
        report("--out", str(tmp_path / "no" / "r.md"))
    with pytest.raises(UsageError, match="is a folder"):
        report("--out", str(tmp_path))
    empty = common_dir(repo) / "autoresearch" / "sessions" / "empty"
    writer = LogWriter(empty / "log.jsonl")
    writer.append({"type": "session_start", "tag": "empty", "metric_name": "x", "unit": "",
                   "direction": "lower"})
    writer.close()
    with pytest.raises(UsageError, match="has no experiments yet"):
        report("--tag", "empty")
    assert not (empty / "report.md").exists()
