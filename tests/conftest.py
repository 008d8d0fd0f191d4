"""Shared fixtures: real git repositories in tmp_path, a tool check that fails under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest


def run_session(project: Project, agent: Any = None,
                **options: Any) -> tuple[int, list[Any], Any]:
    """Open the engine on `project`, run the session to its end and close it: (exit status,
    every event, the engine)."""
    from app.engine.controller import LoopController
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    events: list[Any] = []
    engine = open_session(LaunchOptions(cwd=project.root, **options), agent=agent)
    try:
        status = engine.run(events.append, LoopController())
    finally:
        engine.close()
    return status, events, engine


PYTEST_CHECKS = (f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q "
                 "-p no:cacheprovider")
"""A checks command that runs a project's tests with this venv's pytest. The venv's pytest
plugins (textual snapshots, hypothesis, benchmark) are not loaded: the projects' tests need
none, and loading them cost ~0.8 s of CPU on every checks run of every test session."""

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}

BENCH_PY = '''\
import os, signal, sys, time
if os.path.exists("hang"):
    time.sleep(60)
if os.path.exists("hang_term"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
total = 0.0
for name in sorted(os.listdir("nums")):
    with open(os.path.join("nums", name)) as handle:
        total += float(handle.read())
print("warming up")
print(f"METRIC score={total}")
print(f"METRIC mem={total * 2}")
'''

CHECK_PY = '''\
import os, sys
if os.path.exists("broken"):
    print("test_thing ... FAIL")
    sys.exit(1)
print("all good")
'''


def require_tool(name: str) -> str:
    """The path of a tool the test needs; skip locally, fail under CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must install it)")
        pytest.skip(message)
    return path


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **GIT_ENV}, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def init_repo(root: Path) -> Path:
    """A new, empty repository at `root` (created if missing): branch main, the tests'
    author. Every fixture and helper that makes a repository starts here."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", GIT_ENV["GIT_AUTHOR_NAME"])
    git(root, "config", "user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])
    return root


class Project:
    """A scratch repository with a deterministic benchmark driven by files.

    The benchmark sums the numbers in nums/*.txt (lower is better); files named `hang`,
    `hang_term` make it hang; a file `broken` makes the checks fail.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.root, *args, check=check)

    def commit(self, message: str = "commit") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def patch(self, name: str, changes: dict[str, str | None], subject: str = "") -> Path:
        """Write a patch (against HEAD) that applies `changes` (None deletes a file)."""
        patch_dir = self.root / "patches"
        patch_dir.mkdir(exist_ok=True)
        out = patch_dir / name
        if not changes:
            out.write_text(f"Subject: [PATCH] {subject}\n\n" if subject else "")
            return out
        for rel, text in changes.items():
            path = self.root / rel
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.git("add", "-A", "--", *changes.keys())
        diff = self.git("diff", "--cached", "--binary")
        self.git("reset", "-q", "--hard", "HEAD")
        out.write_text((f"Subject: [PATCH] {subject}\n\n" if subject else "") + diff)
        return out

    def config(self, extra: str = "", **metric: object) -> None:
        lines = ["[metric]", 'command = "python3 bench.py"', 'name = "score"',
                 "calibration_runs = 3", "repeats = 2", "max_repeats = 4", "timeout_s = 20"]
        for key, value in metric.items():
            lines = [x for x in lines if not x.startswith(f"{key} =")]
            lines.append(f"{key} = {value!r}".replace("'", '"'))
        text = "\n".join(lines) + "\n\n[checks]\ncommand = \"python3 check.py\"\n\n" \
            "[agent]\nkind = \"scripted\"\n\n[agent.scripted]\npatches = \"patches\"\n" + \
            textwrap.dedent(extra)
        if "[guard]" not in extra:
            # nums/*.txt play the code under test here: the benchmark reads them, which
            # would make them protected data (app/engine/data_reads.py).
            text += '\n[guard]\nunprotected = ["nums/**"]\n'
        (self.root / "autoresearch.toml").write_text(text)

    def use_script_agent(self, script: Path, body: str,
                         message: str = "use a command agent") -> None:
        """Switch the agent to a command agent running the shell script `body` (written to
        `script`, given the prompt file), and commit that."""
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)
        text = (self.root / "autoresearch.toml").read_text()
        text = text.replace('kind = "scripted"', 'kind = "command"')
        text += f'\n[agent.command]\ncommand = "{script} {{prompt_file}}"\ntimeout_s = 30\n'
        (self.root / "autoresearch.toml").write_text(text)
        self.commit(message)

    def snapshot_user_state(self) -> tuple[str, str, str]:
        return (self.git("rev-parse", "HEAD"), self.git("status", "--porcelain=v1",
                "--untracked-files=all"), self.git("diff", "--cached"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    root = init_repo(tmp_path / "repo")
    p = Project(root)
    p.write("bench.py", BENCH_PY)
    p.write("check.py", CHECK_PY)
    p.write("nums/a.txt", "50\n")
    p.write("nums/b.txt", "0\n")
    p.write("src/lib.py", "def f():\n    return 1\n")
    p.write("tests/test_lib.py", "def test_f():\n    assert True\n")
    p.write("autoresearch.md", "# Goal\nMake the score lower.\n\n## Ideas\n- shrink a\n")
    p.write(".gitignore", "*.pyc\n__pycache__/\nignored/\n")
    p.config()
    (root / "patches").mkdir()
    p.commit("initial")
    monkeypatch.chdir(root)
    return p


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real repository with one commit (a README), as the current directory."""
    root = init_repo(tmp_path / "project")
    (root / "README").write_text("hello\n")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "init")
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "100")  # history tables are cut to the terminal's width
    return root


def _hypothesis_profile() -> None:
    """Under CI (CI=true) Hypothesis draws the same examples on every run (`derandomize`),
    so a submission's result never hangs on which inputs a run happened to draw: a new
    example that fails (a real defect) turns up in a developer's run, where a failure is
    reproduced from the printed example and fixed, instead of failing CI once in N runs
    and blocking the whole team. Locally every run draws new examples."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI") == "true":
        settings.load_profile("ci")


_hypothesis_profile()
