"""Loose objects: every experiment leaves some (pygit2 writes objects loose); the session
packs them in a background `git repack` at its end and every `PACK_EVERY` experiments,
without ever waiting for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.engine import gitops
from app.engine.controller import LoopController
from app.engine.events import Event, SessionEnded
from app.engine.launch import LaunchOptions
from app.engine.session import open_session
from tests.conftest import Project

ROOT = Path(__file__).parents[1]


def loose_objects(git_dir: Path) -> set[str]:
    """Ids of the loose objects (the pack run may remove folders as we walk them)."""
    found: set[str] = set()
    for folder, _, files in os.walk(git_dir / "objects"):
        name = Path(folder).name
        if len(name) == 2 and name != "pack":
            found |= {name + f for f in files if len(f) == 38}
    return found


def reachable(project: Project) -> set[str]:
    out = project.git("rev-list", "--objects", "--all")
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def slow_git(tmp_path: Path) -> Path:
    """A `git` first on PATH whose `repack` notes each start, waits until the test creates
    `go` in the returned folder (60 s at most), then packs and notes its end (any other git
    command runs at once). A gate, not a sleep: what the tests assert then holds however
    slow the machine is."""
    folder = tmp_path / "slowbin"
    folder.mkdir()
    real = shutil.which("git")
    script = folder / "git"
    script.write_text(f'#!/bin/sh\ncase "$*" in *repack*) ;; *) exec {real} "$@";; esac\n'
                      f"echo start >> {folder}/starts\n"
                      "end=$(($(date +%s) + 60))\n"
                      f'while [ ! -e {folder}/go ] && [ "$(date +%s)" -lt "$end" ]; do '
                      "sleep 0.1; done\n"
                      f'{real} "$@"\necho done >> {folder}/ends\n')
    script.chmod(0o755)
    return folder


def story(project: Project) -> None:
    project.patch("01.patch", {"nums/a.txt": "40\n"}, subject="Lower a")
    project.patch("02.patch", {"nums/b.txt": "-3\n"}, subject="Lower b")
    project.config(calibration_runs=1, repeats=1, max_repeats=1)
    project.commit("patches")


def test_the_session_end_packs_the_loose_objects(project: Project) -> None:
    story(project)
    git_dir = project.root / ".git"
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless"],
                          cwd=project.root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    wanted = reachable(project)
    assert len(wanted) > 20  # the candidates, keeps and their trees are all there
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        loose = loose_objects(git_dir)
        if not loose & wanted:
            break
        time.sleep(0.2)
    assert not loose & wanted, f"{len(loose & wanted)} reachable objects still loose"
    assert list((git_dir / "objects" / "pack").glob("*.pack"))
    assert project.git("fsck", "--no-progress").strip() == ""  # nothing lost on the way


def test_packing_never_blocks_the_session(project: Project, tmp_path: Path) -> None:
    """A pack run that takes 20 s: the command still ends as soon as the loop does."""
    story(project)
    slow = slow_git(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{slow}{os.pathsep}"
           f"{os.environ['PATH']}"}
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "app", "run", "--headless"],
                              cwd=project.root, capture_output=True, text=True, timeout=300,
                              env=env)
    finally:
        took = time.monotonic() - started
        ended = (slow / "ends").exists()
        (slow / "go").touch()  # the pack may finish now
    assert done.returncode == 0, done.stderr
    assert (slow / "starts").exists(), "no pack run was started"
    # The pack cannot end before the test says go: an end means the session waited for it.
    assert not ended, f"the session waited for the pack (it took {took:.1f} s)"


def test_a_long_session_packs_as_it_goes(project: Project, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PACK_EVERY decided experiments (here 1), a pack starts while the loop runs on;
    one still running is not doubled."""
    story(project)
    slow = slow_git(tmp_path)
    monkeypatch.setenv("PATH", f"{slow}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gitops, "PACK_EVERY", 1)
    engine = open_session(LaunchOptions(cwd=project.root))
    starts_at_end: list[int] = []

    def sink(event: Event) -> None:
        if isinstance(event, SessionEnded):
            starts = slow / "starts"
            starts_at_end.append(len(starts.read_text().splitlines()) if starts.exists()
                                 else 0)

    try:
        assert engine.run(sink, LoopController()) == 0
    finally:
        (slow / "go").touch()
    # Three decisions (baseline, two patches) while the first pack still runs (it waits for
    # the test's go): one run, not three. (It slept 3 s: on a loaded machine a decision
    # took longer, the first pack was over and a second one rightly started.)
    assert starts_at_end == [1]
