"""Veto and quit cancel the remote measurement (`ray.cancel`): through the real loop and
controller on a private local Ray, the benchmark's process on the node is gone within
seconds and the experiment is `vetoed` / `interrupted`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Project
from tests.ray_support import SessionThread, executor_table, gone_within, need_ray, wait_for_file

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


def test_veto_and_quit_cancel_the_remote_benchmark(project: Project, tmp_path: Path) -> None:
    need_ray()
    from app.engine.records import Status

    pids = tmp_path / "pids"
    pids.mkdir()
    project.write("bench.py", HANGING_BENCH)
    project.config('[session]\nsandbox = "none"\n' + executor_table(
        "local", tmp_path / "node-cache"), command=f"python3 bench.py {pids}", timeout_s=300)
    project.commit("hanging candidates")
    project.patch("0001.patch", {"slow.txt": "1\n"}, "veto me")
    project.patch("0002.patch", {"slow.txt": "2\n"}, "quit during me")
    project.commit("patches")
    with SessionThread(project.root, lambda e: None) as session:
        first = int(wait_for_file(pids / "pid-1"))
        session.controller.veto("too slow")
        assert gone_within(first, 20), "the vetoed candidate's benchmark outlived the veto"
        second = int(wait_for_file(pids / "pid-2"))
        session.controller.stop()
        assert gone_within(second, 20), "the benchmark outlived the quit"
        session.join(60)
    exps = {e.n: e for e in session.engine.experiments}
    assert exps[1].status is Status.VETOED and "too slow" in exps[1].reason
    assert exps[2].status is Status.INTERRUPTED
