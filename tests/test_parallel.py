"""Parallel experiments (issue #14): the contract (config, launch options, controller,
events) and the behaviour of N workers on real repositories with the scripted agent."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.config import load_config
from app.engine.controller import LoopController
from app.engine.launch import LaunchOptions
from app.engine.session import open_session
from app.errors import UsageError
from tests.conftest import Project

ROOT = Path(__file__).resolve().parents[1]


# -- the contract: config and launch options ----------------------------------------------

@pytest.mark.parametrize(("table", "needle"), [
    ("workers = 0", "`parallel.workers` is 0"),
    ("workers = 1000", "`parallel.workers` is 1000"),
    ("measure_slots = 0", "`parallel.measure_slots` is 0"),
    ("cpus_per_slot = -1", "`parallel.cpus_per_slot` is -1"),
    ("cpus_per_slot = 100000", "`parallel.cpus_per_slot` is 100000"),
    ("gpus_per_slot = -2", "`parallel.gpus_per_slot` must be 0"),
    ("workers = \"4\"", "`parallel.workers` must be a whole number"),
])
def test_bad_parallel_settings_are_one_sentence(project: Project, table: str,
                                                 needle: str) -> None:
    project.config(f"\n[parallel]\n{table}\n")
    with pytest.raises(UsageError) as caught:
        load_config(project.root / "autoresearch.toml")
    message = str(caught.value)
    assert needle in message and "\n" not in message, message


def test_parallel_defaults_are_the_sequential_loop(project: Project) -> None:
    parallel = load_config(project.root / "autoresearch.toml").parallel
    assert (parallel.workers, parallel.measure_slots, parallel.cpus_per_slot,
            parallel.gpus_per_slot) == (1, 1, 0, 0)


def test_workers_flag_is_checked_and_exits_2(project: Project) -> None:
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless", "--workers", "0"],
                          cwd=project.root, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert "--workers must be between 1 and 64" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_flag_overrides_the_config(project: Project) -> None:
    project.config("\n[parallel]\nworkers = 2\n")
    project.commit("two workers")
    session = open_session(LaunchOptions(cwd=project.root, workers=3))
    try:
        assert session.config.parallel.workers == 3
    finally:
        session.close()


# -- the contract: the controller ---------------------------------------------------------

def test_a_veto_reaches_only_its_worker() -> None:
    """Attack: a veto for worker 2 must not cancel worker 1's measurement nor be taken by
    worker 0; a veto without a worker goes to the one waiting for approval."""
    c = LoopController(review=True)
    w0, w1, w2 = c.for_worker(0), c.for_worker(1), c.for_worker(2)
    for w in (w0, w1, w2):
        w.begin_experiment()
    c.veto("too slow", worker=2)
    assert w2.cancel.is_set() and not w1.cancel.is_set() and not w0.cancel.is_set()
    assert w0.take_veto() is None and w1.take_veto() is None
    assert w2.take_veto() == "too slow" and not w2.cancel.is_set()

    answers: dict[int, str] = {}
    waiting = threading.Thread(target=lambda: answers.setdefault(1, w1.wait_for_approval()))
    waiting.start()
    while c.awaiting_approval != (1,):
        threading.Event().wait(0.01)
    c.veto("no")  # no worker named: the one waiting
    waiting.join(5)
    assert answers == {1: "vetoed"} and w1.take_veto() == "no"
    assert w0.take_veto() is None

    waiting = threading.Thread(target=lambda: answers.setdefault(2, w2.wait_for_approval()))
    waiting.start()
    while c.awaiting_approval != (2,):
        threading.Event().wait(0.01)
    c.approve(worker=0)  # not the waiting one: it keeps waiting
    waiting.join(0.3)
    assert waiting.is_alive()
    c.approve()
    waiting.join(5)
    assert answers[2] == "approved"


def test_stop_cancels_every_worker_even_later_ones() -> None:
    c = LoopController()
    w1 = c.for_worker(1)
    c.stop()
    assert c.cancel.is_set() and w1.cancel.is_set() and c.cancel_of(5).is_set()
    w1.begin_experiment()
    assert w1.cancel.is_set() and w1.stopping
