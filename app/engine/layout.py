"""The layout of sessions on disk: where a session lives, which session a launch means,
and the lock that keeps it single.

State (precious) lives in `<git-common-dir>/autoresearch/sessions/<tag>/`, out of reach of
`git clean`; the worktree `.autoresearch/worktrees/<tag>/` is disposable.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from app.errors import UsageError
from app.tags import TAG_RE, validate_tag

WORKTREES = Path(".autoresearch") / "worktrees"


@dataclass(frozen=True)
class RepoPaths:
    root: Path
    """The top of the user's working tree."""
    common_dir: Path
    """The git directory shared by all worktrees (`.git` of the main checkout)."""

    @property
    def sessions_dir(self) -> Path:
        return self.common_dir / "autoresearch" / "sessions"

    def session(self, tag: str) -> SessionPaths:
        return SessionPaths(tag, self.sessions_dir / tag, self.root / WORKTREES / tag)


@dataclass(frozen=True)
class SessionPaths:
    tag: str
    state_dir: Path
    worktree: Path

    @property
    def log(self) -> Path:
        return self.state_dir / "log.jsonl"

    @property
    def runs(self) -> Path:
        return self.state_dir / "runs"

    @property
    def lock(self) -> Path:
        return self.state_dir / "lock"

    @property
    def debug_log(self) -> Path:
        return self.state_dir / "debug.log"

    @property
    def report(self) -> Path:
        return self.state_dir / "report.md"

    @property
    def branch(self) -> str:
        return f"autoresearch/{self.tag}"

    @property
    def ref_prefix(self) -> str:
        return f"refs/autoresearch/{self.tag}/"


def find_repo(start: Path) -> RepoPaths:
    """The repository around `start`. UsageError if there is none or it has no commits."""
    import pygit2

    try:
        found = pygit2.discover_repository(str(start))
    except pygit2.GitError:
        found = None
    if not found:
        raise UsageError(f"{start} is not inside a git repository; run autoresearch-tui in "
                         "your project's repository (or `git init` one first).")
    repo = pygit2.Repository(found)
    if repo.is_bare or repo.workdir is None:
        raise UsageError(f"{found} is a bare repository; run autoresearch-tui in a checkout.")
    if repo.head_is_unborn:
        raise UsageError("the repository has no commits yet; commit your code first "
                         "(autoresearch-tui works on a branch made from HEAD).")
    common = Path(repo.path)
    # In a linked worktree, repo.path is .git/worktrees/<name>; the common dir holds refs.
    commondir_file = common / "commondir"
    if commondir_file.exists():
        common = (common / commondir_file.read_text().strip()).resolve()
    root = Path(repo.workdir).resolve()
    return RepoPaths(root=root, common_dir=common.resolve())


@dataclass
class SessionInfo:
    tag: str
    state_dir: Path
    modified: float
    finished: bool
    read_only: bool


def list_sessions(repo: RepoPaths) -> list[SessionInfo]:
    """Sessions with a log, newest first."""
    import json

    out: list[SessionInfo] = []
    if not repo.sessions_dir.is_dir():
        return out
    for folder in repo.sessions_dir.iterdir():
        log = folder / "log.jsonl"
        if not log.is_file() or not TAG_RE.match(folder.name):
            continue
        finished = read_only = False
        try:
            with log.open("rb") as handle:
                first = handle.readline()
                handle.seek(max(0, log.stat().st_size - 8192))
                tail = handle.read().decode("utf-8", errors="replace").splitlines()
            start = json.loads(first) if first.strip() else {}
            read_only = bool(start.get("read_only"))
            for line in reversed(tail):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("type") == "session_start":
                    break
                if record.get("type") == "session_end" and record.get("finished"):
                    finished = True
                    break
        except (OSError, ValueError):
            pass
        out.append(SessionInfo(folder.name, folder, log.stat().st_mtime, finished, read_only))
    out.sort(key=lambda s: s.modified, reverse=True)
    return out


def choose_tag(repo: RepoPaths, *, cli_tag: str | None, config_tag: str | None,
               new: bool) -> tuple[str, bool]:
    """DESIGN.md: --tag > [session] tag > the latest unfinished session > a new date tag.

    Returns (tag, exists).
    """
    if cli_tag:
        validate_tag(cli_tag)
        return cli_tag, repo.session(cli_tag).log.exists()
    if config_tag and not new:
        return config_tag, repo.session(config_tag).log.exists()
    if not new:
        for info in list_sessions(repo):
            if not info.finished and not info.read_only:
                return info.tag, True
    base = dt.date.today().strftime("%b%d").lower()
    tag, i = base, 2
    while repo.session(tag).state_dir.exists() or _branch_exists(repo, tag):
        tag, i = f"{base}-{i}", i + 1
    return tag, False


def _branch_exists(repo: RepoPaths, tag: str) -> bool:
    return (repo.common_dir / "refs" / "heads" / "autoresearch" / tag).exists() or \
        f"refs/heads/autoresearch/{tag}" in _packed_refs(repo)


def _packed_refs(repo: RepoPaths) -> str:
    try:
        return (repo.common_dir / "packed-refs").read_text(errors="replace")
    except OSError:
        return ""


class SessionLock:
    """An flock on `<state>/lock` holding the owner's PID.

    The kernel releases an flock when its process dies, so a lock left by a killed process
    is taken over without any guessing about PIDs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                owner = self.owner()
                for _ in range(20):  # the owner may be between its flock and its PID write
                    if owner:
                        break
                    time.sleep(0.01)
                    owner = self.owner()
                who = f"process {owner}" if owner else "another process"
                raise UsageError(f"session {self.path.parent.name!r} is in use by {who}; stop "
                                 "it first, or start another session with --new.") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def held(self) -> bool:
        """Whether a live process holds the lock (the session is running)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # closing drops a lock taken just now
        return False

    def owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
