"""A parallel worker's git: its own detached worktree, the session's branch and refs.

With `[parallel] workers` > 1 every worker's agent edits its own worktree at
`.autoresearch/workers/<tag>/w<k>` (made at the champion when the workers start, removed
when they end). Snapshots become the session's candidate refs as in the sequential loop;
the session branch only moves by `keep`, which requires the candidate to sit on the
current champion (`rebase` puts it there first, or says it no longer applies).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pygit2

from app.engine.git_cli import GitError, git, git_succeeds
from app.engine.gitops import SessionGit, exclude_worktrees, result_message, signature
from app.engine.layout import RepoPaths, SessionPaths


def workers_root(repo_paths: RepoPaths, tag: str) -> Path:
    """Where a session's worker worktrees live."""
    return repo_paths.root / ".autoresearch" / "workers" / tag


@dataclasses.dataclass(frozen=True)
class Rebased:
    """A candidate moved onto the current champion: its new commit, or why it cannot be."""

    commit: str | None
    problem: str = ""


class WorkerGit(SessionGit):
    """Worker `worker`'s worktree (detached); branch and candidate refs are the session's."""

    def __init__(self, repo_paths: RepoPaths, paths: SessionPaths, worker: int) -> None:
        own = dataclasses.replace(
            paths, worktree=workers_root(repo_paths, paths.tag) / f"w{worker}")
        super().__init__(repo_paths, own)
        self.worker = worker

    @property
    def worktree_name(self) -> str:
        return f"autoresearch-{self.paths.tag}-w{self.worker}"

    def ensure_worktree(self) -> bool:
        """A clean detached worktree at the champion (made again if anything is off)."""
        path = self.paths.worktree
        self.remove_worktree()
        path.parent.mkdir(parents=True, exist_ok=True)
        exclude_worktrees(self.repo_paths)
        git(self.repo_paths.root, "worktree", "add", "--quiet", "--detach", str(path),
            self.champion())
        self._wt = pygit2.Repository(str(path))
        return True

    def remove_worktree(self) -> None:
        path = self.paths.worktree
        for rel in self.linked:  # never let a cleanup follow a link
            target = path / rel
            if target.is_symlink():
                target.unlink()
        self._wt = None
        self.forget_clean()
        if path.exists() and not git_succeeds(self.repo_paths.root, "worktree", "remove",
                                              "--force", str(path)):
            shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        git_succeeds(self.repo_paths.root, "worktree", "prune")

    def _own_head(self, wt: pygit2.Repository) -> None:
        """A worker's HEAD stays detached: made a link to a branch (the user's `main`), the
        next reset would move that branch."""
        if not wt.head_is_detached:
            wt.set_head(pygit2.Oid(hex=self.champion()))

    def restore_candidate(self, candidate: str, champion: str) -> None:
        self.reset_to(candidate)  # detached: no branch to move back

    def rebase(self, n: int, candidate: str, onto: str) -> Rebased:
        """Candidate `n`'s change (against its parent) applied onto `onto` by a three-way
        merge; the candidate ref then names the new commit. Unchanged when it already sits
        on `onto`."""
        repo = self.main
        cand = repo[candidate].peel(pygit2.Commit)
        if not cand.parents:
            return Rebased(None, "it has no parent to take a change from")
        base = cand.parents[0]
        if str(base.id) == onto:
            return Rebased(candidate)
        champion = repo[onto].peel(pygit2.Commit)
        index = repo.merge_trees(base.tree, champion.tree, cand.tree)
        if index.conflicts is not None:
            paths = sorted({e.path for c in index.conflicts for e in c if e is not None})
            return Rebased(None, f"conflicts in {', '.join(paths[:5])}")
        tree = index.write_tree(repo)
        if tree == champion.tree_id:
            return Rebased(None, "its change is already in the new champion")
        oid = repo.create_commit(None, cand.author, signature(repo), cand.message, tree,
                                 [champion.id])
        repo.references.create(self.candidate_ref(n), oid, force=True)
        return Rebased(str(oid))

    def keep(self, candidate: str, description: str, result: dict[str, Any]) -> str:
        """Advance the session branch by a commit with the candidate's tree, its parent the
        current champion (which the candidate must sit on); returns it."""
        repo = self.main
        champion = self.champion()
        cand = repo[candidate].peel(pygit2.Commit)
        if [str(p.id) for p in cand.parents[:1]] != [champion]:
            raise GitError(f"candidate {candidate[:12]} does not sit on the champion "
                           f"{champion[:12]}")
        sig = signature(repo)
        oid = repo.create_commit(f"refs/heads/{self.paths.branch}", sig, sig,
                                 result_message(description, result), cand.tree_id,
                                 [pygit2.Oid(hex=champion)])
        self.reset_to(str(oid))
        return str(oid)


def remove_leftovers(repo_paths: RepoPaths, paths: SessionPaths) -> list[int]:
    """Worker worktrees a killed launch left behind: removed (a launch makes its own)."""
    root = workers_root(repo_paths, paths.tag)
    found = []
    for folder in sorted(root.glob("w*")) if root.is_dir() else []:
        if folder.name[1:].isdigit():
            found.append(int(folder.name[1:]))
            WorkerGit(repo_paths, paths, int(folder.name[1:])).remove_worktree()
    for folder in (root, root.parent):
        try:
            folder.rmdir()
        except OSError:
            break
    return found
