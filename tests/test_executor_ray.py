"""The Ray executor on a private single-node Ray (`address = "local"`, 2 CPUs): real git
repositories, real benchmark commands, the node's part running in Ray worker processes."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import ExecutorConfig
from app.engine.executors.base import MeasureJob, RunSpec
from tests.conftest import Project
from tests.ray_support import gone_within, measure_pair, need_ray, wait_for_file
from tests.test_executor import interleaved, two_commits

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    need_ray()
    from app.engine.executors.ray_exec import RayExecutor, connect, shutdown

    cache = tmp_path_factory.mktemp("ray-node-cache")
    config = ExecutorConfig(kind="ray", address="local", runtime_env={
        "env_vars": {"AUTORESEARCH_NODE_CACHE": str(cache)}})
    connect(config, num_cpus=2)
    try:
        yield RayExecutor(config), cache
    finally:
        shutdown()


def test_champion_and_candidate_run_on_one_ray_node_interleaved(
        project: Project, local_ray: tuple[Any, Path]) -> None:
    import ray

    executor, _ = local_ray
    champion, candidate = two_commits(project)
    job = MeasureJob("r1", interleaved(champion, candidate, 2), sandbox="auto")
    result = executor.measure(job, common_dir=project.root / ".git")
    assert result.status == "ok", result.reason
    assert result.executor == "ray"
    assert result.node in {n["NodeID"] for n in ray.nodes()}
    assert result.host and result.bundle_bytes > 0
    assert result.isolation == ("bwrap" if shutil.which("bwrap") else "none")
    assert [r.spec.role for r in result.runs] == ["champion", "candidate"] * 2
    assert [("score=50.0" in r.result.stdout, "score=20.0" in r.result.stdout)
            for r in result.runs] == [(True, False), (False, True)] * 2
    spans = [(r.started, r.ended) for r in result.runs]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    # The task ran in a Ray worker process, not in this one.
    assert result.runs[0].result.ok


def test_a_repeat_sends_only_the_new_commits(project: Project,
                                             local_ray: tuple[Any, Path]) -> None:
    executor, cache = local_ray
    champion, candidate = two_commits(project)
    first = measure_pair(executor, project, "r2", champion, candidate)
    same = measure_pair(executor, project, "r2", champion, candidate)
    project.write("nums/b.txt", "1\n")
    newer = project.commit("another candidate")
    delta = measure_pair(executor, project, "r2", champion, newer)
    assert first.status == same.status == delta.status == "ok"
    assert same.bundle_bytes == 0
    assert 0 < delta.bundle_bytes < first.bundle_bytes
    assert "score=21.0" in delta.runs[1].result.stdout
    # A node that lost its cache (a restart) asks for, and gets, the whole bundle.
    shutil.rmtree(cache / "autoresearch-node" / "r2")
    project.write("nums/b.txt", "2\n")
    third = project.commit("a third candidate")
    again = measure_pair(executor, project, "r2", champion, third)
    assert again.status == "ok", again.reason
    assert "score=22.0" in again.runs[1].result.stdout
    assert again.bundle_bytes > delta.bundle_bytes  # the full bundle went the second time


def test_a_pinned_job_runs_on_the_named_node(project: Project,
                                             local_ray: tuple[Any, Path]) -> None:
    executor, _ = local_ray
    champion, candidate = two_commits(project)
    first = measure_pair(executor, project, "r3", champion, candidate)
    pinned = measure_pair(executor, project, "r3", champion, candidate, node=first.node)
    assert pinned.node == first.node


def test_stopping_cancels_the_remote_command(project: Project, tmp_path: Path,
                                             local_ray: tuple[Any, Path]) -> None:
    """Veto or quit while a remote benchmark runs: the task is cancelled and its command's
    process is gone, within seconds."""
    executor, _ = local_ray
    champion, candidate = two_commits(project)
    pidfile = tmp_path / "bench.pid"
    command = f"echo $$ > {pidfile}; exec sleep 60"
    job = MeasureJob("r4", (RunSpec("candidate", candidate, command, 120),), sandbox="none")
    cancel = threading.Event()
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(executor.measure(
        job, common_dir=project.root / ".git", cancel=cancel)))
    thread.start()
    pid = int(wait_for_file(pidfile, 60))
    cancel.set()
    thread.join(30)
    assert not thread.is_alive() and done[0].status == "cancelled"
    assert gone_within(pid, 15), "the benchmark outlived the cancelled task"


def test_asking_a_private_ray_for_a_gpu_it_lacks_is_one_sentence(
        local_ray: tuple[Any, Path]) -> None:
    from app.engine.executors.ray_exec import RayExecutor
    from app.errors import UsageError

    executor, _ = local_ray
    config = ExecutorConfig(kind="ray", address="local", resources={"GPU": 1})
    try:
        RayExecutor(config)
    except UsageError as exc:
        assert "GPU = 1" in str(exc) and "has 0" in str(exc)
    else:
        pytest.fail("a task that can never be scheduled was accepted")
