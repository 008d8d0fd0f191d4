"""Benchmark output formats: the real tools (pytest-benchmark, pyperf, hyperfine) run through
the loop's command runner; Google Benchmark and criterion from recorded files."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.config import MetricConfig
from app.engine import formats
from app.engine.measure import ParsedMetrics
from app.engine.process import run_command
from tests.conftest import Project, require_tool
from tests.test_engine import run_session, statuses

DATA = Path(__file__).parent / "data" / "formats"
PY = sys.executable

FIB_BENCH = '''\
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_fib(benchmark):
    benchmark(fib, 12)


def test_fib_small(benchmark):
    benchmark(fib, 6)
'''


def metric(**kwargs: object) -> MetricConfig:
    return MetricConfig(command=str(kwargs.pop("command", "true")), **kwargs)  # type: ignore


def run_tool(command: str, cwd: Path, m: MetricConfig) -> tuple[ParsedMetrics, object]:
    """Run as the loop does: a fresh {output} path, the same runner, then the reader.
    Returns the reading and the raw file's JSON (read before the folder goes away)."""
    with formats.output_file(command) as (cmd, output):
        result = run_command(cmd, cwd, 120)
        assert result.ok, result.output
        raw = json.loads(output.read_text()) if output and output.exists() else None
        return formats.read_run(m, result.stdout, output), raw


def read_text(text: str, **kwargs: object) -> ParsedMetrics:
    return formats.read_run(metric(**kwargs), text, None)


def read_data(file: str, **kwargs: object) -> ParsedMetrics:
    return read_text((DATA / file).read_text(), **kwargs)


# -- the real tools -------------------------------------------------------------------------

def test_pytest_benchmark_real_run_in_milliseconds(tmp_path: Path) -> None:
    (tmp_path / "test_bench.py").write_text(FIB_BENCH)
    m = metric(format="pytest-benchmark", name="test_fib", unit="ms")
    parsed, raw = run_tool(f"{PY} -m pytest -q -p no:cacheprovider test_bench.py "
                           "--benchmark-only --benchmark-json={output} "
                           "--benchmark-max-time=0.05", tmp_path, m)
    assert parsed.error is None
    by_name = {b["name"]: b["stats"] for b in raw["benchmarks"]}  # type: ignore[index]
    assert parsed.value == pytest.approx(by_name["test_fib"]["median"] * 1000)
    assert parsed.metrics["test_fib_small"] == pytest.approx(
        by_name["test_fib_small"]["median"] * 1000)
    assert parsed.unit == "ms"


def test_pytest_benchmark_full_name_glob_stat_and_the_sum(tmp_path: Path) -> None:
    (tmp_path / "test_bench.py").write_text(FIB_BENCH)
    command = (f"{PY} -m pytest -q -p no:cacheprovider test_bench.py --benchmark-only "
               "--benchmark-json={output} --benchmark-max-time=0.05")
    parsed, raw = run_tool(command, tmp_path, metric(format="pytest-benchmark", stat="min",
                                                     name="test_bench.py::test_fib_small"))
    stats = {b["name"]: b["stats"] for b in raw["benchmarks"]}  # type: ignore[index]
    assert parsed.value == pytest.approx(stats["test_fib_small"]["min"])
    # Two benchmarks match the glob: an error that says how to fix it, unless aggregated.
    parsed, _ = run_tool(command, tmp_path, metric(format="pytest-benchmark", name="test_fib*"))
    assert parsed.value is None
    assert "matches 2 benchmarks" in str(parsed.error) and 'aggregate = "sum"' in str(
        parsed.error)
    parsed, raw = run_tool(command, tmp_path, metric(format="pytest-benchmark",
                                                     name="test_fib*", aggregate="sum"))
    stats = {b["name"]: b["stats"] for b in raw["benchmarks"]}  # type: ignore[index]
    assert parsed.value == pytest.approx(stats["test_fib"]["median"]
                                         + stats["test_fib_small"]["median"])


def test_hyperfine_real_run(tmp_path: Path) -> None:
    require_tool("hyperfine")
    m = metric(format="hyperfine", name="nap", unit="ms", stat="mean")
    parsed, raw = run_tool("hyperfine -N --runs 3 --export-json {output} -n nap 'sleep 0.02'",
                           tmp_path, m)
    assert parsed.error is None
    assert parsed.value == pytest.approx(raw["results"][0]["mean"] * 1000)  # type: ignore
    assert 15 < parsed.value < 500  # type: ignore[operator]


def test_pyperf_real_run_matches_pyperfs_own_median(tmp_path: Path) -> None:
    import pyperf

    m = metric(format="pyperf", name="sumrange", unit="us")
    with formats.output_file(f"{PY} -m pyperf timeit -q -p 2 -n 3 -w 1 -l 100 "
                             "--name sumrange -o {output} 'sum(range(200))'") as (cmd, output):
        result = run_command(cmd, tmp_path, 120)
        assert result.ok, result.output
        parsed = formats.read_run(m, result.stdout, output)
        expected = pyperf.Benchmark.load(str(output)).median()
    assert parsed.error is None
    assert parsed.value == pytest.approx(expected * 1e6)
    assert len(parsed.samples) == 6  # type: ignore[attr-defined]


# -- within-process samples ----------------------------------------------------------------

def test_within_process_samples_never_count_as_runs_in_the_keep_rule(tmp_path: Path) -> None:
    """A tool's rounds all come from one process and share its luck. Counted as runs, a
    candidate whose three processes came out 2% lucky would be "credibly better" on a
    few thousand samples; the keep rule ranks one value per run, and the samples only
    floor the confidence's noise scale (docs/decisions.md, "Samples inside one run")."""
    from app.engine.decide import evaluate, rank_test

    (tmp_path / "test_bench.py").write_text(FIB_BENCH)
    m = metric(format="pytest-benchmark", name="test_fib", unit="us")
    parsed, _ = run_tool(f"{PY} -m pytest -q -p no:cacheprovider test_bench.py "
                         "--benchmark-only --benchmark-json={output} "
                         "--benchmark-max-time=0.05", tmp_path, m)
    rounds = list(parsed.samples)  # type: ignore[attr-defined]
    assert len(rounds) >= 20 and parsed.value == pytest.approx(statistics.median(rounds))
    # The same code in 8 processes, each with its own luck (a factor on all its rounds):
    # the candidate's 3 processes happened to be the faster ones.
    champion_runs = [[v * f for v in rounds] for f in (0.98, 0.99, 1.0, 1.01, 1.03)]
    candidate_runs = [[v * f for v in rounds] for f in (0.97, 0.98, 0.99)]
    as_runs = dict(direction="lower", alpha=0.05, min_effect=0.0, look=1, max_looks=8)
    champion = [statistics.median(r) for r in champion_runs]
    candidate = [statistics.median(r) for r in candidate_runs]
    pooled_p, _ = rank_test([-v for r in candidate_runs for v in r],
                            [-v for r in champion_runs for v in r])
    assert pooled_p < 0.05  # what counting the rounds as runs would conclude
    plain = evaluate(candidate, champion, **as_runs)  # type: ignore[arg-type]
    with_rounds = evaluate(candidate, champion, within=candidate_runs,
                           **as_runs)  # type: ignore[arg-type]
    assert with_rounds.outcome == plain.outcome != "keep"
    assert with_rounds.p_value == plain.p_value
    assert with_rounds.confidence is not None and plain.confidence is not None
    assert with_rounds.confidence <= plain.confidence
    assert f"{len(rounds)} within-process samples per run, not counted as runs" in \
        with_rounds.reason


def test_runs_that_agree_by_chance_get_the_confidence_their_samples_allow() -> None:
    """Google Benchmark's repetitions (a recorded real file): three candidate runs that
    happen to print the same value would score the capped confidence of 100; the
    repetitions' own spread says how close the runs could have been by luck alone."""
    from app.engine.decide import CONFIDENCE_CAP, evaluate, within_floor

    doc = json.loads((DATA / "google_benchmark.json").read_text())
    reps = [b["real_time"] for b in doc["benchmarks"] if b["run_name"] == "BM_Sort/1024"
            and b["run_type"] == "iteration"]
    parsed = read_data("google_benchmark.json", format="google-benchmark",
                       name="BM_Sort/1024", unit="ns")
    assert sorted(parsed.samples) == sorted(reps)  # type: ignore[attr-defined]
    value = statistics.median(reps)
    champion, candidate = [value * 1.01] * 5, [value] * 3
    args = dict(direction="lower", alpha=0.05, min_effect=0.0, look=1, max_looks=8)
    plain = evaluate(candidate, champion, **args)  # type: ignore[arg-type]
    assert plain.confidence == CONFIDENCE_CAP
    within = [reps] * 3
    floor = within_floor(within)
    mad = statistics.median([abs(v - value) for v in reps])
    assert floor == pytest.approx(1.2533 * mad / 3 ** 0.5)
    floored = evaluate(candidate, champion, within=within, **args)  # type: ignore[arg-type]
    assert floored.confidence == pytest.approx(value * 0.01 / floor, rel=1e-3)
    assert floored.confidence < 10 and floored.p_value == plain.p_value
    # `min` has no simple standard error: no floor rather than a wrong one.
    assert within_floor(within, "min") == 0.0


def test_output_is_a_fresh_path_each_run_and_is_removed(tmp_path: Path) -> None:
    seen = []
    for _ in range(2):
        with formats.output_file("echo {output}") as (cmd, output):
            assert output is not None and not output.exists()
            seen.append(output)
            result = run_command(cmd + f" && echo 1 > {output}", tmp_path, 10)
            assert result.ok
        assert not output.parent.exists()
    assert seen[0] != seen[1]


# -- recorded files ------------------------------------------------------------------------

def test_google_benchmark_repetitions_give_the_statistic_in_the_configured_unit() -> None:
    doc = json.loads((DATA / "google_benchmark.json").read_text())
    reps = [b["real_time"] for b in doc["benchmarks"] if b["run_name"] == "BM_Sort/1024"
            and b["run_type"] == "iteration"]
    parsed = read_data("google_benchmark.json", format="google-benchmark",
                       name="BM_Sort/1024", unit="us")
    assert parsed.value == pytest.approx(statistics.median(reps) / 1000)
    parsed = read_data("google_benchmark.json", format="google-benchmark",
                       name="BM_Sort/1024", unit="us", stat="min")
    assert parsed.value == pytest.approx(min(reps) / 1000)
    # the other benchmark is in microseconds in the file
    big = [b["real_time"] for b in doc["benchmarks"] if b["run_name"] == "BM_Sort/65536"
           and b["run_type"] == "iteration"]
    parsed = read_data("google_benchmark.json", format="google-benchmark",
                       name="BM_Sort/65536", unit="ms")
    assert parsed.value == pytest.approx(statistics.median(big) / 1000)
    assert parsed.metrics["BM_Sort/1024"] == pytest.approx(statistics.median(reps) / 1e6)
    both = read_data("google_benchmark.json", format="google-benchmark", name="BM_Sort/*",
                     aggregate="sum", unit="ns")
    assert both.value == pytest.approx(statistics.median(reps) + statistics.median(big) * 1000)


def test_google_benchmark_aggregates_only() -> None:
    doc = json.loads((DATA / "google_benchmark_aggregates.json").read_text())
    mean = next(b["real_time"] for b in doc["benchmarks"] if b["name"] == "BM_Sort/1024_mean")
    parsed = read_data("google_benchmark_aggregates.json", format="google-benchmark",
                       name="BM_Sort/1024", stat="mean", unit="ns")
    assert parsed.value == pytest.approx(mean)
    parsed = read_data("google_benchmark_aggregates.json", format="google-benchmark",
                       name="BM_Sort/1024", stat="min")
    assert parsed.value is None and "reports no min" in str(parsed.error)


def test_google_benchmark_error_occurred_is_a_crash() -> None:
    doc = json.loads((DATA / "google_benchmark.json").read_text())
    doc["benchmarks"][0].update(error_occurred=True, error_message="allocation failed")
    parsed = read_text(json.dumps(doc), format="google-benchmark", name="BM_Sort/1024")
    assert parsed.value is None and "allocation failed" in str(parsed.error)


def test_criterion_messages_and_estimates() -> None:
    lines = [json.loads(x) for x in (DATA / "criterion_messages.jsonl").read_text().splitlines()]
    small = next(x for x in lines if x.get("id") == "parse/small")
    parsed = read_data("criterion_messages.jsonl", format="criterion", name="parse/small",
                       unit="us")
    assert parsed.value == pytest.approx(small["median"]["estimate"] / 1000)
    parsed = read_data("criterion_messages.jsonl", format="criterion", name="parse/small",
                       stat="min", unit="ns")
    assert parsed.value == pytest.approx(min(v / c for v, c in zip(
        small["measured_values"], small["iteration_count"])))
    # cargo's own text lines mixed into the stream are skipped
    text = "   Compiling parse v0.1.0\n" + (DATA / "criterion_messages.jsonl").read_text()
    assert read_text(text, format="criterion", name="parse/large").value is not None
    est = json.loads((DATA / "criterion_estimates.json").read_text())
    parsed = read_data("criterion_estimates.json", format="criterion", stat="mean", unit="ns")
    assert parsed.value == pytest.approx(est["mean"]["point_estimate"])


def test_json_path() -> None:
    doc = '{"results": [{"time": 1.5}, {"time": 2.5, "mem": 7}], "ok": true}'
    assert read_text(doc, format="json", path="results[1].time", name="t").value == 2.5
    assert read_text(doc, format="json", path="results[-1].mem", name="m").metrics == {"m": 7}
    bad = read_text(doc, format="json", path="results[2].time", name="t")
    assert bad.value is None and "no item [2] at results" in str(bad.error)
    bad = read_text(doc, format="json", path="ok", name="t")
    assert bad.value is None and "not a number" in str(bad.error)


def test_no_benchmark_of_that_name_lists_what_there_is() -> None:
    parsed = read_data("google_benchmark.json", format="google-benchmark", name="BM_Hash")
    assert parsed.value is None
    assert "no benchmark named 'BM_Hash'" in str(parsed.error)
    assert "BM_Sort/1024" in str(parsed.error)


# -- attacks: a benchmark (or a candidate's code) that reports something it must not -------

NON_FINITE = {
    "pytest-benchmark": '{"benchmarks": [{"name": "b", "fullname": "t.py::b", "stats": '
                        '{"median": NaN, "mean": 1.0, "min": 1.0}}]}',
    "hyperfine": '{"results": [{"command": "b", "median": Infinity, "mean": 1, "min": 1, '
                 '"times": [1]}]}',
    "google-benchmark": '{"benchmarks": [{"name": "b", "run_name": "b", "run_type": '
                        '"iteration", "real_time": NaN, "cpu_time": 1, "time_unit": "ns"}]}',
    "criterion": '{"reason": "benchmark-complete", "id": "b", "unit": "ns", "median": '
                 '{"estimate": -Infinity}, "mean": {"estimate": 1}}',
    "pyperf": '{"version": "1.0", "metadata": {"name": "b"}, "benchmarks": [{"runs": '
              '[{"values": [1.0, NaN, 1.0]}]}]}',
    "json": '{"t": NaN}',
}


@pytest.mark.parametrize("fmt", sorted(NON_FINITE))
def test_non_finite_values_are_crashes_in_every_format(fmt: str) -> None:
    parsed = read_text(NON_FINITE[fmt], format=fmt, name="b",
                       path="t" if fmt == "json" else None)
    assert parsed.value is None
    assert "not a finite number" in str(parsed.error)


def test_a_command_that_writes_no_output_file_is_a_crash(tmp_path: Path) -> None:
    # A candidate that skips the real benchmark cannot leave an old file to be read:
    # each run's folder is new, and a missing file is an error.
    m = metric(format="hyperfine")
    with formats.output_file("echo '{\"results\": []}' > /dev/null; true {output}") as (
            cmd, output):
        result = run_command(cmd, tmp_path, 10)
        parsed = formats.read_run(m, result.stdout, output)
    assert parsed.value is None and "wrote no file at {output}" in str(parsed.error)


def test_stdout_is_read_when_there_is_no_output_placeholder(tmp_path: Path) -> None:
    doc = (DATA / "google_benchmark.json").read_text()
    (tmp_path / "out.json").write_text(doc)
    result = run_command("cat out.json", tmp_path, 10)
    parsed = formats.read_run(metric(format="google-benchmark", name="BM_Sort/1024"),
                              result.stdout, None)
    assert parsed.value is not None and parsed.unit == "s"
    parsed = formats.read_run(metric(format="hyperfine"), "Benchmark 1: x\n  Time ...", None)
    assert parsed.value is None and "put {output} in the command" in str(parsed.error)


def test_bytes_from_pyperf_are_not_turned_into_time() -> None:
    doc = ('{"version": "1.0", "metadata": {"name": "mem", "unit": "byte"}, '
           '"benchmarks": [{"runs": [{"values": [100, 200, 300]}]}]}')
    assert read_text(doc, format="pyperf").value == 200
    parsed = read_text(doc, format="pyperf", unit="ms")
    assert parsed.value is None and "cannot be converted" in str(parsed.error)



# -- configuration and the real loop --------------------------------------------------------

@pytest.mark.parametrize("lines, message", [
    ('format = "junit"', '`metric.format` is \'junit\'; it must be "lines" or'),
    ('format = "json"', "`metric.path` is missing; with format \"json\""),
    ('format = "json"\npath = "a..b"', "`metric.path` 'a..b' is not a path like"),
    ('format = "hyperfine"\npath = "a"', "`metric.path` is only read with format \"json\""),
    ('format = "hyperfine"\nunit = "req/s"', "`metric.unit` is 'req/s', but hyperfine reports"),
    ('stat = "p99"', "`metric.stat` is 'p99'; it must be"),
    ('aggregate = "max"', "`metric.aggregate` is 'max'; it must be"),
])
def test_bad_format_config_is_one_sentence_and_exit_2(
        project: Project, capsys: pytest.CaptureFixture[str], lines: str, message: str) -> None:
    text = (project.root / "autoresearch.toml").read_text()
    (project.root / "autoresearch.toml").write_text(
        text.replace('name = "score"', 'name = "score"\n' + lines))
    assert main(["run", "--headless", "--max-experiments", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert project.git("branch", "--list", "autoresearch/*") == ""


PYTEST_BENCH = '''\
from src.work import work


def test_work(benchmark):
    benchmark(work)
'''
WORK = ("from src.extra import EXTRA\nfrom src.size import SIZE\n\n\ndef work():\n"
        "    return sum(i * i for i in range(SIZE)) + sum(range(EXTRA))\n")


def _work_project(project: Project) -> None:
    """The project both tools measure: `work()` squares SIZE numbers; its benchmarks."""
    project.write("src/__init__.py", "")
    project.write("src/work.py", WORK)
    project.write("src/size.py", "SIZE = 30000\n")
    project.write("src/extra.py", "EXTRA = 0\n")
    project.write("bench/test_bench_work.py", PYTEST_BENCH)
    project.write("run_work.py", "#!/usr/bin/env python3\nfrom src.work import work\n\n"
                  "for _ in range(50):\n    work()\n"
                  ).chmod(0o755)
    project.commit("a benchmark")


@pytest.mark.slow
def test_the_loop_keeps_a_real_win_measured_by_pytest_benchmark(project: Project) -> None:
    _work_project(project)
    # 1: pytest-benchmark. The win (30000 squares -> 300) is far beyond the noise.
    project.config(command=f"{PY} -m pytest -q -p no:cacheprovider bench "
                   "--benchmark-only --benchmark-json={output} --benchmark-max-time=0.1",
                   format="pytest-benchmark", name="test_work", unit="us")
    project.commit("measure with pytest-benchmark")  # (patch() resets the checkout)
    project.patch("01-fast.patch", {"src/size.py": "SIZE = 300\n"}, "less work")
    project.patch("02-slow.patch", {"src/extra.py": "EXTRA = 60000\n"}, "more work")
    project.commit("patches")
    status, _, engine = run_session(project, tag="pytestbench")
    assert status == 0
    assert statuses(engine) == [(0, "baseline"), (1, "keep"), (2, "discard")]
    base, kept = engine.experiments[0], engine.experiments[1]  # type: ignore[attr-defined]
    assert kept.metric < base.metric / 5 and "test_work" in kept.metrics
    # The tool's rounds reached the keep rule, as within-process samples.
    assert "within-process samples per run, not counted as runs" in kept.reason


@pytest.mark.slow
@pytest.mark.statistical  # wall-clock of whole processes: discarded once under load 16
def test_the_loop_keeps_a_real_win_measured_by_hyperfine(project: Project) -> None:
    """hyperfine times whole processes by the wall clock: on a loaded machine the
    interpreter's start-up dominates and the win shrinks to 20-40% with noisy samples
    (test-slow under load 16 discarded it at noise ±21.5%), hence `statistical`."""
    require_tool("hyperfine")
    _work_project(project)
    project.patch("01-fast.patch", {"src/size.py": "SIZE = 300\n"}, "less work")
    project.patch("02-slow.patch", {"src/extra.py": "EXTRA = 60000\n"}, "more work")
    project.commit("patches")
    # The same two patches as for pytest-benchmark: 3 champion samples and at most 4 of
    # the candidate's (the fixture's defaults) left it at p=0.1 once in three runs under
    # two busy loops; with 5 and up to 8 it was kept 3 of 3.
    project.config(command="hyperfine -N --runs 3 --export-json {output} -n work ./run_work.py",
                   format="hyperfine", name="work", unit="ms", stat="min",
                   calibration_runs=5, repeats=4, max_repeats=8)
    project.commit("hyperfine")
    status, _, engine = run_session(project, tag="hyperfine", new=True)
    assert status == 0
    assert [s for _, s in statuses(engine)] == ["baseline", "keep", "discard"], [
        (e.reason, e.samples, e.champion_samples)
        for e in engine.experiments]  # type: ignore[attr-defined]
    log = [json.loads(x) for x in (project.root / ".git" / "autoresearch" / "sessions"
                                   / "hyperfine" / "log.jsonl").read_text().splitlines()]
    exps = [r for r in log if r["type"] == "experiment"]
    assert all(r["samples"] and all(v > 1 for v in r["samples"]) for r in exps)  # ms


@pytest.mark.parametrize("file, fmt", [
    ("google_benchmark.json", "google-benchmark"), ("criterion_messages.jsonl", "criterion"),
    ("criterion_estimates.json", "criterion")])
def test_sniff_recognises_recorded_outputs(file: str, fmt: str) -> None:
    assert formats.sniff((DATA / file).read_text()) == fmt
    assert formats.sniff("METRIC x=1\n") is None
