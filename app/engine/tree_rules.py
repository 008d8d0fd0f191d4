"""What a candidate's commit may not hold, protected files aside (docs/safety.md, "What a
candidate's tree may hold"). Judged from the commit's git objects, so whatever the agent's
worktree holds, the rule sees what will be measured and kept.

* **Symlinks that leave the repository.** A link with an absolute target, or a relative
  one that climbs out of the repository (or into `.git` / `.autoresearch`), makes the
  measured code something the commit does not hold: a file the agent wrote in its home,
  which could change after the keep, and which is missing on any other checkout.
* **New modules that stand in for one the commands import.** Python puts the script's
  folder (`python bench.py`) or the working folder (`python -m pytest`) first on
  `sys.path`, so a new `statistics.py` beside the benchmark replaces the standard
  library's, and a new `pytest.py` at the root *is* what `python -m pytest` runs (it can
  print the champion's summary). A new module file (`.py`, `.pyc`, an extension) or
  package that is not inside a regular package, named like a standard library module,
  like a module a command runs with `-m`, like one a protected Python file (benchmark,
  checks, tests) imports, or like a test runner's own (`pytest`, `_pytest`, `pluggy`,
  `pytest_*`), is refused. Editing such a module the champion already has is the
  project's own business and stays allowed. `[guard] unprotected` lets a path through.
"""

from __future__ import annotations

import ast
import importlib.machinery
import json
import os
import posixpath
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import pygit2

from app.engine.command_targets import python_m_modules, simple_commands, split_words
from app.engine.guard import Guard, glob_match

RUNNER_MODULES = frozenset({"pytest", "_pytest", "pluggy", "py", "iniconfig", "hypothesis",
                            "_hypothesis_pytestplugin", "nose2", "coverage", "xdist"})
"""Modules the test runners import (a stand-in decides what the checks report)."""

OUTSIDE_PREFIXES = (".git", ".autoresearch")
"""Inside the repository folder, yet never part of a commit."""


def _entry(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]
    except KeyError:
        return None


def link_leaves_tree(path: str, target: str) -> bool:
    """Whether a symlink at repo-relative `path` with `target` points outside the commit."""
    if not target or target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    first = resolved.split("/", 1)[0]
    return resolved == ".." or resolved.startswith("../") or first in OUTSIDE_PREFIXES


def _module_name(path: str) -> tuple[str, str] | None:
    """(module name, the folder it would be found in) of a file Python can import as a
    top-level module or package, or None."""
    pure = PurePosixPath(path)
    for suffix in sorted(importlib.machinery.all_suffixes(), key=len, reverse=True):
        if pure.name.endswith(suffix) and len(pure.name) > len(suffix):
            stem = pure.name[:-len(suffix)]
            break
    else:
        return None
    if stem == "__init__":
        if len(pure.parts) < 2:
            return None
        return pure.parent.name, pure.parent.parent.as_posix()
    if "." in stem:
        return None
    return stem, pure.parent.as_posix()


def _in_regular_package(tree: pygit2.Tree, folder: str) -> bool:
    return folder not in ("", ".") and _entry(tree, f"{folder}/__init__.py") is not None


def imported_names(sources: Iterable[bytes]) -> set[str]:
    """Top-level module names that Python sources import (absolute imports only)."""
    names: set[str] = set()
    for source in sources:
        try:
            module = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(module):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def module_options(commands: Iterable[str | None]) -> set[str]:
    """Top-level names of the modules commands run with `python -m NAME`."""
    names: set[str] = set()
    for command in commands:
        if not command:
            continue
        for words in simple_commands(split_words(command)):
            names.update(module.split(".")[0] for module in python_m_modules(words) if module)
    return names


class TreeRules:
    """The rules of one session: the names that must not be stood in for are worked out
    once (the protected Python files are parsed when a candidate first adds a module)."""

    def __init__(self, guard: Guard, commands: Iterable[str | None],
                 tracked: Iterable[str]) -> None:
        self.guard = guard
        self.commands = list(commands)
        self.tracked = list(tracked)
        self._names: set[str] | None = None

    def _shadowed(self, repo: pygit2.Repository, champion: pygit2.Tree) -> set[str]:
        if self._names is None:
            sources = []
            for path in self.tracked:
                if path.endswith(".py") and self.guard.is_protected(path):
                    entry = _entry(champion, path)
                    if entry is not None and entry.type_str == "blob":
                        sources.append(repo[entry.id].peel(pygit2.Blob).data)
            self._names = (set(sys.stdlib_module_names) | RUNNER_MODULES
                           | module_options(self.commands) | imported_names(sources))
        return self._names

    def _allowed(self, path: str) -> bool:
        return any(glob_match(path, g) for g in self.guard.unprotected_globs)

    def problems(self, repo: pygit2.Repository, commit: str, changed: Iterable[str]
                 ) -> list[str]:
        """One phrase per path the candidate `commit` may not hold (empty: none)."""
        cand = repo[commit].peel(pygit2.Commit)
        tree = cand.tree
        champion = cand.parents[0].tree if cand.parents else None
        out: list[str] = []
        for path in sorted(set(changed)):
            entry = _entry(tree, path)
            if entry is None or self._allowed(path):
                continue
            if entry.filemode == pygit2.enums.FileMode.LINK:
                target = repo[entry.id].peel(pygit2.Blob).data.decode("utf-8", "replace")
                if link_leaves_tree(path, target):
                    out.append(f"{path} is a symlink to {target}, outside the repository")
                continue
            found = _module_name(path)
            if found is None or champion is None or _entry(champion, path) is not None:
                continue
            name, folder = found
            if _in_regular_package(tree, folder):
                continue
            names = self._shadowed(repo, champion)
            if name in names or name.startswith("pytest_"):
                what = ("the standard library's" if name in sys.stdlib_module_names
                        else "the")
                out.append(f"{path} would be imported instead of {what} {name} module")
        return out


# -- test-runner configuration in the folders above the measurement tree -------------------

RUNNER_FILES_ABOVE = ("conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml",
                      ".pytest.toml", "tox.ini", "setup.cfg", "pyproject.toml", "go.work")
"""Files a test runner looks for in the folders above where it runs: pytest walks up from
its arguments for an ini file when the project has none, takes that folder as its rootdir,
and then loads the `conftest.py` files between it and the tests; `go` finds `go.work`
upwards. Planted above the measurement tree (by a run without bwrap, or by the command
agent in the HOME it may write), they change what the checks report."""


def runner_files_above(tree: Path, skip: Path | None = None) -> dict[str, str]:
    """Signature (size, mtimes, inode) of every RUNNER_FILES_ABOVE file in the folders
    above `tree` but `skip`, by path: a few dozen `lstat`s."""
    found: dict[str, str] = {}
    folder = tree.resolve().parent
    skipped = skip.resolve() if skip is not None else None
    while True:
        for name in RUNNER_FILES_ABOVE if folder != skipped else ():
            try:
                st = os.lstat(folder / name)
            except OSError:
                continue
            found[str(folder / name)] = (f"{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}:"
                                         f"{st.st_ctime_ns}:{st.st_ino}")
        if folder.parent == folder:
            return found
        folder = folder.parent


class RunnerFilesAbove:
    """What RUNNER_FILES_ABOVE the session's first launch found above its measurement tree
    (kept in the session's state, so a file planted during one launch is not taken as the
    user's by the next), compared before every measured run. The user's checkout (`skip`)
    is left out: the user edits it while a session runs, and no sandboxed command can write
    it (without bwrap, measured commands can write anywhere the user can anyway)."""

    def __init__(self, tree: Path, record: Path, skip: Path | None = None) -> None:
        self.tree = tree
        self.record = record
        self.skip = skip
        self._known: dict[str, str] | None = None

    def changed(self) -> list[str]:
        now = runner_files_above(self.tree, self.skip)
        if self._known is None:
            try:
                self._known = dict(json.loads(self.record.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                self._known = now
                try:
                    self.record.write_text(json.dumps(now, sort_keys=True), encoding="utf-8")
                except OSError:
                    pass
        return sorted(p for p in self._known.keys() | now.keys()
                      if self._known.get(p) != now.get(p))
