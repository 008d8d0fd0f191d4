"""The one scratch worktree (finalize, init's trial run, doctor) and the one way to run git."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.git_cli import GitError, git, scratch_worktree
from tests import conftest


def test_a_scratch_worktree_is_gone_after_a_failure_and_its_links_are_not_followed(
        repo: Path, tmp_path: Path) -> None:
    venv = repo / ".venv"
    venv.mkdir()
    (venv / "keep.txt").write_text("the user's installed environment\n")
    parent = tmp_path / "scratch"
    with pytest.raises(RuntimeError, match="boom"), \
            scratch_worktree(repo, "HEAD", link=[".venv", "missing"], parent=parent) as path:
        assert (path / "README").read_text() == "hello\n"
        assert (path / ".venv").is_symlink() and not (path / "missing").exists()
        raise RuntimeError("boom")
    assert not path.exists()
    assert (venv / "keep.txt").read_text() == "the user's installed environment\n"
    assert str(path) not in conftest.git(repo, "worktree", "list")


def test_git_failures_are_one_sentence_and_leave_nothing(repo: Path, tmp_path: Path) -> None:
    parent = tmp_path / "scratch"
    with pytest.raises(GitError, match=r"^`git worktree` failed: .*nope"), \
            scratch_worktree(repo, "nope", parent=parent):
        pass
    assert list(parent.iterdir()) == []
    with pytest.raises(GitError, match=r"^`git rev-parse` failed"):
        git(repo, "rev-parse", "--verify", "nope^{commit}")
