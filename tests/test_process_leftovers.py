"""Processes a measured command leaves behind, attacked: a benchmark whose code under test
starts a daemon in its own session (`setsid sleep ... &`), one that double-forks (the
grandchild is re-parented away from the command), and one that hangs until it times out
(the harness kills it). Driven through the real loop with the scripted agent, under
bubblewrap and without it.

Afterwards nothing may be left: no process of the attack alive anywhere, and no child of
the harness (this test process) that is a zombie or still running. The harness is a child
subreaper as soon as one command ran without bubblewrap (a hook, a notify command, the
fallback sandbox), so re-parented descendants come to it, also under bwrap: a bubblewrap
killed on a timeout leaves its sandboxed child to the subreaper, which must reap it (a full
test run once piled up ~90 `[bwrap]` zombies under pytest).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from app.engine.process import become_subreaper, spared
from tests.conftest import Project
from tests.test_clean_room import BOTH, assert_not_kept, decided, run, setup_project

DAEMON = '''\
import subprocess


def score(total):
    subprocess.Popen("setsid sleep {marker} >/dev/null 2>&1 &", shell=True)
    return total + 1
'''

DOUBLE_FORK = '''\
import os


def score(total):
    if os.fork() == 0:
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "{marker}"])
        os._exit(0)
    os.wait()
    return total + 1
'''

HANG = '''\
import subprocess, time


def score(total):
    subprocess.Popen(["sleep", "{marker}"])
    time.sleep(60)
    return total
'''


def _children() -> dict[int, str]:
    """This process's children: pid -> state letter (Z for a zombie)."""
    out: dict[int, str] = {}
    for task in os.listdir("/proc/self/task"):
        try:
            pids = Path(f"/proc/self/task/{task}/children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            out[int(pid)] = stat[stat.rfind(")") + 2:].split()[0]
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("sandbox", BOTH)
def test_no_process_or_zombie_is_left_after_experiments_that_leave_processes(
        project: Project, sandbox: str) -> None:
    setup_project(project, sandbox)
    text = (project.root / "autoresearch.toml").read_text()
    (project.root / "autoresearch.toml").write_text(
        text.replace("timeout_s = 30", "timeout_s = 4"))
    project.commit("a short timeout")
    tag = uuid.uuid4().int % 10**6
    markers = [f"{n}{tag:06d}" for n in (301, 302, 303)]  # sleep takes a number
    for i, (lib, marker) in enumerate(zip((DAEMON, DOUBLE_FORK, HANG), markers), 1):
        project.patch(f"{i:02d}.patch", {"src/lib.py": lib.replace("{marker}", marker)},
                      f"attack {i}")
    project.commit("patches")
    become_subreaper()
    before = _children()
    try:
        engine, _ = run(project)
        assert_not_kept(engine, 1, "discard")
        assert_not_kept(engine, 2, "discard")
        assert decided(engine)[3][0] == "timeout", decided(engine)
        time.sleep(0.3)
        for marker in markers:
            alive = subprocess.run(["pgrep", "-af", f"sleep {marker}"],
                                   capture_output=True, text=True).stdout.strip()
            assert alive == "", f"a process outlived its run: {alive}"
        # The harness's own background `git repack` (started at the session's end) is
        # not a leftover; it is reaped by its Popen or by the next sweep.
        left = {pid: state for pid, state in _children().items()
                if pid not in before and pid not in spared()}
        assert left == {}, "children of the harness left behind (Z = zombie): " + ", ".join(
            f"{pid} {state} {_comm(pid)}" for pid, state in left.items())
    finally:
        for marker in markers:
            subprocess.run(["pkill", "-f", f"sleep {marker}"], check=False)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def test_the_harness_spares_its_own_background_processes(tmp_path: Path) -> None:
    """The leftover sweep kills re-parented orphans in other sessions; the harness's own
    background `git repack` (also in its own session, so a Ctrl-C does not stop it) is not
    one of them."""
    from app.engine.process import run_command, spare

    become_subreaper()
    own = subprocess.Popen(["sleep", "30"], start_new_session=True)
    spare(own.pid)
    try:
        result = run_command("(setsid sleep 31 &); true", tmp_path, 10)
        assert result.ok
        assert own.poll() is None, "the sweep killed a process the harness started itself"
        assert result.leftovers_killed >= 1
    finally:
        own.kill()
        own.wait()



def test_a_sweep_never_kills_a_command_another_thread_starts_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: with two measurement slots, one slot's command leaves a daemon behind and
    its sweep goes round (kill, list again) while the other slot starts its benchmark.
    That benchmark is the harness's own running command, not a leftover: it must run to
    its end (it was killed, and its experiment became a crash: "benchmark printed no
    number (stdout was empty)"). The timing is forced: the other slot starts its command
    while the sweep reads the first process it lists."""
    import threading

    from app.engine import process

    become_subreaper()
    wait = f"sleep 60.{uuid.uuid4().int % 10**6}"
    other: list[process.CommandResult] = []
    started = threading.Event()
    real_stat = process._proc_stat

    def other_slot() -> None:
        other.append(process.run_command("sleep 0.2; echo ok", tmp_path, 20))

    def stat_then_start_the_other(pid: int) -> tuple[int, int, int, str] | None:
        if not started.is_set() and threading.current_thread() is threading.main_thread():
            started.set()
            threading.Thread(target=other_slot, daemon=True).start()
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline and not process._LIVE:
                time.sleep(0.01)  # (it cannot register while a sweep lists: the lock)
        return real_stat(pid)

    monkeypatch.setattr(process, "_proc_stat", stat_then_start_the_other)
    try:
        litter = process.run_command(f"(setsid {wait} &); true", tmp_path, 10)
        assert litter.leftovers_killed >= 1, "nothing to sweep: no attack"
        assert started.is_set()
        deadline = time.monotonic() + 20
        while not other and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subprocess.run(["pkill", "-f", wait], check=False)
    assert other, "the other slot's command never ended"
    assert (other[0].exit_code, other[0].stdout.strip()) == (0, "ok"), other[0]


def test_a_command_whose_status_is_lost_is_a_failure_not_a_pass(tmp_path: Path) -> None:
    """Attack: something else in the harness's process reaps a running command (a library
    calling waitpid, as the leftover sweep once did). Its exit status is then unknown;
    Popen would report 0, which for the checks would be a pass of a suite that never
    finished. It must be a failure that says why."""
    import threading

    from app.engine import process

    result: list[process.CommandResult] = []
    thread = threading.Thread(target=lambda: result.append(process.run_command(
        "sleep 0.3; echo '1 passed'", tmp_path, 20)))
    thread.start()
    deadline = time.monotonic() + 10
    while not process._LIVE and time.monotonic() < deadline:
        time.sleep(0.005)
    pid = next(iter(process._LIVE))
    os.kill(pid, 9)
    os.waitpid(pid, 0)  # the stray reaper
    thread.join(20)
    assert result and not result[0].ok, result
    assert "exit status was lost" in result[0].failure()
