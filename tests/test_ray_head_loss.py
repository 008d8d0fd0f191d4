"""The cluster's head node lost while a candidate is measured. Ray ends a driver whose GCS
has been gone for a minute (and a restarted head is a new cluster), so the session cannot
wait for it: it stops within seconds, on its own terms. Run as a real `run --headless`
process, because the Ray driver is that process: the simulated cluster belongs to the
test, which never joins it, and kills the head's processes under the session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.ray_support import kill_left_in, ray_cluster, sleepy_project, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_a_lost_head_stops_the_session_cleanly_with_exit_3(project: Project,
                                                           tmp_path: Path) -> None:
    """The head (GCS and its raylet) killed in the middle of the candidate's benchmark:
    the process ends by itself before Ray's minute is up, with exit status 3 (Ray's end is
    1) and one line that names the head and says how to resume; the candidate is
    `infra_error` (not a discard, not measured elsewhere: there is no cluster left), the
    log whole and closed with a `session_end`, the worktree clean at the champion."""
    with ray_cluster(1) as cluster:
        # The candidate's benchmark sleeps 15 s once, well within its timeout: on its worker
        # node it goes on after the head is gone, and the session must not wait for it.
        started = sleepy_project(project, tmp_path, cluster.address,
                                 cache=tmp_path / "node-cache", sleep_s=15, candidates=2,
                                 timeout_s=60)
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        session = subprocess.Popen([sys.executable, "-m", "app", "run", "--headless"],
                                   cwd=project.root, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            wait_for(started.exists, "the candidate's benchmark starting", 120)
            cluster.head_node.kill_all_processes(check_alive=False, allow_graceful=False)
            # Ray's own end of the driver would come 60 s after, with exit status 1.
            out, err = session.communicate(timeout=120)
        finally:
            if session.poll() is None:
                session.kill()
                session.communicate()
    kill_left_in(tmp_path)
    assert session.returncode == 3, (session.returncode, out[-2000:], err[-3000:])
    assert "head node (GCS at" in out + err and "launch again to resume" in out + err
    state = project.root / ".git" / "autoresearch" / "sessions"
    (log,) = state.glob("*/log.jsonl")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    exps = {r["n"]: r for r in records if r["type"] == "experiment"}
    assert exps[0]["status"] == "baseline"
    assert exps[1]["status"] == "infra_error", (exps[1]["reason"], out)
    assert "head node" in exps[1]["reason"]
    assert 2 not in exps  # nothing more is proposed once the head is gone
    assert records[-1]["type"] == "session_end" and records[-1]["exit_status"] == 3
    (worktree,) = (project.root / ".autoresearch" / "worktrees").iterdir()
    assert project.git("-C", str(worktree), "status", "--porcelain") == ""
    champion = project.git("rev-parse", f"autoresearch/{worktree.name}").strip()
    assert project.git("-C", str(worktree), "rev-parse", "HEAD").strip() == champion
