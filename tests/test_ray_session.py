"""A whole session measured through Ray (`[executor] kind = "ray"`, `address = "local"`):
the real loop, the scripted agent's patches, a real benchmark, a private local Ray."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.engine.records import Status
from tests.conftest import Project, run_session
from tests.ray_support import executor_table, need_ray

pytestmark = [pytest.mark.ray, pytest.mark.slow]

BENCH = '''\
import os, sys
sys.path.insert(0, "src")
import lib
lib.f()
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={total}")
print(f"METRIC on_node={1 if os.environ.get('AUTORESEARCH_TEST_ON_NODE') else 0}")
'''


def test_a_session_measured_on_local_ray(project: Project, tmp_path: Path) -> None:
    """Statuses as the local loop would give them, every sample from a Ray task (a variable
    only the Ray workers have), the node recorded, and an attack from the node refused:
    a candidate whose code rewrites the checks while the benchmark runs is `rejected`."""
    need_ray()
    assert "AUTORESEARCH_TEST_ON_NODE" not in os.environ
    cache = tmp_path / "node-cache"
    project.write("bench.py", BENCH)
    project.config('[session]\nenv = ["AUTORESEARCH_TEST_ON_NODE"]\n' + executor_table(
        "local", cache, max_concurrent=1, env={"AUTORESEARCH_TEST_ON_NODE": "1"}))
    project.commit("measured on ray")
    project.patch("0001.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.patch("0002.patch", {"nums/b.txt": "40\n"}, "grow b")
    project.patch("0003.patch", {"src/lib.py": "def f():\n    open('check.py', 'w')"
                                 ".write('print(1)')\n"}, "rewrite the checks")
    project.commit("patches")
    status, events, engine = run_session(project)
    assert status == 0
    records = [json.loads(line) for line in engine.paths.log.read_text().splitlines()]
    exps = {r["n"]: r for r in records if r.get("type") == "experiment"}
    assert [exps[n]["status"] for n in sorted(exps)] == [
        Status.BASELINE, Status.KEEP, Status.DISCARD, Status.REJECTED], \
        [(e["status"], e["reason"]) for e in exps.values()]
    assert "changed protected files: check.py" in exps[3]["reason"]
    for n in (0, 1, 2):
        assert exps[n]["executor"] == "ray" and exps[n]["node"] and exps[n]["host"]
        assert exps[n]["metrics"]["on_node"] == 1.0  # measured in a Ray worker
    assert len({exps[n]["node"] for n in (0, 1, 2)}) == 1
    # Champion and candidate alternate (interleaving is on for remote measurement).
    assert exps[1]["champion_samples"] and len(exps[1]["champion_samples"]) > 3
    assert engine.setup.remote.runs >= 3 + 2 * 2 + 2  # baseline, pairs, checks
    assert (cache / "autoresearch-node").is_dir()
    assert (project.root / "check.py").read_text().startswith("import os")  # untouched here


def test_one_ray_task_per_decision(project: Project, tmp_path: Path) -> None:
    """The loop sends each decision's interleaved runs to the node as one task (streamed
    back run by run), not one task per run: a baseline (3 runs and the checks), a keep
    (3 pairs, then the checks) and a discard (3 pairs) are 4 tasks, where one task per run
    made 4 + 7 + 6 = 17; every sample still arrives as its own event."""
    need_ray()
    from app.engine.events import SampleMeasured

    project.config(executor_table("local", tmp_path / "node-cache"), repeats=3,
                   max_repeats=3, calibration_runs=3)
    project.commit("measured on ray")
    project.patch("0001.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.patch("0002.patch", {"nums/b.txt": "40\n"}, "grow b")
    project.commit("patches")
    status, events, engine = run_session(project)
    assert status == 0
    assert [e.status for e in engine.experiments] == [Status.BASELINE, Status.KEEP,
                                                      Status.DISCARD]
    samples = [(e.n, e.role) for e in events if isinstance(e, SampleMeasured)]
    assert samples.count((1, "candidate")) == samples.count((1, "champion")) == 3
    assert samples.count((2, "candidate")) == samples.count((2, "champion")) == 3
    assert engine.setup.remote.runs == 4 + 7 + 6
    # One more at the first launch: the benchmark's traced run (its data files).
    assert engine.setup.remote.executor.tasks == 1 + 4
    # Every planned run was used, so each task was read to its end, never cancelled (a
    # cancel crossing a finished task's reply aborts the whole process in Ray 2.x).
    assert engine.setup.remote.executor.stopped_early == 0


SETUP_BENCH = '''\
import os, sys
if not os.path.exists("deps/where"):
    sys.exit("`session.setup` did not run where the benchmark runs")
words = len(open("data/words.dat").read().split())
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={total + words}")
'''


def test_on_ray_nothing_is_set_up_or_measured_here(project: Project, tmp_path: Path) -> None:
    """With every measurement on the cluster, no measurement tree is made here and
    `[session] setup` runs only on the node (where the benchmark finds its outputs); the
    data the benchmark reads without naming it is still found (a traced run on the node)
    and protected: a patch that shrinks it is `rejected`."""
    need_ray()
    from tests.conftest import require_tool

    require_tool("strace")
    project.write("bench.py", SETUP_BENCH)
    project.write("data/words.dat", "a b c d e f\n")
    project.config('[session]\nsetup = "mkdir -p deps && pwd > deps/where"\n'
                   + executor_table("local", tmp_path / "node-cache"))
    project.commit("setup, data, ray")
    project.patch("0001.patch", {"data/words.dat": "a\n"}, "fewer words")
    project.patch("0002.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.commit("patches")
    status, _, engine = run_session(project)
    assert status == 0
    exps = {e.n: e for e in engine.experiments}
    assert (exps[1].status, exps[2].status) == (Status.REJECTED, Status.KEEP), \
        [(e.status, e.reason) for e in engine.experiments]
    assert "data/words.dat" in exps[1].reason
    start = json.loads(engine.paths.log.read_text().splitlines()[0])
    assert start["data_files"] == ["data/words.dat"]
    assert not (project.root / ".autoresearch" / "measure").exists()
    assert not (engine.paths.worktree / "deps").exists()
    wheres = list((tmp_path / "node-cache").rglob("deps/where"))
    assert wheres and all(str(tmp_path / "node-cache") in w.read_text() for w in wheres)


def test_local_starts_a_private_ray_even_when_another_cluster_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`address = "local"` is a private Ray for this session, whatever RAY_ADDRESS or the
    last `ray start` (/tmp/ray/ray_current_cluster, written by any Ray cluster on the
    machine, e.g. a test's) names: it joined that cluster and then refused `num_cpus`
    (a full slow run failed so while another process's Ray cluster was up)."""
    ray = need_ray()
    from app.config import ExecutorConfig
    from app.engine.executors.ray_exec import RayExecutor

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # nothing listens there
    executor = RayExecutor(ExecutorConfig(kind="ray", address="local"))
    try:
        assert ray.is_initialized()
        assert ray.cluster_resources().get("CPU") == 1.0  # the private one, as asked
    finally:
        executor.close()
    assert not ray.is_initialized()
