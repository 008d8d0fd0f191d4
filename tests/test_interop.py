"""`history`: importing pi-autoresearch logs and results.tsv, listing, exporting.

The real logs in tests/data/interop/ are copies of ../shared/interop/ (files from public
projects, kept as they are); the made-up ones cover what those do not: hook lines, the
legacy layout, malformed lines, odd statuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.engine.history import LogWriter, read_log
from app.engine.layout import find_repo, list_sessions
from app.engine.records import Experiment, Status, guess_direction
from app.errors import UsageError
from app.interop import (
    export_status,
    history_lines,
    import_name,
    read_foreign_log,
    store_import,
    write_results_tsv,
)
from app.session_data import load_session
from tests.conftest import git

DATA = Path(__file__).parent / "data" / "interop"
LIQUID = DATA / "pi-log-shopify-liquid.jsonl"
JETPACK = DATA / "pi-log-automattic-jetpack.jsonl"
TSV = DATA / "results-tsv-six-columns.tsv"


def sessions_dir(root: Path) -> Path:
    return find_repo(root).sessions_dir


def counts(experiments: list[Experiment]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in experiments:
        out[str(e.status)] = out.get(str(e.status), 0) + 1
    return out


# -- the real logs -------------------------------------------------------------------------


def test_liquid_log_reads_as_one_segment_with_the_micro_sign_metric() -> None:
    log = read_foreign_log(LIQUID)
    assert log.format == "pi-autoresearch"
    # The first run has no `segment` field; it still belongs to the segment that follows.
    assert len(log.segments) == 1
    segment = log.segments[0]
    assert (segment.metric_name, segment.unit, segment.direction) == \
        ("combined_µs", "µs", "lower")
    assert segment.name == "Liquid parse+render performance (tenderlove-inspired)"
    experiments = log.experiments
    assert len(experiments) == 23
    assert counts(experiments) == {"baseline": 1, "keep": 6, "discard": 13, "crash": 3}
    assert [e.n for e in experiments] == list(range(23))
    baseline = experiments[0]
    assert baseline.metric == 3818 and baseline.metrics["parse_µs"] == 2722
    assert baseline.metrics["combined_µs"] == 3818
    assert baseline.timestamp == pytest.approx(1773348490.227)


def test_liquid_crashes_have_no_metric_and_keeps_track_the_champion() -> None:
    experiments = read_foreign_log(LIQUID).experiments
    crashes = [e for e in experiments if e.status is Status.CRASH]
    assert [e.n for e in crashes] == [4, 5, 19]
    # pi logs crashes as metric 0: that is not a measurement.
    assert all(e.metric is None and e.metrics == {} for e in crashes)
    by_n = {e.n: e for e in experiments}
    assert by_n[20].metric == 3314 and by_n[20].status is Status.KEEP
    # Run 23 is a keep that measured worse than run 21's keep: its champion is 3314.
    assert by_n[22].status is Status.KEEP and by_n[22].champion_metric == 3314
    assert by_n[22].delta() == pytest.approx((3445 - 3314) / 3314)
    assert by_n[1].champion_metric == 3818
    assert by_n[13].description.startswith("Confirmation run")
    assert by_n[13].source == "pi-autoresearch run 14"


def test_jetpack_log_has_two_segments_with_their_own_metrics() -> None:
    log = read_foreign_log(JETPACK)
    assert [(s.metric_name, s.unit) for s in log.segments] == \
        [("pnpm_install_s", "s"), ("pnpm_install_calls", "")]
    assert [s.first_n for s in log.segments] == [0, 2]
    first, second = log.segments
    assert [str(e.status) for e in first.experiments] == ["baseline", "discard"]
    assert [str(e.status) for e in second.experiments] == ["baseline", "keep"]
    # The second segment's baseline is not compared with the first segment's metric.
    assert second.experiments[0].champion_metric is None
    assert second.experiments[1].champion_metric == 12
    assert second.improvement() == pytest.approx(8 / 12)
    experiments = log.experiments
    assert all(e.confidence is None for e in experiments)
    assert experiments[0].tokens.total == 1916
    assert sum(e.tokens.total for e in experiments) == 1916 + 3440 + 180 + 25476
    discard = experiments[1]
    assert discard.hypothesis == "prefer-offline:true skips registry checks for cached packages"
    assert discard.reason == "negligible improvement"
    assert "insight: pnpm is using APFS clones" in discard.learned


def test_results_tsv_with_an_extra_column() -> None:
    log = read_foreign_log(TSV)
    assert log.format == "results.tsv"
    segment = log.segments[0]
    assert segment.metric_name == "val_bpb" and segment.direction == "lower"
    experiments = log.experiments
    assert len(experiments) == 22
    assert counts(experiments) == {"baseline": 1, "keep": 9, "discard": 12}
    fifth = experiments[5]
    assert fifth.commit == "8af5346" and fifth.metric == pytest.approx(1.273445)
    assert fifth.metrics == {"val_bpb": pytest.approx(1.273445), "artifact_mb": 15.40,
                             "memory_gb": 10.6}
    assert fifth.description == "SWA over 150 warmdown steps — massive gain"
    assert segment.best is not None and segment.best.n == 21


def test_import_names_come_from_the_file_or_its_project_folder(tmp_path: Path) -> None:
    assert import_name(LIQUID) == "pi-log-shopify-liquid"
    project = tmp_path / "my project (v2)"
    (project / ".auto").mkdir(parents=True)
    assert import_name(project / ".auto" / "log.jsonl") == "my-project-v2"
    assert import_name(project / "autoresearch.jsonl") == "my-project-v2"
    assert import_name(tmp_path / "wéird:name.tsv") == "w-ird-name"


# -- made-up logs ----------------------------------------------------------------------------


def pi_lines(*records: object) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


CONFIG = {"type": "config", "name": "speed", "metricName": "ms", "metricUnit": "ms",
          "bestDirection": "lower"}


def test_hook_lines_and_other_record_types_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(pi_lines(
        CONFIG,
        {"run": 1, "commit": "aaaaaaa", "metric": 100, "status": "keep", "description": "base",
         "timestamp": 1700000000000},
        {"type": "hook", "hook": "before", "stdout": "try caching", "exitCode": 0},
        {"run": 2, "commit": "bbbbbbb", "metric": 90, "status": "keep", "description": "faster",
         "timestamp": 1700000060000, "confidence": 3.2},
        {"type": "hook", "hook": "after", "stdout": "", "exitCode": 1},
        {"type": "note", "text": "hello"},
        {"run": 3, "commit": "ccccccc", "metric": 95, "status": "pending",
         "description": "odd status", "timestamp": 1700000120000},
    ))
    log = read_foreign_log(path)
    assert log.warnings == []
    assert [str(e.status) for e in log.experiments] == ["baseline", "keep", "discard"]
    assert log.experiments[1].confidence == 3.2
    assert "imported status 'pending'" in log.experiments[2].reason


def test_legacy_layout_without_config_and_a_folder_path(tmp_path: Path) -> None:
    project = tmp_path / "legacy-proj"
    project.mkdir()
    (project / "autoresearch.jsonl").write_text(pi_lines(
        {"run": 1, "commit": "aaaaaaa", "metric": 5.5, "status": "keep", "description": "b"},
        {"run": 2, "commit": "bbbbbbb", "metric": 0, "status": "crash", "description": "boom"},
        {"run": 3, "commit": "ccccccc", "metric": 5.0, "status": "checks_failed",
         "description": "broke a test"},
    ))
    log = read_foreign_log(project)  # a folder: its log is found inside
    assert log.source == project / "autoresearch.jsonl"
    assert log.name == "legacy-proj"
    assert log.segments[0].metric_name == "metric"  # no config line: a neutral name
    assert [str(e.status) for e in log.experiments] == ["baseline", "crash", "checks_failed"]
    assert log.experiments[2].metric == 5.0


def test_dot_auto_layout_found_from_the_project_folder(tmp_path: Path) -> None:
    project = tmp_path / "newer"
    (project / ".auto").mkdir(parents=True)
    (project / ".auto" / "log.jsonl").write_text(pi_lines(
        CONFIG, {"run": 1, "commit": "a", "metric": 1, "status": "keep", "description": "b"}))
    log = read_foreign_log(project)
    assert log.name == "newer" and log.experiments[0].status is Status.BASELINE


def test_malformed_lines_are_skipped_with_warnings(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(pi_lines(
        CONFIG,
        {"run": 1, "commit": "a", "metric": 10, "status": "keep", "description": "base"},
        "this is not json",
        "[1, 2, 3]",
        {"run": 2, "commit": "b", "metric": 9, "status": "keep", "description": "x",
         "timestamp": "not a number"},
        '{"run": 3, "commit": "c", "metric": 8, "sta',
    ))
    log = read_foreign_log(path)
    assert [e.metric for e in log.experiments] == [10, 9]
    assert len(log.warnings) == 3
    assert any("line 3" in w for w in log.warnings)
    assert any("line 6" in w for w in log.warnings)


def test_tsv_crash_rows_direction_and_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.tsv"
    path.write_text("commit\tval_accuracy\tmemory_gb\tstatus\tdescription\n"
                    "a1b2c3d\t0.810000\t44.0\tkeep\tbaseline\n"
                    "b2c3d4e\t0.000000\t0.0\tcrash\tOOM with batch 512\n"
                    "c3d4e5f\t0.830000\tkeep\n"
                    "d4e5f6a\t0.850000\t44.2\tkeep\twider\tmlp\n"
                    "e5f6a7b\t0.840000\t44.1\tweird\tsomething\n")
    log = read_foreign_log(path)
    segment = log.segments[0]
    assert segment.direction == "higher"
    assert [str(e.status) for e in log.experiments] == ["baseline", "crash", "keep", "discard"]
    assert log.experiments[1].metric is None
    assert log.experiments[2].description == "wider\tmlp"  # a tab inside the description
    assert len(log.warnings) == 1 and "line 4" in log.warnings[0]
    assert segment.best is not None and segment.best.metric == 0.85


@pytest.mark.parametrize("name, direction", [
    ("val_bpb", "lower"), ("val_loss", "lower"), ("combined_µs", "lower"),
    ("bundle_bytes", "lower"), ("accuracy", "higher"), ("val_acc", "higher"),
    ("f1-score", "higher"), ("compression_ratio", "higher"), ("requests_per_s", "higher"),
    ("throughput", "higher"), ("latency_p99", "lower"), ("cache_hits", "higher"),
    ("inner_loops_ms", "lower")])
def test_direction_heuristic(name: str, direction: str) -> None:
    """One guess serves `init`'s default answer and results.tsv imports."""
    assert guess_direction(name) == direction


def test_report_and_finalize_do_not_load_the_importer() -> None:
    """Reading sessions (app.session_data) is separate from importing foreign logs."""
    code = ("import sys, app.report, app.finalize, app.session_data; "
            "print(sorted(m for m in sys.modules if m == 'app.interop'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_foreign_log(tmp_path / "missing.jsonl")
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\nnothing else\n")
    with pytest.raises(UsageError, match="neither a pi-autoresearch"):
        read_foreign_log(text)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(pi_lines(CONFIG, {"type": "hook", "hook": "before"}))
    with pytest.raises(UsageError, match="holds no runs"):
        read_foreign_log(empty)
    folder = tmp_path / "nothing-here"
    folder.mkdir()
    with pytest.raises(UsageError, match="without .auto/log.jsonl"):
        read_foreign_log(folder)


# -- storing, listing, exporting -------------------------------------------------------------


def test_history_import_prints_and_stores_a_read_only_session(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--import", str(LIQUID)]) == 0
    out = capsys.readouterr().out
    assert "import-pi-log-shopify-liquid" in out
    assert "baseline 3818 µs -> best 3314 µs (#20, -13.2%)" in out
    lines = out.splitlines()
    assert lines[0].split() == ["n", "status", "metric", "delta", "description"]
    state = sessions_dir(repo) / "import-pi-log-shopify-liquid"
    records = read_log(state / "log.jsonl").records
    start = records[0]
    assert start["type"] == "session_start" and start["read_only"] is True
    assert start["imported_from"] == str(LIQUID.resolve())
    assert start["metric_name"] == "combined_µs"
    infos = list_sessions(find_repo(repo))
    assert [(i.tag, i.read_only) for i in infos] == [("import-pi-log-shopify-liquid", True)]
    # Plain `history` (newest session) shows the same table from the stored log.
    assert main(["history"]) == 0
    again = capsys.readouterr().out
    assert again.splitlines() == lines[:len(again.splitlines())]
    # Nothing was written to the user's working tree.
    assert git(repo, "status", "--porcelain") == ""


def test_stored_multi_segment_import_keeps_each_segments_metric(repo: Path) -> None:
    state = store_import(find_repo(repo).common_dir, read_foreign_log(JETPACK))
    data = load_session(state)
    assert [s.metric_name for s in data.segments] == ["pnpm_install_s", "pnpm_install_calls"]
    assert [len(s.experiments) for s in data.segments] == [2, 2]
    assert [e.n for e in data.experiments] == [0, 1, 2, 3]
    resets = [r for r in data.records if r.get("type") == "baseline_reset"]
    assert resets == [{**resets[0], "n": 2, "metric_name": "pnpm_install_calls", "unit": ""}]
    lines = history_lines(data, 100)
    assert any("segment 2: pnpm_install_calls" in line for line in lines)
    assert "pnpm_install_calls: baseline 12 -> best 4 (#3, -66.7%)" in lines[-1]


def test_reimport_replaces_an_import_but_never_a_real_session(repo: Path) -> None:
    common = find_repo(repo).common_dir
    first = store_import(common, read_foreign_log(LIQUID))
    (first / "report.md").write_text("old report")
    second = store_import(common, read_foreign_log(LIQUID))
    assert second == first and not (first / "report.md").exists()
    assert len(read_log(first / "log.jsonl").experiments) == 23
    # A real session that happens to carry the same name is left alone.
    real = sessions_dir(repo) / "import-results-tsv-six-columns"
    writer = LogWriter(real / "log.jsonl")
    writer.append({"type": "session_start", "tag": real.name, "metric_name": "x",
                   "unit": "", "direction": "lower"})
    writer.close()
    before = (real / "log.jsonl").read_bytes()
    with pytest.raises(UsageError, match="is not an import"):
        store_import(common, read_foreign_log(TSV))
    assert (real / "log.jsonl").read_bytes() == before
    assert sorted(p.name for p in sessions_dir(repo).iterdir()) == \
        ["import-pi-log-shopify-liquid", "import-results-tsv-six-columns"]  # no staging left


def test_export_round_trip_keeps_commits_metrics_and_statuses(repo: Path,
                                                              tmp_path: Path) -> None:
    for source in (LIQUID, TSV):
        state = store_import(find_repo(repo).common_dir, read_foreign_log(source))
        data = load_session(state)
        out = tmp_path / f"{source.stem}.tsv"
        assert write_results_tsv(out, data) == len(data.experiments)
        again = read_foreign_log(out).experiments

        def key(e: Experiment) -> tuple[object, ...]:
            return (e.commit, e.metric, export_status(e.status))

        assert [key(e) for e in again] == [key(e) for e in data.experiments]
        assert [e.metrics for e in again] == [e.metrics for e in data.experiments]
        assert [e.description for e in again] == [e.description for e in data.experiments]
    header = (tmp_path / "pi-log-shopify-liquid.tsv").read_text().splitlines()[0]
    assert header.split("\t") == ["commit", "combined_µs", "parse_µs", "render_µs",
                                  "allocations", "status", "description"]
    crash_row = (tmp_path / "pi-log-shopify-liquid.tsv").read_text().splitlines()[5]
    assert crash_row.split("\t")[1] == "0" and crash_row.split("\t")[-2] == "crash"


def write_session(repo: Path, tag: str, experiments: list[Experiment]) -> Path:
    state = sessions_dir(repo) / tag
    writer = LogWriter(state / "log.jsonl")
    writer.append({"type": "session_start", "tag": tag, "metric_name": "time_ms", "unit": "ms",
                   "direction": "lower", "branch": f"autoresearch/{tag}",
                   "base_commit": "0" * 40})
    for e in experiments:
        writer.append_experiment(e)
    writer.close()
    return state


def test_export_maps_statuses_and_cleans_descriptions(repo: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    write_session(repo, "s1", [
        Experiment(0, Status.BASELINE, metric=100.0, metrics={"time_ms": 100.0, "mem": 5.0},
                   commit="a" * 40, description="baseline"),
        Experiment(1, Status.TIMEOUT, reason="took too long", candidate="b" * 40,
                   commit="b" * 40, description="loop\tunrolled\nfor speed"),
        Experiment(2, Status.AGENT_ERROR, reason="patch does not apply"),
        Experiment(3, Status.CHECKS_FAILED, metric=80.0, metrics={"time_ms": 80.0},
                   commit="c" * 40, description="cache results"),
        Experiment(4, Status.VETOED, commit="d" * 40, description="rewrite in rust"),
        Experiment(5, Status.KEEP, metric=90.0, metrics={"time_ms": 90.0, "mem": 6.0},
                   commit="e" * 40, description="fewer copies", champion_metric=100.0),
    ])
    out = repo / "out" / "results.tsv"
    out.parent.mkdir()
    assert main(["history", "--tag", "s1", "--export", str(out)]) == 0
    assert "wrote 6 rows" in capsys.readouterr().out
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["commit", "time_ms", "mem", "status", "description"]
    assert [r[3] for r in rows[1:]] == ["keep", "crash", "crash", "discard", "discard", "keep"]
    assert rows[2] == ["bbbbbbb", "0", "", "crash", "[timeout] loop unrolled for speed"]
    assert rows[3][0] == "-" and rows[3][4] == "[agent_error] patch does not apply"
    assert rows[6] == ["eeeeeee", "90", "6", "keep", "fewer copies"]
    assert sorted(os.listdir(out.parent)) == ["results.tsv"]  # no temp file left behind


def test_plain_history_fits_the_terminal(repo: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    write_session(repo, "s2", [
        Experiment(0, Status.BASELINE, metric=100.0),
        Experiment(1, Status.DISCARD, metric=104.0, champion_metric=100.0,
                   reason="median +4.0% vs champion, not better", description="x" * 200),
        Experiment(2, Status.KEEP, metric=90.0, champion_metric=100.0, description="faster"),
    ])
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["history", "--tag", "s2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[1:-1]
    assert len(rows) == 3 and all(len(line) <= 60 for line in rows)
    assert rows[1].split()[:4] == ["1", "discard", "104", "+4.0%"]
    assert rows[1].endswith("…")
    assert rows[2].split()[:4] == ["2", "keep", "90", "-10.0%"]
    assert lines[-1] == ("2 experiments after the baseline (1 keep, 1 discard); time_ms: baseline "
                         "100 ms -> best 90 ms (#2, -10.0%)")


def test_session_errors_name_the_fix(repo: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="no autoresearch sessions yet"):
        main_raising(["history"])
    write_session(repo, "s3", [Experiment(0, Status.BASELINE, metric=1.0)])
    with pytest.raises(UsageError, match="there is no session 'nope'"):
        main_raising(["history", "--tag", "nope"])
    with pytest.raises(UsageError, match="not a valid session tag"):
        main_raising(["history", "--tag", "../etc"])
    with pytest.raises(UsageError, match="does not exist; create it"):
        main_raising(["history", "--tag", "s3", "--export", str(tmp_path / "no" / "r.tsv")])
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(UsageError, match="not inside a git repository"):
        main_raising(["history", "--import", str(LIQUID)])


def test_cli_reports_usage_errors_with_status_2(repo: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--import", str(repo / "missing.jsonl")]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    assert not sessions_dir(repo).exists()  # nothing half-created


def main_raising(argv: list[str]) -> int:
    """Run the subcommand's handler directly so the UsageError itself can be inspected."""
    from app.cli import build_parser, command_options
    from app.command_options import HistoryOptions
    from app.interop import run_history

    options = command_options(build_parser().parse_args(argv))
    assert isinstance(options, HistoryOptions)
    return run_history(options)


def test_sessions_lists_an_imports_last_segment_and_its_best_as_history_does(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The attack: a log with two segments (seconds, then a count) listed as "26.6 -> 4 s":
    # the first segment's baseline beside the last one's champion, in the wrong unit.
    assert main(["history", "--import", str(JETPACK)]) == 0
    assert main(["history", "--import", str(LIQUID)]) == 0
    capsys.readouterr()
    assert main(["sessions"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    jetpack = rows["import-pi-log-automattic-jetpack"]
    assert "12 -> 4 (-66.7%, better)" in jetpack and " s " not in jetpack
    # The best, as `history` says (#20, 3314), not the last keep (#22 measured 3445).
    assert "3818 -> 3314 µs (-13.2%, better)" in rows["import-pi-log-shopify-liquid"]
    # A tag longer than 20 characters still leaves the columns aligned.
    assert len({line.index(" imported ") for line in rows.values()}) == 1
