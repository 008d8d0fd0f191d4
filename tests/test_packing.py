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


def slow_git(tmp_path: Path, seconds: float) -> Path:
    """A `git` first on PATH whose `repack` notes each start, sleeps, then packs (any other
    git command runs at once)."""
    folder = tmp_path / "slowbin"
    folder.mkdir()
    real = shutil.which("git")
    script = folder / "git"
    script.write_text(f'#!/bin/sh\ncase "$*" in *repack*) ;; *) exec {real} "$@";; esac\n'
                      f"echo start >> {folder}/starts\nsleep {seconds}\n"
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
    slow = slow_git(tmp_path, 20)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{slow}{os.pathsep}"
           f"{os.environ['PATH']}"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless"],
                          cwd=project.root, capture_output=True, text=True, timeout=120, env=env)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert (slow / "starts").exists(), "no pack run was started"
    assert not (slow / "ends").exists() and took < 20, "the session waited for the pack"


def test_a_long_session_packs_as_it_goes(project: Project, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PACK_EVERY decided experiments (here 1), a pack starts while the loop runs on;
    one still running is not doubled."""
    story(project)
    slow = slow_git(tmp_path, 3)
    monkeypatch.setenv("PATH", f"{slow}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gitops, "PACK_EVERY", 1)
    engine = open_session(LaunchOptions(cwd=project.root))
    starts_at_end: list[int] = []

    def sink(event: Event) -> None:
        if isinstance(event, SessionEnded):
            starts = slow / "starts"
            starts_at_end.append(len(starts.read_text().splitlines()) if starts.exists()
                                 else 0)

    assert engine.run(sink, LoopController()) == 0
    # Three decisions (baseline, two patches) in well under 3 s each: one run, not three.
    assert starts_at_end == [1]
