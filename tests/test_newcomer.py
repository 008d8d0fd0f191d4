"""A newcomer's mistakes and machines: the installed binary in real repositories, with the
environment a first-time user has (no git on PATH, output piped into `head`, ...).

Each answer must be one sentence naming the problem and the fix, exit status 2, no
traceback, and nothing left behind in the user's repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import Project

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "autoresearch-tui"


def cli(cwd: Path, *args: str, path: str | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(EXE), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=timeout)


def path_without_git(tmp_path: Path) -> str:
    """A PATH with python3 and the shell's tools, but no git."""
    folder = tmp_path / "bin-without-git"
    folder.mkdir(exist_ok=True)
    for tool in ("python3", "sh", "bwrap", "env", "cat", "sleep"):
        found = shutil.which(tool)
        if found and not (folder / tool).exists():
            (folder / tool).symlink_to(found)
    assert shutil.which("git", path=str(folder)) is None
    return str(folder)


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_run_without_git_says_git_is_missing(project: Project, tmp_path: Path) -> None:
    # It said "cannot write the session's files (No such file or directory: git); make
    # .git/autoresearch/sessions/TAG a writable folder": the wrong problem and a wrong fix.
    before = project.snapshot_user_state()
    done = cli(project.root, "run", "--headless", "--max-experiments", "1",
               path=path_without_git(tmp_path))
    assert done.returncode == 2
    assert one_sentence(done) == ("autoresearch-tui: git is not installed or not on PATH; "
                                  "install git and try again.")
    assert project.snapshot_user_state() == before
    assert not (project.root / ".git" / "autoresearch" / "sessions").exists()
    assert not (project.root / ".autoresearch").exists()


def test_finalize_without_git_says_git_is_missing(project: Project, tmp_path: Path) -> None:
    project.patch("01.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.commit("a patch")
    done = cli(project.root, "run", "--headless", "--tag", "t1")
    assert done.returncode == 0, done.stderr
    branches = project.git("branch", "--list", "autoresearch-final/*")
    done = cli(project.root, "finalize", "--tag", "t1", path=path_without_git(tmp_path))
    assert done.returncode == 2
    assert one_sentence(done).endswith("git is not installed or not on PATH; install git "
                                       "and try again.")
    assert project.git("branch", "--list", "autoresearch-final/*") == branches
    # The dry run needs no git program, and still works.
    done = cli(project.root, "finalize", "--tag", "t1", "--dry-run",
               path=path_without_git(tmp_path))
    assert done.returncode == 0, done.stderr


def test_output_piped_into_a_reader_that_has_gone_ends_quietly(project: Project) -> None:
    # `autoresearch-tui sessions | head -1`: once head has gone, the next write gets EPIPE
    # and Python printed a BrokenPipeError traceback. `true` reads nothing and exits at
    # once, long before the program has started up, so every write meets a closed pipe.
    done = cli(project.root, "history", "--import", str(ROOT / "tests" / "data" / "interop" /
                                                         "pi-log-shopify-liquid.jsonl"))
    assert done.returncode == 0, done.stderr
    for args in ("history", "sessions", "--help", "report --help"):
        shell = subprocess.run(f"{EXE} {args} | true; echo status=${{PIPESTATUS[0]}}",
                               shell=True, executable="/bin/bash", cwd=project.root,
                               capture_output=True, text=True, timeout=120)
        assert shell.stderr == "", f"{args}: {shell.stderr}"
        assert shell.stdout.strip() in ("status=0", "status=141"), shell.stdout
