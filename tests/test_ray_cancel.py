"""Veto and quit cancel the remote measurement (`ray.cancel`): through the real loop and
controller on a private local Ray, the benchmark's process on the node is gone within
seconds and the experiment is `vetoed` / `interrupted`."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project
from tests.ray_support import need_ray
from tests.test_executor_ray import _alive

pytestmark = [pytest.mark.ray, pytest.mark.slow]

HANGING_BENCH = '''\
import os, sys, time
if os.path.exists("slow.txt"):  # the candidates: hang, saying where
    tag = open("slow.txt").read().strip()
    with open(os.path.join(sys.argv[1], f"pid-{tag}"), "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(120)
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={total}")
'''


def _wait_for(path: Path, seconds: float = 120) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise AssertionError(f"{path.name} never appeared: the remote benchmark did not start")


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def test_veto_and_quit_cancel_the_remote_benchmark(project: Project, tmp_path: Path) -> None:
    need_ray()
    from app.engine.controller import LoopController
    from app.engine.launch import LaunchOptions
    from app.engine.records import Status
    from app.engine.session import open_session

    pids = tmp_path / "pids"
    pids.mkdir()
    project.write("bench.py", HANGING_BENCH)
    project.config(f'''
        [session]
        sandbox = "none"

        [executor]
        kind = "ray"
        address = "local"

        [executor.runtime_env.env_vars]
        AUTORESEARCH_NODE_CACHE = "{tmp_path / 'node-cache'}"
    ''', command=f"python3 bench.py {pids}", timeout_s=300)
    project.commit("hanging candidates")
    project.patch("0001.patch", {"slow.txt": "1\n"}, "veto me")
    project.patch("0002.patch", {"slow.txt": "2\n"}, "quit during me")
    project.commit("patches")
    engine = open_session(LaunchOptions(cwd=project.root))
    controller = LoopController()
    result: list[Any] = []
    loop = threading.Thread(target=lambda: result.append(engine.run(lambda e: None,
                                                                     controller)))
    loop.start()
    try:
        first = _wait_for(pids / "pid-1")
        controller.veto("too slow")
        assert _gone_within(first, 20), "the vetoed candidate's benchmark outlived the veto"
        second = _wait_for(pids / "pid-2")
        controller.stop()
        assert _gone_within(second, 20), "the benchmark outlived the quit"
        loop.join(60)
        assert not loop.is_alive(), "the loop did not end after the stop"
    finally:
        controller.stop()
        loop.join(60)
        engine.close()
    exps = {e.n: e for e in engine.experiments}
    assert exps[1].status is Status.VETOED and "too slow" in exps[1].reason
    assert exps[2].status is Status.INTERRUPTED
