"""Git operations of a session, through pygit2 (no `git` subprocess on the hot path; the
one `git` process is the background pack run, `ObjectPacker`).

The user's checkout is never touched: the session has its own branch and worktree. Every
candidate with a non-empty diff is stored as `refs/autoresearch/<tag>/<n>`; a keep
advances the session branch by a commit with the candidate's tree; anything else resets
the worktree to the champion exactly (tracked files restored, new untracked files removed,
ignored files left alone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from app.engine.layout import RepoPaths, SessionPaths
from app.engine.process import spare, starting, unspare, watch_writers, writers_seen

if TYPE_CHECKING:
    from app.engine.setup_outputs import SetupOutputs

FALLBACK_SIGNATURE = ("autoresearch-tui", "autoresearch-tui@localhost")
EXCLUDE_LINE = "/.autoresearch/"


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature(*FALLBACK_SIGNATURE)


def result_message(description: str, result: dict[str, Any]) -> str:
    """DESIGN.md: the description, a blank line and `Result: {json}`."""
    subject = description.strip() or "experiment"
    return f"{subject}\n\nResult: {json.dumps(result, sort_keys=True)}\n"


def parse_result_trailer(message: str) -> dict[str, Any] | None:
    for line in reversed(message.splitlines()):
        if line.startswith("Result: "):
            try:
                data = json.loads(line[len("Result: "):])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


@dataclass
class Snapshot:
    commit: str | None
    """None when the proposal changed nothing."""
    tree: str
    diff: str
    diffstat: str
    changed: list[str]
    """Repo-relative paths the proposal changed (old and new names of renames)."""
    removed_lines: int = 0
    added_lines: int = 0


def exclude_worktrees(repo_paths: RepoPaths) -> None:
    """Keep `.autoresearch/` out of `git status` of the user's checkout."""
    exclude = repo_paths.common_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.exists() else ""
    if EXCLUDE_LINE not in text.splitlines():
        with exclude.open("a") as handle:
            handle.write(("" if text.endswith("\n") or not text else "\n") + EXCLUDE_LINE + "\n")


class SessionGit:
    """The session's branch, candidate refs and worktree."""

    def __init__(self, repo_paths: RepoPaths, paths: SessionPaths) -> None:
        self.repo_paths = repo_paths
        self.paths = paths
        self.main = pygit2.Repository(str(repo_paths.common_dir))
        self._wt: pygit2.Repository | None = None
        self.linked: set[str] = set()
        """`[session] link` paths: symlinks into the user's checkout, never snapshotted or
        cleaned away."""
        self._clean: tuple[str, int] | None = None
        """(tree id, `writers_seen`) when a scan last found the worktree's files (ignored
        ones aside) to be exactly that tree: while no command that could write the
        worktree has started since, they still are (see `reset_to`)."""
        watch_writers(paths.worktree)

    # -- set-up ---------------------------------------------------------------------------
    @property
    def worktree_name(self) -> str:
        return f"autoresearch-{self.paths.tag}"

    def branch_exists(self) -> bool:
        return self.main.references.get(f"refs/heads/{self.paths.branch}") is not None

    def user_head(self) -> str:
        return str(pygit2.Repository(str(self.repo_paths.root)).head.target)

    def create_branch(self, start: str) -> None:
        self.main.branches.local.create(self.paths.branch,
                                        self.main[start].peel(pygit2.Commit))

    def ensure_worktree(self) -> bool:
        """Make sure the worktree exists on the session branch; True if it was (re)created."""
        path = self.paths.worktree
        if (path / ".git").exists():
            self.mend_worktree_gitlink()
            try:
                wt = pygit2.Repository(str(path))
                if wt.head.shorthand == self.paths.branch:
                    self._wt = wt
                    return False
            except pygit2.GitError:
                pass
        # Gone or broken: prune the stale registration and add it again.
        self._forget_worktree()
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        exclude_worktrees(self.repo_paths)
        ref = self.main.references[f"refs/heads/{self.paths.branch}"]
        self.main.add_worktree(self.worktree_name, str(path), ref)
        self._wt = pygit2.Repository(str(path))
        self._clean = None
        return True

    def remove_worktree(self) -> None:
        self._clean = None
        if self.paths.worktree.exists():
            shutil.rmtree(self.paths.worktree)
        self._forget_worktree()
        MeasurementTree(self.repo_paths, self.paths).remove()

    def _forget_worktree(self) -> None:
        """Drop git's record of the session worktree: the registered one, and a half-made
        admin folder that git does not list (an `add` that failed on a full disk leaves one
        with an empty `gitdir`), which made the next `add` of that name fail with
        "directory exists"."""
        if self.worktree_name in self.main.list_worktrees():
            self.main.lookup_worktree(self.worktree_name).prune(True)
        admin = self.repo_paths.common_dir / "worktrees" / self.worktree_name
        if admin.is_dir() and not admin.is_symlink():
            shutil.rmtree(admin, ignore_errors=True)

    @property
    def wt(self) -> pygit2.Repository:
        if self._wt is None:
            self._wt = pygit2.Repository(str(self.paths.worktree))
        self._own_head(self._wt)
        return self._wt

    def _own_head(self, wt: pygit2.Repository) -> None:
        """The worktree's HEAD names the session branch. Its git folder is writable to the
        command agent (its index lives there): a HEAD it made name the user's `main` had the
        harness's next reset to the champion move `main`."""
        want = f"refs/heads/{self.paths.branch}"
        head = wt.references.get("HEAD")
        if head is None or head.type != pygit2.enums.ReferenceType.SYMBOLIC \
                or head.target != want:
            wt.set_head(want)

    def mend_worktree_gitlink(self) -> None:
        """The worktree's `.git` file, and its git folder's `commondir`, as git made them:
        the command agent may write both (a `commondir` naming a copy of the git dir in its
        HOME made the next launch fail: "target OID for the reference doesn't exist")."""
        admin = registered_admin(self.repo_paths.common_dir, self.paths.worktree)
        if admin is None:
            return
        if mend_gitlink(self.paths.worktree, admin):
            self._wt = None
        common = admin / "commondir"
        try:
            said = common.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            said = ""
        if os.path.realpath(os.path.join(admin, said or ".")) != os.path.realpath(
                self.repo_paths.common_dir):
            _remove_any(common)
            common.write_text("../..\n", encoding="utf-8")
            self._wt = None

    # -- reading --------------------------------------------------------------------------
    def champion(self) -> str:
        return str(self.main.references[f"refs/heads/{self.paths.branch}"].target)

    def candidate_ref(self, n: int) -> str:
        return f"{self.paths.ref_prefix}{n}"

    def candidate(self, n: int) -> str | None:
        ref = self.main.references.get(self.candidate_ref(n))
        return str(ref.target) if ref is not None else None

    def candidate_numbers(self) -> list[int]:
        prefix = self.paths.ref_prefix
        out = []
        for name in self.main.references:
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                out.append(int(name[len(prefix):]))
        return sorted(out)

    def tracked_files(self, commit: str | None = None) -> list[str]:
        return _walk_tree(self.main, self.main[commit or self.champion()].peel(pygit2.Tree))

    def message(self, commit: str) -> str:
        return self.main[commit].peel(pygit2.Commit).message

    def diff_between(self, old: str, new: str) -> str:
        a = self.main[old].peel(pygit2.Tree)
        b = self.main[new].peel(pygit2.Tree)
        return tree_diff(a, b).patch or ""

    def change_key(self, base: str, commit: str) -> str | None:
        """What `commit` changes against `base`, as a digest that ignores whitespace: two
        candidates with equal keys on one champion are the same change (duplicates.py).
        None when either commit is gone."""
        from app.engine.duplicates import change_key

        try:
            a = self.main[base].peel(pygit2.Tree)
            b = self.main[commit].peel(pygit2.Tree)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        changes: list[tuple[str, bytes | None]] = []
        for delta in a.diff_to_tree(b).deltas:
            if delta.status == pygit2.enums.DeltaStatus.DELETED:
                changes.append((delta.old_file.path, None))
            else:
                blob = self.main[delta.new_file.id].peel(pygit2.Blob)
                changes.append((delta.new_file.path, blob.data))
        return change_key(changes)

    def diff_of_commit(self, commit: str) -> str:
        c = self.main[commit].peel(pygit2.Commit)
        if not c.parents:
            return ""
        return self.diff_between(str(c.parents[0].id), commit)

    def _stage_all(self) -> pygit2.Index:
        index: pygit2.Index = self.wt.index
        index.read(False)  # re-read only when changed on disk (10,000 entries)
        index.add_all()
        for path in self.linked:
            if path in index and not _in_tree(self.wt.head.peel(pygit2.Tree), path):
                index.remove(path)
        return index

    def snapshot_tree(self) -> str:
        """The tree id of the worktree as it is now (what a snapshot would store)."""
        seen = writers_seen(self.paths.worktree)  # before the scan: no writer is missed
        tree = str(self._stage_all().write_tree())
        self._clean = (tree, seen)
        return tree

    def worktree_diff(self) -> str:
        """The worktree's current changes against the champion (for the live diff pane)."""
        wt = self.wt
        tree = wt[self.snapshot_tree()].peel(pygit2.Tree)
        return tree_diff(wt.head.peel(pygit2.Tree), tree).patch or ""

    def restore_candidate(self, candidate: str, champion: str) -> None:
        """Put the candidate's files back in the worktree while the branch stays at the
        champion (after the champion was measured in between, with `interleave`)."""
        self.reset_to(candidate)  # a hard reset in a worktree also moves its branch...
        self.main.references[f"refs/heads/{self.paths.branch}"].set_target(
            pygit2.Oid(hex=champion), "autoresearch: back to the champion")  # ...so undo that

    # -- the experiment cycle ----------------------------------------------------------------
    def snapshot(self, n: int, description: str, source: str | None = None) -> Snapshot:
        """Store whatever is in the worktree as the candidate commit of experiment `n`."""
        self.mend_worktree_gitlink()
        wt = self.wt
        seen = writers_seen(self.paths.worktree)
        index = self._stage_all()
        index.write()
        tree_id = index.write_tree()
        self._clean = (str(tree_id), seen)
        head = wt.head.peel(pygit2.Commit)
        if tree_id == head.tree_id:
            return Snapshot(None, str(tree_id), "", "", [])
        diff = tree_diff(head.tree, wt[tree_id].peel(pygit2.Tree))
        diff.find_similar()
        changed: list[str] = []
        for delta in diff.deltas:
            changed.append(delta.new_file.path)
            if delta.old_file.path != delta.new_file.path:
                changed.append(delta.old_file.path)
        stats = diff.stats
        sig = signature(wt)
        message = description.strip() or f"experiment {n}"
        if source:  # lets a restart after a crash know which patch this was
            message += f"\n\nAutoresearch-Source: {source}\n"
        oid = wt.create_commit(None, sig, sig, message, tree_id, [head.id])
        self.main.references.create(self.candidate_ref(n), oid, force=True)
        return Snapshot(str(oid), str(tree_id), diff.patch or "",
                        stats.format(pygit2.enums.DiffStatsFormat.SHORT, 80).strip(),
                        changed, stats.deletions, stats.insertions)

    def keep(self, candidate: str, description: str, result: dict[str, Any]) -> str:
        """Advance the session branch by a commit with the candidate's tree; returns it."""
        wt = self.wt
        cand = wt[candidate].peel(pygit2.Commit)
        head = wt.head.peel(pygit2.Commit)
        sig = signature(wt)
        oid = wt.create_commit(f"refs/heads/{self.paths.branch}", sig, sig,
                               result_message(description, result), cand.tree_id, [head.id])
        self.reset_to(str(oid))
        return str(oid)

    def reset_to(self, commit: str | None = None) -> None:
        """Worktree and index exactly at `commit` (default: the champion); untracked files
        that are not ignored are removed (build outputs must not leak into a candidate).

        "Ignored" means by the champion's rules: a candidate that edited `.gitignore` (say,
        dropped `deps/`) must not make the reset delete what `[session] setup` made there,
        so ignore files are put back first and the rest is judged after that."""
        wt = self.wt
        target = commit or self.champion()
        if str(wt.head.target) != target:
            self._clean = None
            wt.reset(pygit2.Oid(hex=target), pygit2.enums.ResetMode.HARD)
        head_tree = wt.head.peel(pygit2.Tree)
        clean = self._clean
        if clean is not None and clean[1] == writers_seen(self.paths.worktree):
            # Known to hold exactly `clean[0]` (a snapshot scanned it, and nothing that could
            # write the worktree ran since): the two trees' difference is all there is to
            # undo, as `MeasurementTree.prepare` does for the measurement tree.
            paths = tree_paths_between(wt, clean[0], str(head_tree.id))
            if not any(_is_ignore_file(p) or self._is_linked(p) for p in paths) \
                    and not _file_and_folder(paths):
                restore_paths(wt, head_tree, paths, keep_ignored=True)
                self._clean = (str(head_tree.id), clean[1])
                return
        seen = writers_seen(self.paths.worktree)
        # HEAD is at the target: one status scan says what differs, and only that is undone
        # (a hard reset re-checks all 10,000 files of a big repo before the same scan).
        status = self._differences()
        rules = [p for p in status if _is_ignore_file(p)]
        if rules:
            self._undo({p: status[p] for p in rules})
            status = self._differences()
        self._undo(status)
        self._clean = (str(head_tree.id), seen)

    def forget_clean(self) -> None:
        """Something other than a harness command may write the worktree now (the agent's
        own file tools, the user during a pause): the next reset scans it in full."""
        self._clean = None

    def _is_linked(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.linked)

    def ignored_entries(self) -> list[str]:
        """Ignored files and folders at the top of what git reports (`deps/`, not every file
        in it): after `[session] setup`, what setup made."""
        return sorted(path for path, flags in
                      self.wt.status(untracked_files="normal", ignored=True).items()
                      if flags == pygit2.enums.FileStatus.IGNORED and not any(
                          path.rstrip("/") == p or path.startswith(p + "/")
                          for p in self.linked))

    def _differences(self) -> dict[str, int]:
        return {path: flags for path, flags in self.wt.status(untracked_files="all").items()
                if not self._is_linked(path)}

    def _undo(self, status: dict[str, int]) -> None:
        """Put the paths of `status` back as HEAD has them; ignored files (by HEAD's rules)
        stay on disk."""
        undo_status(self.wt, self.wt.head.peel(pygit2.Tree), status, keep_ignored=True)

    def apply_commit(self, commit: str) -> str | None:
        """Re-apply a past candidate's change onto the champion, in the worktree.

        Returns None on success, or the reason it cannot be applied (a conflict).
        """
        wt = self.wt
        cand = wt[commit].peel(pygit2.Commit)
        if not cand.parents:
            return "it has no parent to take a change from"
        base = cand.parents[0].tree
        ours = wt.head.peel(pygit2.Commit).tree
        index = wt.merge_trees(base, ours, cand.tree)
        if index.conflicts is not None:
            paths = sorted({(e.path) for c in index.conflicts for e in c if e is not None})
            return f"it conflicts with the champion in {', '.join(paths[:5])}"
        tree = index.write_tree(wt)
        checkout_tree(wt, wt[tree])
        # checkout_tree leaves files deleted by the change in place; remove them.
        new_paths = set(_walk_tree(wt, wt[tree].peel(pygit2.Tree)))
        root = Path(wt.workdir)
        for path in _walk_tree(wt, ours):
            if path not in new_paths:
                _remove(root / path, root)
        return None

    def has_commit(self, commit: str) -> bool:
        """Whether `commit` is still a commit in the repository (not pruned by `git gc`)."""
        try:
            self.main[commit].peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            return False
        return True

    def remake_keep(self, candidate: str, lost: str) -> str:
        """Create the session branch at a new commit with `candidate`'s tree and parent (the
        keep commit `lost` was garbage-collected); returns it."""
        cand = self.main[candidate].peel(pygit2.Commit)
        sig = signature(self.main)
        title = (cand.message.strip().splitlines() or ["kept experiment"])[0]
        message = (f"{title}\n\nRestored by autoresearch-tui from candidate {candidate}: the "
                   f"keep commit {lost} was gone.\n")
        oid = self.main.create_commit(None, sig, sig, message, cand.tree_id,
                                      [p.id for p in cand.parents[:1]])
        self.main.branches.local.create(self.paths.branch, self.main[oid].peel(pygit2.Commit))
        return str(oid)

    def delete_branch(self) -> None:
        """Remove the session branch only (undoing a new session that never got going).
        Candidate refs are left alone: only `prune`, which asks, deletes those."""
        if self.branch_exists():
            self.main.branches.local.delete(self.paths.branch)

    def delete_session_refs(self) -> None:
        """Candidate refs and branch: for `prune` only (it asks first)."""
        for n in self.candidate_numbers():
            self.main.references.delete(self.candidate_ref(n))
        if self.branch_exists():
            self.main.branches.local.delete(self.paths.branch)


def _in_tree(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return True


def _file_in_tree(tree: pygit2.Tree, path: str) -> bool:
    """Whether `tree` holds a file (or link, or submodule) at `path`, not a folder."""
    try:
        return tree[path].type_str != "tree"
    except KeyError:
        return False


def _walk_tree(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> list[str]:
    out: list[str] = []
    for entry in tree:
        name = prefix + (entry.name or "")  # only an object outside a tree has no name
        if entry.type_str == "tree":
            out.extend(_walk_tree(repo, repo[entry.id].peel(pygit2.Tree), name + "/"))
        else:
            out.append(name)
    return out


def tree_diff(old: pygit2.Tree, new: pygit2.Tree) -> pygit2.Diff:
    """The diff from `old` to `new`, as `Repository.diff(old, new)` makes it (3 lines of
    context, hunks never merged), without its stubs' refusal of trees."""
    return old.diff_to_tree(new, context_lines=3, interhunk_lines=0)


def checkout_tree(repo: pygit2.Repository, tree: pygit2.Object,
                  paths: list[str] | None = None, *, write_index: bool = True) -> None:
    """Force the files of `tree` (only `paths`, when given) into `repo`'s work tree.
    `write_index=False`: the repository's index is updated in memory only (the caller
    writes it once, after more changes: 10,000 entries take ~15 ms to write)."""
    if paths is not None and not paths:
        return  # pygit2 reads an empty list as "every path"
    strategy = pygit2.enums.CheckoutStrategy.FORCE
    if not write_index:
        strategy |= pygit2.enums.CheckoutStrategy.DONT_WRITE_INDEX
    if paths is not None:
        # Exact paths, not patterns: with patterns libgit2 walks the whole working tree up
        # to the last one (300 ms for two files of a 10,000-file repository), with a path
        # list it goes straight to them (20 ms).
        strategy |= pygit2.enums.CheckoutStrategy.DISABLE_PATHSPEC_MATCH
    # pygit2 leaves checkout_tree unannotated:
    repo.checkout_tree(tree, paths=paths, strategy=strategy)  # type: ignore[no-untyped-call]


# -- the one reset routine of both trees ------------------------------------------------------
# The agent's worktree (`SessionGit.reset_to`) and the measurement tree
# (`MeasurementTree.reset`/`prepare`) are put back to a commit the same way: when a scan
# last found the files to be exactly one tree and nothing that could write them ran since
# (`process.writers_seen`), the two trees' difference is all that is undone
# (`tree_paths_between` + `restore_paths`); otherwise one status scan lists what differs and
# that is undone (`undo_status`). The trees differ only in what they keep: the agent's
# worktree leaves ignored files alone (`keep_ignored`), the measurement tree removes them
# (but for its links and setup outputs, which its callers leave out of the lists).


def _is_ignore_file(path: str) -> bool:
    return path == ".gitignore" or path.endswith("/.gitignore")


def tree_paths_between(repo: pygit2.Repository, old: str, new: str) -> list[str]:
    """Every path that differs between two trees (or commits), both names of a rename."""
    if old == new:
        return []
    old_tree = repo[pygit2.Oid(hex=old)].peel(pygit2.Tree)
    new_tree = repo[pygit2.Oid(hex=new)].peel(pygit2.Tree)
    if old_tree.id == new_tree.id:
        return []
    paths: set[str] = set()
    for delta in old_tree.diff_to_tree(new_tree).deltas:
        paths.update((delta.old_file.path, delta.new_file.path))
    return sorted(paths)


def _file_and_folder(paths: list[str]) -> bool:
    """Whether one path is a file in one tree and a folder in the other (`src` and
    `src/a.py` both listed): the diff-based reset leaves such a switch to the full one."""
    listed = set(paths)
    return any(parent in listed for path in paths
               for parent in (path.rsplit("/", i)[0] for i in range(1, path.count("/") + 1)))


def restore_paths(repo: pygit2.Repository, tree: pygit2.Tree, paths: list[str], *,
                  keep_ignored: bool) -> None:
    """Each of `paths` becomes what `tree` holds there, on disk and in the index: checked
    out when the tree has it, else removed; with `keep_ignored`, a path the repository's
    rules ignore (a setup output a snapshot took in) only leaves the index."""
    if not paths:
        return
    root = Path(repo.workdir)
    index = repo.index  # the repository's own index object, which checkout updates too
    index.read(False)
    back = [p for p in paths if _file_in_tree(tree, p)]
    backs = set(back)
    for path in paths:
        full = root / path
        if full.is_dir() and not full.is_symlink():
            shutil.rmtree(full)  # a folder where the tree has a file
        elif path in backs:
            full.unlink(missing_ok=True)  # rewritten below, mode included
        elif not (keep_ignored and repo.path_is_ignored(path)):
            _remove(full, root)
        if path not in backs and path in index:
            index.remove(path)
    if back:
        checkout_tree(repo, tree, paths=back, write_index=False)
        for path in back:
            if not os.path.lexists(root / path):
                _write_entry(repo, tree, path, root / path)
        for path in back:
            index.add(path)
    index.write()  # once (a 10,000-entry index takes ~15 ms to write)


def _write_entry(repo: pygit2.Repository, tree: pygit2.Tree, path: str, full: Path) -> None:
    """Write one file or link of `tree` by hand: libgit2 does not check out a path whose
    type changed (a file that became a symlink) when it is missing on disk, and the
    measurement tree's shortcut removes it first (the session stopped on 'could not find
    .../src/lib.py to stat')."""
    entry = tree[path]
    if entry.filemode == pygit2.enums.FileMode.LINK:
        full.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(repo[entry.id].peel(pygit2.Blob).data, full)
    elif entry.filemode in (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE):
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(repo[entry.id].peel(pygit2.Blob).data)
        if entry.filemode == pygit2.enums.FileMode.BLOB_EXECUTABLE:
            full.chmod(0o755)


def undo_status(repo: pygit2.Repository, tree: pygit2.Tree, status: dict[str, int], *,
                keep_ignored: bool) -> None:
    """Undo what a status scan listed: new (and listed ignored) files removed, the rest
    put back as `tree` has it (`restore_paths`)."""
    root = Path(repo.workdir)
    restore: list[str] = []
    for path, flags in status.items():
        if flags in (pygit2.enums.FileStatus.WT_NEW, pygit2.enums.FileStatus.IGNORED):
            _remove(root / path.rstrip("/"), root)
        else:
            restore.append(path)
    restore_paths(repo, tree, restore, keep_ignored=keep_ignored)


def _remove(path: Path, root: Path) -> None:
    """Remove a file, link or folder, then the folders it leaves empty up to `root`."""
    if not _remove_any(path):
        return
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def registered_admin(common_dir: Path, tree: Path) -> Path | None:
    """The folder git keeps for the linked worktree at `tree` (`<common>/worktrees/<name>`:
    its HEAD and index), found by the path git recorded there, never by the tree's own
    `.git` file: whoever can write the tree (a run, the command agent) can write that file,
    and a rewritten one made the command agent's sandbox bind any path it named writable."""
    want = os.path.join(os.path.realpath(tree), ".git")
    try:
        entries = list(os.scandir(common_dir / "worktrees"))
    except OSError:
        return None
    for entry in entries:
        try:
            recorded = Path(entry.path, "gitdir").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if recorded and os.path.realpath(os.path.join(entry.path, recorded)) == want:
            return Path(entry.path)
    return None


def mend_gitlink(tree: Path, admin: Path) -> bool:
    """Write `tree`'s `.git` file back as pointing at `admin` unless it does; True if it
    had to."""
    link = tree / ".git"
    try:
        text = link.read_text(encoding="utf-8") if not link.is_symlink() else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    said = text.split(":", 1)[1].strip() if text.startswith("gitdir:") else ""
    if said and os.path.realpath(os.path.join(tree, said)) == os.path.realpath(admin):
        return False
    _remove_any(link)
    link.write_text(f"gitdir: {os.path.realpath(admin)}\n", encoding="utf-8")
    return True


class MeasurementTree:
    """Where benchmarks, checks and the holdout run: a detached git worktree at
    `.autoresearch/measure/<tag>` holding exactly one commit's files, reset before every run.

    Untracked and ignored files the agent made are not in the commit (the snapshot honours
    .gitignore), so they are absent here; what a run leaves behind (caches, build outputs,
    a written conftest.py, a modified tracked file) is removed before the next run. Only
    `[session] link` symlinks and the outputs of `[session] setup` (run once when the tree
    is made) survive a reset.
    """

    def __init__(self, repo_paths: RepoPaths, paths: SessionPaths, *,
                 links: dict[str, Path] | None = None) -> None:
        self.repo_paths = repo_paths
        self.path = repo_paths.root / ".autoresearch" / "measure" / paths.tag
        self.links = dict(links or {})
        """Repo-relative link path -> the folder or file it points at."""
        self.kept: set[str] = set()
        """Top-level outputs of `[session] setup` (kept across resets)."""
        self._repo: pygit2.Repository | None = None
        self.commit: str | None = None
        self._clean: tuple[str, int] | None = None
        """(commit, `writers_seen`) when a full reset last made the tree exactly that
        commit: while no command that could write the tree has run since, it still is."""
        self._gitlink: str | None = None
        """The tree's `.git` file as found right (`_mend_gitlink`)."""
        self.setup_outputs: SetupOutputs | None = None
        """`[session] setup`'s outputs per state of its inputs (setup_outputs.py): the bench
        asks it for the right ones before every run; None without a setup."""
        watch_writers(self.path)

    def _registration(self) -> str | None:
        """The name git registered this tree under (found by its path, never by what the
        tree's `.git` file says: the runs can write that file)."""
        admin = registered_admin(self.repo_paths.common_dir, self.path)
        return admin.name if admin is not None else None

    def _mend_gitlink(self) -> bool:
        """Put the tree's `.git` file back as git wrote it when a run changed it (pointed at
        another worktree's git data, the next launch pruned that registration instead of
        its own and could not make the tree again); False when the tree is not registered.
        One small read when it is unchanged."""
        link = self.path / ".git"
        try:
            text = link.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        if text is not None and text == self._gitlink and not link.is_symlink():
            return True
        admin = registered_admin(self.repo_paths.common_dir, self.path)
        if admin is None:
            return False
        if mend_gitlink(self.path, admin):
            self._repo = None
        self._gitlink = link.read_text(encoding="utf-8")
        return True

    def ensure(self, commit: str) -> bool:
        """Make the tree if it is missing or broken; True if it was (re)made."""
        if (self.path / ".git").is_file() or (self.path / ".git").is_symlink():
            self._mend_gitlink()
        if (self.path / ".git").is_file():
            try:
                self._repo = pygit2.Repository(str(self.path))
                return False
            except pygit2.GitError:
                pass
        import subprocess

        self.remove()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        exclude_worktrees(self.repo_paths)
        done = subprocess.run(["git", "worktree", "add", "--detach", str(self.path), commit],
                              cwd=self.repo_paths.root, capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(f"cannot make the measurement tree {self.path}: "
                          f"{done.stderr.strip()}")
        self._repo = pygit2.Repository(str(self.path))
        self.commit = None
        self.reset(commit)
        return True

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            self._repo = pygit2.Repository(str(self.path))
        return self._repo

    def _make_links(self) -> None:
        for rel, source in self.links.items():
            target = self.path / rel
            if target.is_symlink() or not source.exists():
                continue
            if target.exists():
                _remove(target, self.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source, target_is_directory=source.is_dir())

    def _spared(self, path: str) -> bool:
        path = path.rstrip("/")
        for keep in (*self.links, *self.kept):
            if path == keep or path.startswith(keep + "/"):
                return True
        return False

    def prepare(self, commit: str) -> None:
        """Before a run: exactly `commit`'s files, as `reset` makes them. When the tree is
        known clean (a full reset made it exact, and no command that could write it started
        since: `process.writers_seen`), the full scan is skipped: the files that differ
        between the clean commit and `commit` are checked out, which is all that differs."""
        clean = self._clean
        if clean is not None and clean[1] == writers_seen(self.path) \
                and (self.path / ".git").is_file() and self._switch(clean[0], commit):
            self.commit = commit
            self._clean = (commit, clean[1])
            return
        self.reset(commit)

    def _switch(self, old: str, new: str) -> bool:
        """From the clean `old` to `new` by their trees' difference; False when that does
        not apply (a changed path under a link or a setup output: the full reset knows)."""
        repo = self.repo
        paths = tree_paths_between(repo, old, new)
        if any(self._spared(p) for p in paths) or _file_and_folder(paths):
            return False
        restore_paths(repo, repo[pygit2.Oid(hex=new)].peel(pygit2.Tree), paths,
                      keep_ignored=False)
        if old != new:
            repo.set_head(pygit2.Oid(hex=new))
        return True

    def reset(self, commit: str) -> list[str]:
        """Exactly `commit`'s files (plus links and setup outputs), nothing else; returns
        the paths that were not (new, ignored, modified or deleted files; a new folder's
        files are listed one by one unless it is ignored)."""
        seen = writers_seen(self.path)  # before the scan: a writer during it is not missed
        self._mend_gitlink()  # no status scan lists the `.git` file itself
        repo = self.repo
        oid = pygit2.Oid(hex=commit)
        new_tree = repo[oid].peel(pygit2.Tree)
        if str(repo.head.target) != commit or self.commit != commit:
            self._set_aside(repo.head.peel(pygit2.Tree), new_tree)
            checkout_tree(repo, new_tree)
            repo.set_head(oid)
        # The setup's outputs wait beside the tree while it is scanned: the reset spares
        # them anyway, and git walks every file of an output no ignore rule names as a
        # folder (a `deps/` of 20,000 files: half a second a run).
        self._park_outputs(new_tree)
        try:
            status = {path: flags for path, flags in
                      repo.status(untracked_files="all", ignored=True).items()
                      if not self._spared(path)}
        finally:
            self._bring_back(new_tree)
        undo_status(repo, new_tree, status, keep_ignored=False)
        found = [path.rstrip("/") for path in status]
        self._make_links()
        self.commit = commit
        self._clean = (commit, seen)
        return found

    @property
    def _aside(self) -> Path:
        return self.path.parent / f".{self.path.name}-setup-outputs"

    @property
    def setup_cache(self) -> Path:
        """Where setup outputs of other input states wait (setup_outputs.py)."""
        return self.path.parent / f".{self.path.name}-setup-cache"

    def _set_aside(self, old: pygit2.Tree, new: pygit2.Tree) -> None:
        """A commit that tracks files where setup put its outputs (a patch that stopped
        ignoring `deps/`) would mix with them, and leaving it would delete them: the
        setup's own outputs wait outside the tree until a commit without that path."""
        for rel in self.kept:
            here, aside = self.path / rel, self._aside / rel
            if (here.exists() or here.is_symlink()) and not aside.exists() \
                    and not _in_tree(old, rel) and _in_tree(new, rel):
                aside.parent.mkdir(parents=True, exist_ok=True)
                here.rename(aside)

    def _park_outputs(self, tree: pygit2.Tree) -> None:
        """The setup's outputs that `tree` does not hold go where `_set_aside` puts them
        (renamed: the same file system); `_bring_back` returns them, also after a crash."""
        for rel in self.kept:
            here, aside = self.path / rel, self._aside / rel
            if (here.exists() or here.is_symlink()) and not aside.exists() \
                    and not aside.is_symlink() and not _in_tree(tree, rel):
                aside.parent.mkdir(parents=True, exist_ok=True)
                here.rename(aside)

    def _bring_back(self, new: pygit2.Tree) -> None:
        for rel in self.kept:
            aside = self._aside / rel
            if (aside.exists() or aside.is_symlink()) and not _in_tree(new, rel):
                _remove_any(self.path / rel)
                (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
                aside.rename(self.path / rel)

    def untracked_outputs(self) -> set[str]:
        """The new files and folders that are not the commit's (after `setup` ran), each
        as the status names it (a new folder once): kept from now on. Not the top-level
        folder holding one: a tracked `sub/` that setup wrote `sub/deps` into would be
        spared by every reset, and what a run changed there would carry over."""
        new = (pygit2.enums.FileStatus.WT_NEW, pygit2.enums.FileStatus.IGNORED)
        return {path.rstrip("/") for path, flags in
                self.repo.status(untracked_files="normal", ignored=True).items()
                if flags in new and path.rstrip("/") not in self.links}

    def remove(self) -> None:
        """Delete the tree and its registration (git names it after the folder, plus a
        number when that name is taken: found by its path, not by the `.git` file)."""
        name = self._registration() if self.repo_paths.common_dir.is_dir() else None
        if self.path.exists():
            shutil.rmtree(self.path)
        shutil.rmtree(self._aside, ignore_errors=True)
        shutil.rmtree(self.setup_cache, ignore_errors=True)
        self._repo = None
        self._clean = None
        self._gitlink = None
        main = pygit2.Repository(str(self.repo_paths.common_dir))
        if name and name in main.list_worktrees():
            main.lookup_worktree(name).prune(True)


def _remove_any(path: Path) -> bool:
    """Remove a file, link or folder; False when it was already gone."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    except FileNotFoundError:
        return False
    return True


# -- packing -----------------------------------------------------------------------------------

PACK_EVERY = 300
"""Decided experiments between background packs (each leaves a few loose objects)."""
CONSOLIDATE_AT = 20
"""Packs in the repository from which a pack run merges them all into one (git's own
`gc --auto` would stall the user's next command at 50)."""


class ObjectPacker:
    """Packs the loose objects experiments leave, in a background `git repack`.

    pygit2 writes every object loose and can write a pack but not drop the loose copies;
    thousands of loose objects make the user's next `git` command stall on `gc --auto`.
    `git repack -d` is git's own packing, safe while the session writes new objects. It
    never blocks the loop: the process is started and left to finish (also after this
    program exits); a run still going is not doubled; no `git` on PATH means no packing.
    """

    def __init__(self, common_dir: Path) -> None:
        self.common_dir = common_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        """Start a pack run in the background; False if one is running or git is missing."""
        if self.process is not None:
            if self.process.poll() is None:
                return False
            unspare(self.process.pid)
        git = shutil.which("git")
        if git is None:
            return False
        packs = len(list((self.common_dir / "objects" / "pack").glob("*.pack")))
        mode = ["-a", "-d", "-l"] if packs >= CONSOLIDATE_AT else ["-d", "-l"]
        # Variables such as GIT_DIR or GIT_INDEX_FILE of a calling hook must not redirect it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        try:
            with starting():  # spared before any leftover sweep can see it
                self.process = subprocess.Popen(
                    [git, "--git-dir", str(self.common_dir), "repack", "-q", *mode],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, env=env, start_new_session=True)
                spare(self.process.pid)  # ours, not a command's leftover (process.Leftovers)
        except OSError:
            return False
        return True


# ---------------------------------------------------------------------------------------
# Shipping commits to another machine (the Ray executor: app/engine/executors/)

SHIP_REFS = "refs/ship/"


def _git_env() -> dict[str, str]:
    # Variables such as GIT_DIR of a calling hook must not redirect these commands.
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def make_bundle(common_dir: Path, commits: list[str], basis: tuple[str, ...] = ()) -> bytes:
    """A `git bundle` holding `commits` and their history, less what `basis` (commits the
    receiver already has) reaches; b"" when there is nothing new to send.

    git 2.39 bundles only named refs: a throw-away bare repository borrows the session's
    objects (alternates) and names each commit there, so the user's repository gets no ref.
    """
    import tempfile

    new = [c for c in dict.fromkeys(commits) if c not in set(basis)]
    if not new:
        return b""
    with tempfile.TemporaryDirectory(prefix="autoresearch-bundle-") as scratch:
        ship = Path(scratch) / "ship.git"
        env = _git_env()
        subprocess.run(["git", "init", "-q", "--bare", str(ship)], check=True, env=env,
                       capture_output=True)
        (ship / "objects" / "info" / "alternates").write_text(
            str((common_dir / "objects").resolve()) + "\n", encoding="utf-8")
        for commit in new:
            subprocess.run(["git", "--git-dir", str(ship), "update-ref",
                            f"{SHIP_REFS}{commit}", commit], check=True, env=env,
                           capture_output=True)
        out = Path(scratch) / "out.bundle"
        done = subprocess.run(["git", "--git-dir", str(ship), "bundle", "create", "-q",
                               str(out), *(f"{SHIP_REFS}{c}" for c in new),
                               *(f"^{b}" for b in basis)], env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise OSError(f"git bundle failed: {done.stderr.strip()[:300]}")
        return out.read_bytes()


def receive_bundle(repo_dir: Path, bundle: bytes) -> str:
    """Fetch a `make_bundle` bundle into the repository at `repo_dir` (made when missing).
    Returns '' or why it could not (a prerequisite the receiver lacks, a broken bundle)."""
    import tempfile

    env = _git_env()
    if not (repo_dir / ".git").exists():
        repo_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", str(repo_dir)], check=True, env=env,
                       capture_output=True)
    if not bundle:
        return ""
    with tempfile.NamedTemporaryFile(prefix="autoresearch-", suffix=".bundle") as handle:
        handle.write(bundle)
        handle.flush()
        done = subprocess.run(["git", "-C", str(repo_dir), "fetch", "-q", handle.name,
                               f"+{SHIP_REFS}*:{SHIP_REFS}*"], env=env, capture_output=True,
                              text=True)
    return "" if done.returncode == 0 else done.stderr.strip()[:300] or "git fetch failed"


def has_commits(repo_dir: Path, commits: list[str]) -> bool:
    if not (repo_dir / ".git").exists():
        return False
    try:
        repo = pygit2.Repository(str(repo_dir))
    except pygit2.GitError:
        return False
    for commit in commits:
        try:
            repo[commit].peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            return False
    return True
