"""Several decisions measured at once on a cluster (`[parallel] workers` > 1 with
`[executor] kind = "ray"`): each worker's decision is one task on one node, and up to
`max_concurrent` of them run at once (by default what the cluster can run at once).
On a simulated cluster of three one-slot nodes; the benchmark sleeps (this machine has
two cores), so what the test sees is concurrency, not speed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import ExecutorConfig
from tests.conftest import Project
from tests.ray_support import SessionThread, executor_table, ray_cluster

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RENDEZVOUS_BENCH = '''\
import json, os, sys, time
meet, log = sys.argv[1], sys.argv[2]
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
began = time.time()
if total < 50:
    # A candidate's runs wait (30 s at most) until a run in another measurement tree (a
    # task running at the same moment) has come here: one decision at a time never does.
    open(os.path.join(meet, os.path.basename(os.getcwd())), "w").close()
    deadline = time.time() + 30
    while len(os.listdir(meet)) < 2 and time.time() < deadline:
        time.sleep(0.05)
time.sleep(0.3)
with open(log, "a") as handle:
    handle.write(json.dumps([os.getcwd(), began, time.time()]) + "\\n")
print(f"METRIC score={total}")
'''


@pytest.fixture(scope="module")
def three_nodes() -> Iterator[Any]:
    with ray_cluster(3) as cluster:
        yield cluster


def most_at_once(spans: list[tuple[str, float, float]]) -> int:
    """The most tasks whose runs overlapped at one moment (a task running holds its own
    measurement tree on the node's cache, app/engine/executors/node.py)."""
    return max(len({tree for tree, began, ended in spans if began <= t < ended})
               for _, t, _ in spans)


def test_decisions_are_measured_at_once_up_to_max_concurrent(
        project: Project, tmp_path: Path, three_nodes: Any) -> None:
    """Three workers, three free nodes, `max_concurrent = 2`: two candidates' decisions
    run at once (their benchmarks meet), never three; each decision is read to its end
    (no task cancelled) and every record names the node that measured it."""
    from app.engine.records import Status

    meet, log = tmp_path / "meet", tmp_path / "runs.jsonl"
    meet.mkdir()
    project.write("bench.py", RENDEZVOUS_BENCH)
    project.config('[session]\nsandbox = "none"\n\n[parallel]\nworkers = 3\n' + executor_table(
        three_nodes.address, tmp_path / "node-cache", resources="bench = 1",
        max_concurrent=2), command=f"python3 bench.py {meet} {log}", repeats=2, max_repeats=2,
        timeout_s=60)
    project.commit("rendezvous bench")
    # Each candidate adds its own file: after one is kept, the others still apply.
    for i, value in enumerate(("-10", "-11", "-12")):
        project.patch(f"000{i + 1}.patch", {f"nums/c{i}.txt": value + "\n"}, f"lower {i}")
    project.commit("patches")
    with SessionThread(project.root) as session:
        status = session.join()
    assert status == 0
    exps = {e.n: e for e in session.engine.experiments}
    assert all(e.status in (Status.BASELINE, Status.KEEP, Status.DISCARD)
               for e in exps.values()), [(e.status, e.reason) for e in exps.values()]
    assert all(e.executor == "ray" and e.node for e in exps.values())
    spans = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    assert most_at_once(spans) == 2, spans  # two at once; the third waited
    assert len({e.node for e in exps.values() if e.n}) >= 2
    assert session.engine.setup.remote.executor.stopped_early == 0


def test_by_default_as_many_as_the_cluster_can_run(three_nodes: Any) -> None:
    """`max_concurrent` left out: the cluster's capacity for the task's resources (three
    one-slot nodes: 3; a head with no room counts for nothing), never more than there are
    workers; a task no node can hold counts for nothing, and leaves one (it waits)."""
    from app.engine.executors.ray_exec import RayExecutor, connect

    config = ExecutorConfig(kind="ray", address=three_nodes.address, resources={"bench": 1})
    connect(config)
    try:
        executor = RayExecutor(config)
        assert executor.capacity() == 3
        assert [executor.concurrent_decisions(w) for w in (1, 2, 3, 8)] == [1, 2, 3, 3]
        two_cpus = RayExecutor(ExecutorConfig(kind="ray", address=three_nodes.address,
                                              resources={"bench": 1, "CPU": 2}))
        assert two_cpus.capacity() == 0 and two_cpus.concurrent_decisions(4) == 1
        capped = RayExecutor(ExecutorConfig(kind="ray", address=three_nodes.address,
                                            resources={"bench": 1}, max_concurrent=2))
        assert capped.concurrent_decisions(8) == 2
    finally:
        import ray

        ray.shutdown()
