"""`[session] setup` run again when what it reads changes (issue #12's leftover).

The measurement tree runs `setup` (say `pip install -r requirements.txt -t deps`) once, when
it is made, and keeps its outputs across the resets before every run. A candidate that
changes `requirements.txt` was then measured with the champion's `deps/`: stale outputs,
so a wrong change could be kept (or a right one discarded) on dependencies it never had.

Now the outputs belong to the state of the setup's inputs: the tracked files whose name is a
dependency manifest (`DEPENDENCY_FILES`, any folder), the files the setup command names or
runs (`paths_named_by`, `files_run_by`), and `[session] setup_inputs` globs. Before each run
the tree's inputs are compared with those the outputs were made from (a tree diff, no file
scan); when they differ, the outputs of the commit's input state come back from a small
cache beside the tree, or `setup` runs again in the tree, on exactly that commit's files.
A champion and a candidate measured in turns thus each run on their own outputs, and the
setup runs once per input state, not once per run. A setup that fails on a candidate makes
that candidate's run fail (a `crash`, with the setup's output).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import pygit2

from app.engine.gitops import MeasurementTree, tree_paths_between
from app.engine.process import CommandResult

DEPENDENCY_FILES = frozenset({
    "requirements.txt", "requirements-dev.txt", "constraints.txt", "pyproject.toml",
    "setup.py", "setup.cfg", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "pdm.lock",
    "environment.yml", "environment.yaml", "package.json", "package-lock.json",
    "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "Cargo.toml",
    "Cargo.lock", "go.mod", "go.sum", "Gemfile", "Gemfile.lock", "composer.json",
    "composer.lock", "CMakeLists.txt", "conanfile.txt", "vcpkg.json",
})
"""Names of the files package managers install from, in any folder (`requirements*.txt`
too)."""

CACHED_STATES = 3
"""Input states whose outputs wait beside the tree (besides the one in it): the champion's
and the latest candidates'; older ones are deleted."""


@dataclasses.dataclass(frozen=True)
class SetupInputs:
    """Which repository paths `[session] setup` reads."""

    named: frozenset[str] = frozenset()
    """Paths the setup command names or runs (`pip install -r deps.txt`: deps.txt)."""
    globs: tuple[str, ...] = ()
    """`[session] setup_inputs`."""

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        name = PurePosixPath(path).name
        if name in DEPENDENCY_FILES or fnmatchcase(name, "requirements*.txt"):
            return True
        if path in self.named or any(path.startswith(n.rstrip("/") + "/") for n in self.named):
            return True
        return any(fnmatchcase(path, g) for g in self.globs)

    @classmethod
    def of(cls, command: str, root: Path, globs: Iterable[str] = ()) -> SetupInputs:
        from app.engine.guard import paths_named_by  # the files it runs included

        named = paths_named_by(command, root)
        return cls(frozenset(p.strip("/") for p in named if p.strip("/")), tuple(globs))


def _input_files(repo: pygit2.Repository, commit: str, inputs: SetupInputs) -> dict[str, str]:
    """Input path -> blob id in `commit` (the whole tree walked: once per session)."""
    out: dict[str, str] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            path = prefix + (entry.name or "")
            if entry.type_str == "tree":
                walk(repo[entry.id].peel(pygit2.Tree), path + "/")
            elif path in inputs:
                out[path] = str(entry.id)

    walk(repo[pygit2.Oid(hex=commit)].peel(pygit2.Tree), "")
    return out


def _key(files: dict[str, str]) -> str:
    text = json.dumps(sorted(files.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class SetupOutputs:
    """The measurement tree's setup outputs, made from one input state at a time."""

    def __init__(self, tree: MeasurementTree, inputs: SetupInputs,
                 run_setup: Callable[[Path, str], CommandResult], record: Path) -> None:
        self.tree = tree
        self.inputs = inputs
        self.run_setup = run_setup
        """Runs the setup command in the given folder (the tree); the str names the input
        state (for its log file's name)."""
        self.record = record
        """`measure-setup.json`: the outputs' top-level paths and their input state."""
        self.key = ""
        """The input state the outputs in the tree were made from ('' : not known yet)."""
        self._known: dict[str, dict[str, str]] = {}
        """Commit -> its input files (path -> blob id), for the commits seen."""
        self._files: dict[str, dict[str, str]] = {}
        """Input state -> its input files (for saying which differ)."""
        self.reruns = 0
        """How many times setup ran again this launch (tests, the log)."""

    @property
    def cache(self) -> Path:
        return self.tree.setup_cache

    # -- input states ------------------------------------------------------------------------
    def files_of(self, commit: str) -> dict[str, str]:
        known = self._known.get(commit)
        if known is not None:
            return known
        repo = self.tree.repo
        if not self._known:
            files = _input_files(repo, commit, self.inputs)
        else:  # from a commit seen before, by the two trees' difference
            base, files = next(iter(self._known.items()))
            files = dict(files)
            new_tree = repo[pygit2.Oid(hex=commit)].peel(pygit2.Tree)
            for path in tree_paths_between(repo, base, commit):
                if path not in self.inputs:
                    continue
                try:
                    entry = new_tree[path]
                except KeyError:
                    files.pop(path, None)
                    continue
                if entry.type_str == "tree":
                    files.pop(path, None)
                else:
                    files[path] = str(entry.id)
        if len(self._known) > 64:  # the first stays: the others are diffed against it
            first = next(iter(self._known))
            self._known = {first: self._known[first]}
        self._known[commit] = files
        return files

    def key_of(self, commit: str) -> str:
        files = self.files_of(commit)
        key = _key(files)
        self._files[key] = files
        return key

    def made_for(self, commit: str) -> None:
        """The outputs in the tree were just made from `commit`'s files."""
        self.key = self.key_of(commit)
        self._write_record()

    def load(self, champion: str) -> None:
        """After a relaunch: the record says which input state the outputs are from (an
        older record without it: the champion's, as it was assumed before)."""
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        key = data.get("key") if isinstance(data, dict) else None
        self.key = key if isinstance(key, str) and key else self.key_of(champion)

    def _write_record(self) -> None:
        self.record.write_text(json.dumps({"kept": sorted(self.tree.kept), "key": self.key}),
                               encoding="utf-8")

    # -- before a run --------------------------------------------------------------------------
    def ensure(self, commit: str,
               say: Callable[[list[str]], None] | None = None) -> CommandResult | None:
        """The tree holds `commit`'s files: give it the outputs of `commit`'s input state
        (from the cache, or by running setup now; `say` gets a line saying so). Returns the
        setup's result when it ran and failed, else None."""
        key = self.key_of(commit)
        files = self._files[key]
        if key == self.key:
            return None
        before = self._files.get(self.key, {})
        changed = sorted(p for p in set(before) | set(files) if before.get(p) != files.get(p))
        self._stash(self.key)
        if self._restore(key):
            self.key = key
            self._write_record()
            return None
        if say is not None:
            what = ", ".join(changed[:3]) if changed else "its inputs"
            say([f"`session.setup` runs again for {commit[:12]}: {what} differ"])
        result = self.run_setup(self.tree.path, key)
        self.reruns += 1
        self.tree.kept = self.tree.untracked_outputs()
        self.key = key
        self.tree.reset(commit)  # what setup changed in tracked files is undone
        self._write_record()
        if not result.ok:
            return dataclasses.replace(result, output=(
                "`session.setup` ran again for this commit (its inputs changed) and failed:\n"
                + result.output))
        return None

    def _stash(self, key: str) -> None:
        """The outputs in the tree go into the cache under `key`."""
        if not key or not self.tree.kept:
            self.tree.kept = set()
            return
        folder = self.cache / key
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for rel in sorted(self.tree.kept):
            here = self.tree.path / rel
            if here.exists() or here.is_symlink():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                here.rename(folder / rel)
        (folder / ".kept.json").write_text(json.dumps(sorted(self.tree.kept)),
                                          encoding="utf-8")
        self.tree.kept = set()
        states = sorted((p for p in self.cache.iterdir() if p.is_dir()),
                        key=lambda p: p.stat().st_mtime)
        for old in states[:-CACHED_STATES]:
            shutil.rmtree(old, ignore_errors=True)

    def _restore(self, key: str) -> bool:
        folder = self.cache / key
        try:
            kept = json.loads((folder / ".kept.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        for rel in kept:
            target = self.tree.path / rel
            if target.exists() or target.is_symlink():
                return False  # the commit holds a file there: setup must run again
        for rel in kept:
            source = folder / rel
            if source.exists() or source.is_symlink():
                (self.tree.path / rel).parent.mkdir(parents=True, exist_ok=True)
                source.rename(self.tree.path / rel)
        self.tree.kept = set(kept)
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def remove(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)
