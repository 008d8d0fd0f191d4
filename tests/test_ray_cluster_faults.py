"""A cluster that goes away after the start (`ray.cluster_utils.Cluster`: every node that
can measure removed while a candidate is measured), then comes back: the session waits
with backoff, one line per retry naming the next wait, and measures the candidate when a
node is back; neither a discard nor an infra error."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project
from tests.ray_support import need_ray
from tests.test_executor_ray_cluster import SLEEPY_BENCH

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture
def one_node() -> Iterator[Any]:
    """A head with no room for measurements and one worker node that has it."""
    need_ray()
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1, resources={"bench": 1})
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_lost_cluster_is_waited_for_with_backoff(project: Project, tmp_path: Path,
                                                   one_node: Any) -> None:
    from app.engine.controller import LoopController
    from app.engine.launch import LaunchOptions
    from app.engine.records import Status
    from app.engine.session import open_session
    from app.headless import LinePrinter

    cluster = one_node
    flag, started = tmp_path / "sleep-once", tmp_path / "started"
    flag.touch()
    project.write("bench.py", SLEEPY_BENCH)
    project.config(f'''
        [session]
        sandbox = "none"

        [executor]
        kind = "ray"
        address = "{cluster.address}"
        resources = {{ bench = 1 }}

        [executor.runtime_env.env_vars]
        AUTORESEARCH_NODE_CACHE = "{tmp_path / 'node-cache'}"
    ''', command=f"python3 bench.py {flag} {started}")
    project.commit("sleepy bench")
    project.patch("0001.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.commit("patches")
    engine = open_session(LaunchOptions(cwd=project.root))
    gone: list[str] = []
    out = io.StringIO()
    result: list[int] = []
    loop = threading.Thread(target=lambda: result.append(
        engine.run(LinePrinter(out), LoopController())))
    loop.start()
    try:
        # The cluster's only measuring node goes away in the middle of the candidate's
        # benchmark; a new one joins after a while (Ray's Cluster wants its main thread).
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for worker in list(cluster.worker_nodes):
            gone.append(worker.node_id)
            cluster.remove_node(worker)
        time.sleep(8)  # the session retries meanwhile (2 s, 4 s, ...)
        cluster.add_node(num_cpus=1, resources={"bench": 1})
        loop.join(180)
    finally:
        loop.join(60)
        engine.close()
    status = result[0]
    assert gone, "the cluster's node was never removed"
    assert status == 0
    exps = {e.n: e for e in engine.experiments}
    assert exps[1].status is Status.KEEP, (exps[1].status, exps[1].reason)
    assert exps[1].node and exps[1].node not in gone
    lines = out.getvalue().splitlines()
    retries = [line for line in lines if "cannot take measurements" in line]
    assert retries, lines
    assert "retry 1 in 2 s" in retries[0] and "no live node has" in retries[0]
    if len(retries) > 1:
        assert "retry 2 in 4 s" in retries[1]
    assert any("the Ray cluster is back after" in line for line in lines)
