"""A cluster that goes away after the start (`ray.cluster_utils.Cluster`: every node that
can measure removed while a candidate is measured), then comes back: the session waits
with backoff, one line per retry naming the next wait, and measures the candidate when a
node is back; neither a discard nor an infra error."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.ray_support import BENCH_NODE, SessionThread, ray_cluster, sleepy_project, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_a_lost_cluster_is_waited_for_with_backoff(project: Project, tmp_path: Path) -> None:
    from app.engine.records import Status
    from app.headless import LinePrinter

    out = io.StringIO()
    gone: list[str] = []
    with ray_cluster(1) as cluster:
        started = sleepy_project(project, tmp_path, cluster.address,
                                 cache=tmp_path / "node-cache")
        with SessionThread(project.root, LinePrinter(out)) as session:
            # The cluster's only measuring node goes away in the middle of the candidate's
            # benchmark; a new one joins after a while (Ray's Cluster wants its main thread).
            wait_for(started.exists, "the candidate's benchmark starting")
            for worker in list(cluster.worker_nodes):
                gone.append(worker.node_id)
                cluster.remove_node(worker)
            time.sleep(8)  # the session retries meanwhile (2 s, 4 s, ...)
            cluster.add_node(**BENCH_NODE)
            status = session.join()
    assert gone, "the cluster's node was never removed"
    assert status == 0
    exps = {e.n: e for e in session.engine.experiments}
    assert exps[1].status is Status.KEEP, (exps[1].status, exps[1].reason)
    assert exps[1].node and exps[1].node not in gone
    lines = out.getvalue().splitlines()
    retries = [line for line in lines if "cannot take measurements" in line]
    assert retries, lines
    assert "retry 1 in 2 s" in retries[0] and "no live node has" in retries[0]
    if len(retries) > 1:
        assert "retry 2 in 4 s" in retries[1]
    assert any("the Ray cluster is back after" in line for line in lines)
