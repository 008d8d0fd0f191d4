"""`init` finds the benchmarking tool a project already uses and proposes its command."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from app.config import load_config
from app.onboard import detect_project, format_of_command
from tests.test_init import assert_committed, init, make_repo, run_one

PYTEST_BENCH = '''\
from mod import work


def test_work(benchmark):
    benchmark(work)
'''


def test_pytest_benchmark_in_the_dependencies(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {
        "pyproject.toml": '[project]\nname = "x"\n[project.optional-dependencies]\n'
                          'test = ["pytest", "pytest-benchmark>=4"]\n',
        "benchmarks/test_b.py": PYTEST_BENCH, "mod.py": "def work():\n    return 1\n"})
    found = detect_project(repo)
    assert found.bench_tool == "pytest-benchmark"
    assert found.bench == ("python3 -m pytest -q -p no:cacheprovider benchmarks "
                           "--benchmark-only --benchmark-json={output}")
    assert format_of_command(found.bench) == "pytest-benchmark"


def test_criterion_with_a_benches_folder(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {
        "Cargo.toml": '[package]\nname = "x"\n\n[dev-dependencies]\ncriterion = "0.5"\n\n'
                      '[[bench]]\nname = "parse"\nharness = false\n',
        "benches/parse.rs": "fn main() {}\n", "src/lib.rs": ""})
    found = detect_project(repo)
    assert (found.language, found.bench_tool) == ("rust", "criterion")
    assert format_of_command(found.bench or "") == "criterion"
    # benches/ without criterion is not criterion
    (repo / "Cargo.toml").write_text('[package]\nname = "x"\n')
    assert detect_project(repo).bench_tool != "criterion"


def test_pyperf_script(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {
        "requirements-dev.txt": "pyperf==2.11\n",
        "bench_sort.py": "import pyperf\nrunner = pyperf.Runner(processes=2, values=2)\n"
                         "runner.timeit('sort', 'sorted(x)', 'x = list(range(100))')\n"})
    found = detect_project(repo)
    assert found.bench_tool == "pyperf"
    assert found.bench == "python3 bench_sort.py --quiet -o {output}"
    # The command does not name pyperf: init's trial run reads what the file holds.
    done = init(repo, "--bench", found.bench.replace("python3", sys.executable, 1),
                "--direction", "lower", "--checks", "true", "--yes")
    assert done.returncode == 0, done.stderr
    config = load_config(repo / "autoresearch.toml")
    assert (config.metric.format, config.metric.name) == ("pyperf", "metric")


def test_hyperfine_around_a_bench_script(tmp_path: Path) -> None:
    if not shutil.which("hyperfine"):
        pytest.skip("hyperfine is not installed")
    repo = make_repo(tmp_path / "r", {"bench.sh": "sleep 0.01\n"})
    found = detect_project(repo)
    assert found.bench_tool == "hyperfine"
    assert format_of_command(found.bench or "") == "hyperfine"
    assert "'sh bench.sh'" in (found.bench or "")


def test_no_tool_proposes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"README": "hi\n"})
    found = detect_project(repo)
    assert (found.bench, found.bench_tool) == (None, None)


@pytest.mark.parametrize("command, fmt", [
    ("pytest bench/ --benchmark-only --benchmark-json={output}", "pytest-benchmark"),
    ("hyperfine --export-json {output} './prog'", "hyperfine"),
    ("./bench --benchmark_format=json --benchmark_out={output}", "google-benchmark"),
    ("cargo criterion --message-format=json", "criterion"),
    ("python3 -m pyperf timeit -o {output} 'x'", "pyperf"),
    ("python3 bench.py", "lines"),
])
def test_format_from_the_commands_own_flags(command: str, fmt: str) -> None:
    assert format_of_command(command) == fmt


def init_with_the_proposed_pytest_benchmark_command(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "py", {
        "requirements-dev.txt": "pytest\npytest-benchmark\n",
        "mod.py": "def work():\n    return sum(i * i for i in range(2000))\n",
        "benchmarks/test_b.py": PYTEST_BENCH})
    proposed = detect_project(repo).bench
    assert proposed is not None
    # The test venv's python has pytest-benchmark; the proposal says python3.
    command = proposed.replace("python3", sys.executable, 1)
    done = init(repo, "--bench", command, "--direction", "lower", "--agent", "scripted",
                "--checks", "true", "--yes")
    assert done.returncode == 0, done.stderr
    assert "benchmarks: pytest-benchmark" in done.stdout
    assert_committed(repo)
    config = load_config(repo / "autoresearch.toml")
    assert (config.metric.format, config.metric.name) == ("pytest-benchmark", "metric")
    assert config.metric.unit in ("ns", "us", "ms")
    return repo


def test_init_with_the_proposed_pytest_benchmark_command_writes_a_working_config(
        tmp_path: Path) -> None:
    # init's trial run parses the tool's file; the session on it is the slow test below.
    init_with_the_proposed_pytest_benchmark_command(tmp_path)


@pytest.mark.slow  # a whole session of pytest-benchmark runs (each at least a second)
def test_init_with_the_proposed_pytest_benchmark_command_runs_a_session(
        tmp_path: Path) -> None:
    repo = init_with_the_proposed_pytest_benchmark_command(tmp_path)
    (repo / "patches").mkdir()
    ran = run_one(repo)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "#0 baseline" in ran.stdout


GBENCH_SOURCE = '''\
#include <benchmark/benchmark.h>

static void BM_Sort(benchmark::State& state) {
  for (auto _ : state) {}
}
BENCHMARK(BM_Sort);
BENCHMARK_MAIN();
'''


def test_google_benchmark_linked_by_a_cmake_target(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {
        "CMakeLists.txt": "cmake_minimum_required(VERSION 3.16)\nproject(sorts CXX)\n"
                          "find_package(benchmark REQUIRED)\nadd_subdirectory(bench)\n",
        "bench/CMakeLists.txt": "add_executable(sort_bench sort_bench.cc)\n"
                                "target_link_libraries(sort_bench PRIVATE\n"
                                "    benchmark::benchmark)\n",
        "bench/sort_bench.cc": GBENCH_SOURCE, "src/sort.cc": "int f() { return 1; }\n"})
    found = detect_project(repo)
    assert found.bench_tool == "google-benchmark"
    assert found.bench == ("cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build "
                           "build --target sort_bench && ./build/bench/sort_bench "
                           "--benchmark_format=json --benchmark_out={output}")
    assert format_of_command(found.bench) == "google-benchmark"


def test_google_benchmark_from_an_include_without_cmake(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"bench/micro.cpp": GBENCH_SOURCE,
                                      "src/lib.cpp": "int f() { return 1; }\n"})
    found = detect_project(repo)
    assert found.bench_tool == "google-benchmark"
    assert found.bench == ("c++ -O2 -std=c++17 bench/micro.cpp -o micro -lbenchmark "
                           "-lpthread && ./micro --benchmark_format=json "
                           "--benchmark_out={output}")
    assert format_of_command(found.bench) == "google-benchmark"


def test_google_benchmark_is_not_claimed_for_other_cpp_or_vendored_copies(
        tmp_path: Path) -> None:
    # Plain C++, a mention in a comment, and Google Benchmark's own sources vendored under
    # third_party/ or fetched into build/: none is the project's benchmark.
    repo = make_repo(tmp_path / "r", {
        "CMakeLists.txt": "project(x CXX)\nadd_executable(app main.cc)\n"
                          "# benchmark::benchmark would go here\n",
        "main.cc": "// see benchmark/benchmark.h upstream\nint main() { return 0; }\n",
        "third_party/benchmark/test/basic_test.cc": GBENCH_SOURCE,
        "third_party/benchmark/CMakeLists.txt":
            "target_link_libraries(basic_test benchmark::benchmark)\n",
        "build/_deps/x.cc": GBENCH_SOURCE})
    assert detect_project(repo).bench_tool is None
