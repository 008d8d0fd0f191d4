"""The git command line, for what pygit2 does not do here: worktrees of the user's checkout,
staging and committing `init`'s files. One way to run git, one way to fail, one scratch
worktree (pygit2's own work stays in `gitops`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class GitError(Exception):
    """A git command failed (or git is missing): one sentence, git's last words in it."""


GIT_MISSING = "git is not installed or not on PATH; install git and try again."


def require_git() -> None:
    """GitError unless a `git` program is on PATH: commands that make worktrees or branches
    check first, so a missing git is named as such (not as an unwritable session folder)."""
    if shutil.which("git") is None:
        raise GitError(GIT_MISSING)


def git(cwd: Path, *args: str) -> str:
    """Run `git ARGS` in `cwd` and return its stdout; GitError when it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        raise GitError(GIT_MISSING) from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"`git {args[0]}` failed: {' '.join(message[-3:])}")
    return done.stdout


def git_succeeds(cwd: Path, *args: str) -> bool:
    """Whether `git ARGS` exits 0 (for questions git answers with its exit status)."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True,
                              check=False).returncode == 0
    except FileNotFoundError:
        return False


@contextmanager
def scratch_worktree(root: Path, commit: str, *, link: Sequence[str] = (),
                     parent: Path | None = None,
                     prefix: str = "autoresearch-scratch-") -> Iterator[Path]:
    """A detached worktree of `commit` in a new folder (under `parent`, else the system's
    temporary folder), `link` paths symlinked in from `root` as in a session's worktree;
    removed afterwards, even on failure or Ctrl-C. GitError when it cannot be made."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    linked: list[Path] = []
    try:
        git(root, "worktree", "add", "--quiet", "--detach", str(path), commit)
        for rel in link:
            source, target = root / rel, path / rel
            if source.exists() and not (target.exists() or target.is_symlink()):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source.resolve(), target_is_directory=source.is_dir())
                linked.append(target)
        yield path
    finally:
        for target in linked:
            target.unlink(missing_ok=True)  # never let a cleanup follow a link
        if not git_succeeds(root, "worktree", "remove", "--force", str(path)) \
                or path.exists():
            shutil.rmtree(path, ignore_errors=True)
            git_succeeds(root, "worktree", "prune")


def worktree_status(root: Path) -> str | None:
    """`git status --porcelain` of the worktree (did the agent change anything?), or None
    where git is unavailable."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                              cwd=root, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None
