"""Protected paths: which files the agent may read but not change, and which it may not see.

Protected (DESIGN.md): the config, the program file, the scripts the benchmark, checks and
holdout commands name inside the repo, test files and test-runner configuration (existing
or new: a new `conftest.py` that skips every test empties the checks as surely as an edited
test), and `[guard] protected`, less `[guard] unprotected`. Hidden: the holdout's files.

Runner configuration (`RUNNER_CONFIG_PATTERNS`), always: `conftest.py`, `pytest.ini`,
`.pytest.ini`, `pytest.toml`, `.pytest.toml`, `tox.ini`, `setup.cfg`, `.coveragerc`,
`noxfile.py`, `jest.config.*`, `vitest.config.*`, `.mocharc*`. Conditionally: a
`pyproject.toml` whose champion or candidate version holds a `[tool.X]` table for a test
runner or task runner (`RUNNER_TOOL_TABLES`: pytest, coverage, tox, nox, hatch, pdm, poe),
the whole file; `package.json` when a command runs npm, npx,
yarn, pnpm or bun (its scripts are what `npm test` runs).

The check that matters is `Guard.violations()`, run by the harness on every candidate's
changed paths whatever agent made it; `fingerprint()` catches side-door edits made after
the snapshot (a file rewritten by a background process or a tool).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

from app.config import CONFIG_NAME, Config

TEST_PATTERNS = (
    "tests/**", "test/**", "__tests__/**", "spec/**", "test_*.py", "*_test.py", "conftest.py",
    "*_test.go", "*.test.js", "*.test.ts", "*.test.jsx", "*.test.tsx", "*.spec.js",
    "*.spec.ts", "*.spec.jsx", "*.spec.tsx", "*_spec.rb", "*_test.rb",
)

RUNNER_CONFIG_PATTERNS = (
    "conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini",
    "setup.cfg", ".coveragerc", "noxfile.py", "jest.config.*", "vitest.config.*", ".mocharc*",
)
"""`.pytest.ini` is read as `pytest.ini` is (pytest 8); pytest 9 adds the two `.toml`."""
RUNNER_TOOL_TABLES = ("pytest", "coverage", "tox", "nox", "hatch", "pdm", "poe")
"""`[tool.<name>...]` tables of pyproject.toml that configure how tests run."""
PACKAGE_RUNNERS = ("npm", "npx", "yarn", "pnpm", "bun")
_TOOL_TABLE = re.compile(r"^\s*\[\[?\s*tool\.(?:" + "|".join(RUNNER_TOOL_TABLES) +
                         r")\b", re.MULTILINE)


def holds_runner_tables(text: str) -> bool:
    """Whether a pyproject.toml text configures a test or task runner (dotted keys such as
    `tool.pytest.ini_options.addopts = ...` at the top level count too)."""
    return bool(_TOOL_TABLE.search(text) or re.search(
        r"^\s*tool\.(?:" + "|".join(RUNNER_TOOL_TABLES) + r")\.", text, re.MULTILINE))


def runs_package_scripts(*commands: str | None) -> bool:
    for command in commands:
        try:
            words = shlex.split(command or "", comments=True)
        except ValueError:
            words = (command or "").split()
        if any(PurePosixPath(w).name in PACKAGE_RUNNERS for w in words):
            return True
    return False


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like globs: `**` crosses directories, `*` and `?` do not; a pattern without
    a slash matches the name at any depth; a trailing `/` or `/**` matches what is inside."""
    pattern = pattern.strip()
    if pattern.endswith("/"):
        pattern += "**"
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    body = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{body}$", re.DOTALL)


def glob_match(path: str, pattern: str) -> bool:
    return bool(_glob_regex(pattern).match(path))


def inside_repo(path: str) -> str | None:
    """A config path as a normalised repo-relative POSIX path, or None when it points outside
    the repository (absolute, or climbing out with `..`): there is nothing of the worktree
    there to protect, and hashing it as a worktree file would fail."""
    if not path or PurePosixPath(path).is_absolute():
        return None
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or None


def paths_named_by(command: str | None, root: Path, depth: int = 0) -> set[str]:
    """Repo-relative paths of files (or folders) inside `root` that a command line names,
    and those it runs without naming them (`python -m bench`, `npm run bench`, `make bench`:
    command_targets.files_run_by)."""
    from app.engine.command_targets import files_run_by, simple_commands, split_words

    if not command:
        return set()
    found: set[str] = set()
    root_resolved = root.resolve()
    for words in simple_commands(split_words(command)):
        if PurePosixPath(words[0]).name == "go" and words[1:2] == ["test"]:
            # Package folders hold the code under test: files_run_by protects their
            # *_test.go files and testdata/ instead.
            words = [w for w in words if not w.startswith(".")]
        for word in words:
            for candidate in {word, word.split("=", 1)[-1]}:
                if not candidate or candidate.startswith("-") or "\0" in candidate:
                    continue
                try:
                    target = (root / candidate).resolve()
                    rel = target.relative_to(root_resolved)
                except (ValueError, OSError):
                    continue
                if str(rel) != "." and target.exists():
                    found.add(rel.as_posix())
    return found | files_run_by(command, root, depth)


@dataclass
class Guard:
    protected_globs: list[str]
    unprotected_globs: list[str]
    protected_paths: set[str] = field(default_factory=set)
    """Exact repo-relative paths (files, or folders whose contents are protected)."""
    hidden_paths: set[str] = field(default_factory=set)
    default_globs: tuple[str, ...] = TEST_PATTERNS + RUNNER_CONFIG_PATTERNS
    """Test files and runner configuration: protected whether they exist yet or not."""
    _wanted: tuple[tuple[str, ...], list[str]] | None = field(default=None, repr=False,
                                                             compare=False)
    _hashes: dict[str, tuple[tuple[int, int, int, int], str]] = field(
        default_factory=dict, repr=False, compare=False)
    """sha256 by path, valid while (size, mtime_ns, ctime_ns, inode) is unchanged: any
    write changes ctime, which user space cannot set back (git's index relies on the same)."""

    @classmethod
    def from_config(cls, config: Config, root: Path, tracked: Iterable[str]) -> Guard:
        """`root` is the tree the commands run in; `tracked` its files at session start."""
        paths = {CONFIG_NAME}
        named = [config.agent.program]
        if config.agent.kind == "scripted":
            named.append(config.agent.scripted.patches)  # may live outside the repo
        paths |= {rel for rel in map(inside_repo, named) if rel is not None}
        for command in (config.metric.command, config.checks.command, config.holdout.command,
                        config.hooks.before, config.hooks.after):
            paths |= paths_named_by(command, root)
        tracked = list(tracked)
        paths |= {p for p in tracked if any(glob_match(p, g) for g in TEST_PATTERNS)}
        paths |= {p for p in tracked if PurePosixPath(p).name == "pyproject.toml"
                  and holds_runner_tables(_read_text(root / p))}
        defaults: tuple[str, ...] = TEST_PATTERNS + RUNNER_CONFIG_PATTERNS
        if runs_package_scripts(config.metric.command, config.checks.command,
                                config.holdout.command):
            defaults += ("package.json",)
        hidden = paths_named_by(config.holdout.command, root)
        return cls(list(config.guard.protected), list(config.guard.unprotected),
                   {p.rstrip("/") for p in paths}, {p.rstrip("/") for p in hidden},
                   defaults)

    @staticmethod
    def _under(path: str, roots: set[str]) -> str | None:
        """The root that is `path` or one of its folders: one set lookup per folder level
        (scanning every root cost 0.5 s per experiment with 500 test files x 10,000 files)."""
        if path in roots:
            return path
        end = path.find("/")
        while end != -1:
            if path[:end] in roots:
                return path[:end]
            end = path.find("/", end + 1)
        return None

    def is_hidden(self, path: str) -> bool:
        return self._under(_normal(path), self.hidden_paths) is not None

    def is_protected(self, path: str) -> bool:
        path = _normal(path)
        if self.is_hidden(path):
            return True
        if any(glob_match(path, g) for g in self.unprotected_globs):
            return False
        if self._under(path, self.protected_paths) is not None:
            return True
        return any(glob_match(path, g) for g in self.protected_globs) or any(
            glob_match(path, g) for g in self.default_globs)

    def _hash(self, path: str, st: os.stat_result | None = None) -> str:
        st = st or os.stat(path)
        sig = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        cached = self._hashes.get(path)
        if cached is not None and cached[0] == sig:
            return cached[1]
        digest = _hash_file(Path(path))
        self._hashes[path] = (sig, digest)
        return digest

    def violations(self, changed: Iterable[str], candidate_root: Path | None = None
                   ) -> list[str]:
        """The changed paths that are protected, sorted.

        With `candidate_root` (the candidate's tree), a pyproject.toml that the change makes
        configure a test runner counts too (the champion's such files are protected already).
        """
        out = set()
        for p in changed:
            if self.is_protected(p):
                out.add(p)
            elif (candidate_root is not None and PurePosixPath(p).name == "pyproject.toml"
                  and not any(glob_match(_normal(p), g) for g in self.unprotected_globs)
                  and holds_runner_tables(_read_text(candidate_root / p))):
                out.add(p)
        return sorted(out)

    def fingerprint(self, root: Path, tracked: Iterable[str]) -> dict[str, str]:
        """sha256 of every protected path that exists under `root` (folders walked).

        `tracked` are the repo's files; explicit protected paths are hashed as well, so a
        deleted protected file shows up as a changed fingerprint.
        """
        key = tuple(tracked)
        if self._wanted is None or self._wanted[0] != key:
            # The same list every experiment: classify 10,000 paths once, not every time.
            self._wanted = (key, sorted({p for p in key if self.is_protected(p)}
                                        | set(self.protected_paths)))
        result: dict[str, str] = {}
        base = str(root)
        for rel in self._wanted[1]:
            # One lstat per path (not is_dir + is_symlink + is_file + stat): 10,000-file
            # repositories protect hundreds of tests, hashed after every run.
            target = os.path.join(base, rel)
            try:
                st = os.lstat(target)
            except OSError:
                result[rel] = "missing"
                continue
            if stat.S_ISDIR(st.st_mode):
                for sub in sorted(Path(target).rglob("*")):
                    if sub.is_file() and "__pycache__" not in sub.parts:
                        result[sub.relative_to(root).as_posix()] = self._hash(str(sub))
            elif stat.S_ISLNK(st.st_mode):
                result[rel] = "link:" + os.readlink(target)
            elif stat.S_ISREG(st.st_mode):
                result[rel] = self._hash(target, st)
            else:
                result[rel] = "missing"
        return result


def changed_fingerprint(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _normal(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path


RUN_LITTER = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
"""Folders tools write next to the code on every run: never a sign of tampering."""


def written_where_protected(guard: Guard, path: str) -> bool:
    """Whether a file a measured run left behind is protected, or looks like a test or a
    test runner's configuration (a new conftest.py written while the benchmark ran)."""
    path = _normal(path.rstrip("/"))
    parts = PurePosixPath(path).parts
    if RUN_LITTER & set(parts) or path.endswith((".pyc", ".pyo")):
        return False
    return guard.is_protected(path) or any(glob_match(path, g) for g in TEST_PATTERNS)
