"""The agent's own git under bubblewrap: a throwaway repository without the held-out files.

Hiding `holdout.py` behind an empty file in the agent's worktree is not enough while its
git commands read the repository's object database: `git show HEAD:holdout.py`,
`git cat-file`, a packfile inflated by hand all hold it. So the agent's sandbox never sees
the real git dir (it is masked); its worktree's `.git` is replaced, inside the sandbox, by
one naming a throwaway git dir made for this turn:

- its history is the session's: the commit the session started from and every kept
  commit since (first parents, at most `MAX_COMMITS`), each with the held-out paths taken
  out of its tree, with their messages, authors and dates;
- its objects live in a store (`.autoresearch/agent-git/store-<digest>.git`, one per set
  of held-out paths, read-only to the agent, written only here) that is filled from the
  real repository object by object, skipping the held-out files: no object of theirs is
  ever written there, so no route through git reaches them;
- its index is the real worktree's, less the held-out entries (stat data kept: the first
  `git status` hashes nothing), and `info/exclude` names the held-out paths, so the empty
  placeholders the sandbox puts there are not listed as untracked.

The agent's git works on its own work as usual (status, diff, log, commit, stash); what it
commits stays in the throwaway dir, made anew each turn. The harness never reads it: the
snapshot is taken from the worktree's files, as always, and stored on the real champion.
Without bubblewrap nothing of this is used: the agent can read whatever the user can.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

from app.engine.gitops import parse_result_trailer, registered_admin

if TYPE_CHECKING:
    from app.engine.agents.base import AgentContext

log = logging.getLogger("autoresearch")

MAX_COMMITS = 200
"""The most kept commits the agent's history mirrors (older ones are left out)."""

AGENT_GIT = Path(".autoresearch") / "agent-git"

_TREE = pygit2.enums.FileMode.TREE
_LINK = pygit2.enums.FileMode.COMMIT  # a submodule's commit: not an object of this repo
_store_lock = threading.Lock()
"""Workers prepare their views at once: one writer of a store at a time."""


@dataclass(frozen=True)
class AgentGitView:
    """What the sandbox needs: `gitlink` is bound (read-only) over the worktree's `.git`,
    `gitdir` writable, `store` read-only."""

    gitdir: Path
    gitlink: Path
    store: Path


def agent_git_view(ctx: AgentContext) -> AgentGitView | None:
    """The view for an agent's turn: only under bubblewrap (without it the agent reads the
    real git dir anyway)."""
    sandbox = ctx.sandbox
    if sandbox is None or sandbox.kind != "bwrap":
        return None
    try:
        return prepare(sandbox.repo_root, sandbox.common_dir, ctx.worktree, ctx.hidden_paths)
    except (OSError, ValueError, KeyError, pygit2.GitError) as exc:
        # Fail closed: the sandbox still hides the real git dir; the agent's git won't work.
        log.warning("could not make the agent's git view: %s", exc)
        return None


def prepare(repo_root: Path, common_dir: Path, worktree: Path,
            hidden: Iterable[str]) -> AgentGitView | None:
    """A fresh throwaway git dir for the agent's turn in `worktree` (None when git does not
    know that worktree)."""
    admin = registered_admin(common_dir, worktree)
    if admin is None:
        return None
    hidden_set = {p.strip("/") for p in hidden if p.strip("/")}
    main = pygit2.Repository(str(common_dir))
    head_text = (admin / "HEAD").read_text(encoding="utf-8").strip()
    branch = head_text[5:].strip() if head_text.startswith("ref:") else None
    if branch is not None:
        ref = main.references.get(branch)
        if ref is None:
            return None
        head = str(ref.resolve().target)
    else:
        head = head_text
    base = repo_root / AGENT_GIT
    digest = hashlib.sha256("\0".join(sorted(hidden_set)).encode()).hexdigest()[:16]
    store_path = base / f"store-{digest}.git"
    with _store_lock:
        store = _open_store(store_path)
        shadow_head = _Mirror(main, store, store_path, hidden_set).commit_chain(head)
    name = os.path.relpath(os.path.realpath(worktree),
                           os.path.realpath(repo_root / ".autoresearch"))
    gitdir = base / name.replace(os.sep, "-").replace("..", "_")
    _remove(gitdir)
    gitdir.parent.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(gitdir), bare=True)
    repo.config["core.bare"] = False
    repo.config["core.worktree"] = str(worktree)
    for key in ("user.name", "user.email"):
        if key in main.config:
            repo.config[key] = str(main.config[key])
    (gitdir / "objects" / "info" / "alternates").write_text(
        str(store_path / "objects") + "\n", encoding="utf-8")
    repo = pygit2.Repository(str(gitdir))  # again: now it sees the store
    oid = pygit2.Oid(hex=shadow_head)
    if branch is not None:
        repo.references.create(branch, oid, force=True)
        repo.set_head(branch)
    else:
        repo.set_head(oid)
    _write_index(repo, gitdir, admin / "index", repo[oid].peel(pygit2.Commit).tree,
                 hidden_set)
    exclude = _read(common_dir / "info" / "exclude")
    exclude += "".join(f"/{p}\n" for p in sorted(hidden_set))
    (gitdir / "info").mkdir(exist_ok=True)
    (gitdir / "info" / "exclude").write_text(exclude, encoding="utf-8")
    gitlink = base / f"{gitdir.name}.gitlink"
    gitlink.write_text(f"gitdir: {gitdir}\n", encoding="utf-8")
    return AgentGitView(gitdir, gitlink, store_path)


def discard(view: AgentGitView | None) -> None:
    """The turn is over: its throwaway git dir goes (the store stays for the next turn)."""
    if view is not None:
        _remove(view.gitdir)
        view.gitlink.unlink(missing_ok=True)


class _Mirror:
    """Copies commits into the store with the held-out paths taken out of their trees."""

    def __init__(self, main: pygit2.Repository, store: pygit2.Repository, store_path: Path,
                 hidden: set[str]) -> None:
        self.main = main
        self.store = store
        self.hidden = hidden
        self.folders = {""}
        for path in hidden:
            parts = path.split("/")
            self.folders |= {"/".join(parts[:i]) + "/" for i in range(1, len(parts))}
        self.pending: list[pygit2.Oid] = []
        self.queued: set[pygit2.Oid] = set()
        self.pack_dir = store_path / "objects" / "pack"
        self.map_path = store_path / "mirrored.json"
        try:
            self.mirrored: dict[str, str] = json.loads(self.map_path.read_text())
        except (OSError, ValueError):
            self.mirrored = {}

    def commit_chain(self, head: str) -> str:
        """The store's copy of `head`, whose parents are the copies of the kept commits
        before it back to the commit the session started from."""
        chain = []
        commit = self.main[head].peel(pygit2.Commit)
        while True:
            chain.append(commit)
            if parse_result_trailer(commit.message) is None or not commit.parents \
                    or len(chain) >= MAX_COMMITS:
                break
            commit = commit.parents[0]
        parent: list[pygit2.Oid] = []
        for commit in reversed(chain):
            key = f"{commit.id}:{parent[0] if parent else ''}"
            done = self.mirrored.get(key)
            if done is None or pygit2.Oid(hex=done) not in self.store:
                tree = self.tree(commit.tree, "")
                oid = self.store.create_commit(None, commit.author, commit.committer,
                                               commit.raw_message, tree, parent)
                done = self.mirrored[key] = str(oid)
            parent = [pygit2.Oid(hex=done)]
        self.flush(self.pack_dir)
        tmp = self.map_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.mirrored))
        tmp.replace(self.map_path)
        return str(parent[0])

    def tree(self, tree: pygit2.Tree, prefix: str) -> pygit2.Oid:
        """`tree` less the hidden paths under `prefix`, written to the store (what it holds
        is queued for `flush`). Written raw: the entries keep the order git gave them."""
        if prefix not in self.folders:
            self.copy(tree.id)
            return tree.id
        raw = bytearray()
        for entry in tree:
            path = prefix + (entry.name or "")
            if path in self.hidden:
                continue
            if entry.filemode == _TREE:
                oid = self.tree(self.main[entry.id].peel(pygit2.Tree), path + "/")
                if oid == _EMPTY_TREE:
                    continue
            else:
                oid = entry.id
                if entry.filemode != _LINK:
                    self.copy(oid, False)
            raw += b"%o %s\0" % (int(entry.filemode), entry.raw_name or b"")
            raw += oid.raw
        return self.store.odb.write(pygit2.enums.ObjectType.TREE, bytes(raw))

    def copy(self, oid: pygit2.Oid, is_tree: bool = True) -> None:
        """Queue `oid` and everything it holds for the store (a tree that is there already
        is there whole: trees reach it only with their entries, by `flush`)."""
        if oid in self.queued or oid in self.store:
            return
        self.queued.add(oid)
        self.pending.append(oid)
        if is_tree:
            for entry in self.main[oid].peel(pygit2.Tree):
                if entry.filemode != _LINK:
                    self.copy(entry.id, entry.filemode == _TREE)

    def flush(self, pack_dir: Path) -> None:
        """Write what `copy` queued: one pack when there are many (a first turn in a
        10,000-file repository), else loose objects."""
        if len(self.pending) > 200:
            pending = self.pending

            def add(builder: pygit2.PackBuilder) -> None:
                for oid in pending:
                    builder.add(oid)

            self.main.pack(str(pack_dir), add)
        else:
            for oid in self.pending:
                kind, data = self.main.odb.read(oid)
                self.store.odb.write(kind, data)
        self.pending = []
        self.queued = set()


_EMPTY_TREE = pygit2.Oid(hex="4b825dc642cb6eb9a060e54bf8d69288fbee4904")


def _open_store(path: Path) -> pygit2.Repository:
    if (path / "objects").is_dir():
        try:
            return pygit2.Repository(str(path))
        except pygit2.GitError:
            _remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return pygit2.init_repository(str(path), bare=True)


def _write_index(repo: pygit2.Repository, gitdir: Path, real: Path, tree: pygit2.Tree,
                 hidden: set[str]) -> None:
    """The real worktree's index less the held-out entries when it matches `tree` (its
    stat data saves the agent's first `git status` from hashing every file), else `tree`
    read afresh."""
    target = gitdir / "index"
    try:
        shutil.copyfile(real, target)
        index = pygit2.Index(str(target))
        for path in hidden:
            if path in index:
                index.remove(path)
            else:
                index.remove_directory(path)
        if index.write_tree(repo) == tree.id:
            index.write()
            return
    except (OSError, pygit2.GitError, ValueError):
        pass
    target.unlink(missing_ok=True)
    index = repo.index
    index.read_tree(tree)
    index.write()


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    return text if not text or text.endswith("\n") else text + "\n"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
