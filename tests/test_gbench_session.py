"""A real session measured in Google Benchmark's JSON (issue 17).

The benchmark command is a tiny replay of a recorded real Google Benchmark output
(tests/data/formats/google_benchmark.json, written by Debian's libbenchmark 1.7.1): it
writes the recorded document to `{output}` with every time scaled by the code's speed
factor (`src/speed.py`), so patches to the code change the times the harness reads, in
the tool's own format, through the real loop and the scripted agent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.test_engine import run_session, statuses

RECORDED = Path(__file__).parent / "data" / "formats" / "google_benchmark.json"

REPLAY = '''\
import json, sys

sys.path.insert(0, ".")
from src.speed import FACTOR

out = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--benchmark_out="))
with open("bench/recorded.json") as handle:
    doc = json.load(handle)
for b in doc["benchmarks"]:
    if b.get("aggregate_name") != "cv":
        b["real_time"] *= FACTOR
        b["cpu_time"] *= FACTOR
with open(out, "w") as handle:
    json.dump(doc, handle)
print("Running ./bench_sort")
'''


@pytest.mark.slow
def test_a_session_measured_in_google_benchmark_json_keeps_and_discards(
        project: Project) -> None:
    project.write("bench/recorded.json", RECORDED.read_text())
    project.write("bench/gbench.py", REPLAY)
    project.write("src/__init__.py", "")
    project.write("src/speed.py", "from src.extra import EXTRA\n\nFACTOR = 1.0 * EXTRA\n")
    project.write("src/extra.py", "EXTRA = 1.0\n")
    project.config(command="python3 bench/gbench.py --benchmark_repetitions=3 "
                   "--benchmark_out={output} --benchmark_out_format=json",
                   format="google-benchmark", name="BM_Sort/1024", unit="us",
                   calibration_runs=5, repeats=3, max_repeats=6)
    project.commit("benchmark: Google Benchmark JSON")
    project.patch("01-faster.patch", {"src/speed.py": "from src.extra import EXTRA\n\n"
                                      "FACTOR = 0.7 * EXTRA\n"}, "30% faster")
    project.patch("02-same.patch", {"src/__init__.py": '"""Sorting."""\n'}, "a docstring")
    project.patch("03-slower.patch", {"src/extra.py": "EXTRA = 1.3\n"}, "slower")
    project.commit("patches")
    status, _, engine = run_session(project)
    assert status == 0
    assert statuses(engine) == [(0, "baseline"), (1, "keep"), (2, "discard"),
                                (3, "discard")], [
        (e.reason, e.samples) for e in engine.experiments]  # type: ignore[attr-defined]
    base, kept = engine.experiments[0], engine.experiments[1]  # type: ignore[attr-defined]
    # The median of the 3 repetitions of BM_Sort/1024, converted from ns to us.
    recorded = json.loads(RECORDED.read_text())
    times = sorted(b["real_time"] for b in recorded["benchmarks"]
                   if b["name"] == "BM_Sort/1024" and b["run_type"] == "iteration")
    assert base.metric == pytest.approx(times[1] / 1000)
    assert kept.metric == pytest.approx(0.7 * times[1] / 1000)
    assert "within-process samples per run, not counted as runs" in kept.reason
