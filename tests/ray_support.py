"""Shared by the Ray tests: Ray must be there under CI (the [ray] extra), may be missing
locally (skip); simulated clusters, the `[executor]` table, a session run in a thread, and
waiting for what a remote benchmark leaves behind."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project

BENCH_NODE = {"num_cpus": 1, "resources": {"bench": 1}}
"""A worker node with room for one measurement task (`resources = { bench = 1 }`)."""

SLEEPY_BENCH = '''\
import os, sys, time
flag, started = sys.argv[1], sys.argv[2]
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
if total < 50 and os.path.exists(flag):  # the candidate, the first time only
    os.remove(flag)
    open(started, "w").close()
    time.sleep(60)
print(f"METRIC score={total}")
'''
"""A benchmark whose candidate (score < 50) sleeps once, after touching `started`: the
moment to take its node away."""

CANDIDATES = ((("nums/a.txt", "20\n"), "shrink a"), (("nums/b.txt", "-5\n"), "lower b"))
"""The scripted agent's patches in a sleepy project: both make the score lower."""


def need_ray() -> Any:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not installed (CI must install the [ray] extra)")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    return ray


@contextmanager
def ray_cluster(bench_nodes: int, *, connect: bool = False) -> Iterator[Any]:
    """A simulated cluster (`ray.cluster_utils.Cluster`): a head with no room for
    measurements and `bench_nodes` worker nodes with one slot each (`BENCH_NODE`). This
    process joins it only with `connect` (a session joins it itself)."""
    ray = need_ray()
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves this machine
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(bench_nodes):
            cluster.add_node(**BENCH_NODE)
        cluster.wait_for_nodes()
        if connect:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def measure_pair(executor: Any, project: Project, session: str, champion: str, candidate: str,
                 **where: Any) -> Any:
    """One interleaved champion/candidate pair measured by `executor` (a `RayExecutor`),
    unsandboxed; `where` passes `node=` on."""
    from app.engine.executors.base import MeasureJob
    from tests.test_executor import interleaved

    return executor.measure(MeasureJob(session, interleaved(champion, candidate, 1),
                                       sandbox="none"), common_dir=project.root / ".git",
                            **where)


def executor_table(address: str, cache: Path | None = None, *, resources: str = "",
                   max_concurrent: int | None = None, env: dict[str, str] | None = None
                   ) -> str:
    """The `[executor]` table of a Ray session: the node cache folder, when given, and
    `env` set in the Ray workers' environment."""
    lines = ["[executor]", 'kind = "ray"', f'address = "{address}"']
    if resources:
        lines.append(f"resources = {{ {resources} }}")
    if max_concurrent is not None:
        lines.append(f"max_concurrent = {max_concurrent}")
    variables = {**({"AUTORESEARCH_NODE_CACHE": str(cache)} if cache else {}), **(env or {})}
    if variables:
        lines += ["", "[executor.runtime_env.env_vars]",
                  *(f'{name} = "{value}"' for name, value in variables.items())]
    return "\n" + "\n".join(lines) + "\n"


def sleepy_project(project: Project, tmp_path: Path, address: str, *,
                   cache: Path | None = None, sleep_s: int = 60, candidates: int = 1,
                   **metric: object) -> Path:
    """Make `project` a Ray session on `address` (no sandbox, measurements where
    `resources = { bench = 1 }`) with `SLEEPY_BENCH` sleeping `sleep_s` once, and the
    first `candidates` of `CANDIDATES` as its patches, all committed. Returns the file the
    candidate's benchmark touches when it starts sleeping."""
    flag, started = tmp_path / "sleep-once", tmp_path / "started"
    flag.touch()
    project.write("bench.py", SLEEPY_BENCH.replace("time.sleep(60)", f"time.sleep({sleep_s})"))
    project.config('[session]\nsandbox = "none"\n' + executor_table(
        address, cache, resources="bench = 1"), command=f"python3 bench.py {flag} {started}",
        **metric)
    project.commit("sleepy bench")
    for i, ((path, text), subject) in enumerate(CANDIDATES[:candidates], 1):
        project.patch(f"{i:04d}.patch", {path: text}, subject)
    project.commit("patches")
    return started


def wait_for(ready: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        time.sleep(0.1)


def wait_for_file(path: Path, seconds: float = 120) -> str:
    """The text of `path` once a remote benchmark has written it."""
    wait_for(lambda: path.exists() and bool(path.read_text().strip()),
             f"{path.name} appearing (the remote benchmark starting)", seconds)
    return path.read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def kill_left_in(folder: Path) -> list[int]:
    """SIGKILL the processes other than this one whose working directory is inside
    `folder` (this test's own): what a killed Ray head leaves behind (its nodes' agents
    outlive it by a minute or more; a benchmark whose Ray worker died goes on)."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd").removesuffix(" (deleted)"))
        except OSError:
            continue
        if cwd.is_relative_to(folder):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except ProcessLookupError:
                pass
    return killed


class SessionThread:
    """A session opened on `root` and run in a thread (so that the test can take nodes
    away meanwhile: Ray's Cluster wants the main thread); `join` returns its exit status."""

    def __init__(self, root: Path, sink: Callable[[Any], None] | None = None) -> None:
        from app.engine.controller import LoopController
        from app.engine.launch import LaunchOptions
        from app.engine.session import open_session

        self.engine = open_session(LaunchOptions(cwd=root))
        self.controller = LoopController()
        self.events: list[Any] = []
        self._sink = sink or self.events.append
        self._status: list[int] = []
        self._thread = threading.Thread(target=lambda: self._status.append(
            self.engine.run(self._sink, self.controller)))

    def __enter__(self) -> SessionThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
        self._thread.join(60)
        self.engine.close()

    def remove_node_of(self, cluster: Any, n: int) -> str:
        """Take away the worker node measuring experiment `n`; its id ('' if not found)."""
        node = self.engine.setup.remote.pinned(n)
        for worker in list(cluster.worker_nodes):
            if worker.node_id == node:
                cluster.remove_node(worker)
                return str(node)
        return ""

    def join(self, seconds: float = 180) -> int:
        self._thread.join(seconds)
        assert not self._thread.is_alive(), "the session did not end"
        assert self._status, "the session's thread failed"
        return self._status[0]
