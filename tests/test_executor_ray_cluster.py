"""The Ray executor on a simulated two-node cluster (`ray.cluster_utils.Cluster`): node
pinning, and a node lost in the middle of a measurement."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import ExecutorConfig
from app.engine.executors.base import InfraError, MeasureJob, RunSpec
from tests.conftest import Project
from tests.ray_support import (
    BENCH_NODE,
    SessionThread,
    executor_table,
    measure_pair,
    ray_cluster,
    sleepy_project,
    wait_for,
)
from tests.test_executor import two_commits

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    """A head with no room for measurements and two worker nodes with one slot each."""
    cache = tmp_path_factory.mktemp("ray-cluster-cache")
    with ray_cluster(2) as cluster:
        from app.engine.executors.ray_exec import RayExecutor, connect

        config = ExecutorConfig(kind="ray", address=cluster.address, resources={"bench": 1},
                                runtime_env={"env_vars": {"AUTORESEARCH_NODE_CACHE": str(cache)}})
        connect(config)
        yield RayExecutor(config), (cluster, list(cluster.worker_nodes)), cache


def test_pinned_jobs_follow_their_node(project: Project,
                                       two_nodes: tuple[Any, Any, Path]) -> None:
    executor, (_, nodes), _ = two_nodes
    champion, candidate = two_commits(project)
    ids = {n.node_id for n in nodes}
    seen = set()
    for node in sorted(ids):
        result = measure_pair(executor, project, "c1", champion, candidate, node=node)
        assert result.status == "ok" and result.node == node
        seen.add(result.node)
    assert seen == ids


def test_a_node_lost_mid_measurement_is_an_infra_error(
        project: Project, tmp_path: Path, two_nodes: tuple[Any, Any, Path]) -> None:
    executor, (cluster, nodes), _ = two_nodes
    champion, candidate = two_commits(project)
    started = tmp_path / "started"
    victim = nodes[0]
    job = MeasureJob("c2", (RunSpec("candidate", candidate, f"touch {started}; sleep 60",
                                    120),), sandbox="none")
    outcome: list[Any] = []

    def measure() -> None:
        try:
            outcome.append(executor.measure(job, common_dir=project.root / ".git",
                                            node=victim.node_id))
        except InfraError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=measure)
    thread.start()
    wait_for(started.exists, "the remote benchmark starting", 60)
    cluster.remove_node(victim)
    thread.join(90)
    assert not thread.is_alive()
    assert isinstance(outcome[0], InfraError), outcome
    assert "lost" in str(outcome[0]) or "failed" in str(outcome[0])
    # The other node still measures.
    other = nodes[1].node_id
    again = measure_pair(executor, project, "c2", champion, candidate, node=other)
    assert again.status == "ok" and again.node == other


def test_a_session_measures_again_elsewhere_when_its_node_is_lost(
        project: Project, tmp_path: Path, two_nodes: tuple[Any, Any, Path]) -> None:
    """The real loop through the cluster: the node measuring a candidate is removed in the
    middle of its benchmark; the candidate is measured again on another node and decided
    there (no `crash`, no `discard` for the lost node), with a warning that says so."""
    from app.engine.events import WarningRaised

    _, (cluster, _), _ = two_nodes
    for _ in range(2):
        cluster.add_node(**BENCH_NODE)
    cluster.wait_for_nodes()
    started = sleepy_project(project, tmp_path, cluster.address)
    with SessionThread(project.root) as session:
        wait_for(started.exists, "the candidate's benchmark starting")
        victim = session.remove_node_of(cluster, 1)
        status = session.join()
    assert victim, "the candidate's node was not found"
    assert status == 0
    exps = {e.n: e for e in session.engine.experiments}
    assert exps[1].status == "keep", (exps[1].status, exps[1].reason)
    assert exps[1].node and exps[1].node != victim
    assert any(isinstance(e, WarningRaised) and "measuring it again on another node"
               in e.message for e in session.events)


TWICE_SLEEPY_BENCH = '''\
import os, sys, time
flags, started = sys.argv[1], sys.argv[2]
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
left = sorted(os.listdir(flags))
if total < 50 and left:  # a candidate, while flags are left: one each time
    os.remove(os.path.join(flags, left[0]))
    open(os.path.join(started, left[0]), "w").close()
    time.sleep(60)
print(f"METRIC score={total}")
'''


def test_a_second_node_lost_in_a_row_is_an_infra_error_and_the_session_goes_on(
        project: Project, tmp_path: Path, two_nodes: tuple[Any, Any, Path]) -> None:
    """The node measuring a candidate is removed, the candidate is measured again on
    another node, and that node is removed too: the candidate is `infra_error` with the
    reason (not a discard, not measured a third time), it does not count as an agent
    error (`max_consecutive_errors = 1` would end the session), and the next candidate is
    measured and kept on the node left."""
    from app.engine.events import WarningRaised
    from app.engine.records import Status

    _, (cluster, _), _ = two_nodes
    while len(cluster.worker_nodes) < 3:
        cluster.add_node(**BENCH_NODE)
    cluster.wait_for_nodes()
    flags, started = tmp_path / "flags", tmp_path / "started"
    flags.mkdir()
    started.mkdir()
    for name in ("1", "2"):
        (flags / name).touch()
    project.write("bench.py", TWICE_SLEEPY_BENCH)
    project.config('[session]\nsandbox = "none"\n' + executor_table(
        cluster.address, resources="bench = 1"), command=f"python3 bench.py {flags} {started}")
    text = (project.root / "autoresearch.toml").read_text()
    project.write("autoresearch.toml", text.replace('kind = "scripted"\n', 'kind = "scripted"\n'
                                                    'max_consecutive_errors = 1\n'))
    project.commit("bench that sleeps twice")
    project.patch("0001.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.patch("0002.patch", {"nums/b.txt": "-5\n"}, "lower b")
    project.commit("patches")
    lost = []
    with SessionThread(project.root) as session:
        for name in ("1", "2"):
            wait_for((started / name).exists, f"the candidate's benchmark starting ({name})")
            lost.append(session.remove_node_of(cluster, 1))
        status = session.join()
    assert all(lost) and len(set(lost)) == 2, f"the candidate's nodes were not both found: {lost}"
    assert status == 0
    exps = {e.n: e for e in session.engine.experiments}
    assert exps[1].status is Status.INFRA_ERROR, (exps[1].status, exps[1].reason)
    assert "lost" in exps[1].reason
    assert exps[2].status is Status.KEEP, (exps[2].status, exps[2].reason)
    assert exps[2].node and exps[2].node not in lost
    again = [e.message for e in session.events if isinstance(e, WarningRaised)
             and "measuring it again on another node" in e.message]
    assert len(again) == 1 and again[0].startswith("#1:"), again
    worktree = session.engine.paths.worktree
    assert project.git("-C", str(worktree), "status", "--porcelain") == ""
