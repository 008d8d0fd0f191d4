"""Run a command in its own process group with a timeout, stream its output, cap it.

This is the one place the harness starts a command (benchmark, checks, holdout, setup,
hooks, notify, the command agent and the API agent's `run_command` all come here). Every
command runs through `sh -c` in a new session (so its process group holds everything it
starts), wrapped by its `Isolation` (`sandbox.py`: bubblewrap, or nothing), with the
environment that `command_env` allows and a private, empty HOME and TMPDIR that are
deleted after the run. On timeout or cancel the group gets SIGTERM, then SIGKILL after a
grace period; after the command exits the group is killed too, and the leftovers (members
of its session, orphans re-parented to the subreaper) are swept and reaped, so a daemon it
forked can neither linger nor hold the output pipe open, and no zombie piles up. Output is
kept capped (head and tail) for the run folder. Parsing what it printed is `measure.py`'s.

One filter decides the environment of every command: `command_env`. It is an allowlist,
not a denylist:

* always: `PATH`, `LANG`, `LANGUAGE`, `LC_*`, `TERM`, `TZ`, `COLORTERM`, `NO_COLOR`,
  plus `HOME` and `TMPDIR` pointing at a private, empty folder made for the run;
* `[session] env = ["NAME", ...]`: passed through as they are set (this is how a code
  injecting variable such as `PYTHONPATH` or `NODE_OPTIONS` is let through on purpose);
* secret-looking names (`env_names.looks_secret`) are dropped even when `[session] env`
  lists them; only `[session] env_secrets` passes one, by its exact name;
* the command agent additionally gets `[agent.command] env` (its API key, for instance):
  those names reach the agent, never a measured command.

The harness marks itself a child subreaper (`PR_SET_CHILD_SUBREAPER`) so that descendants
that leave the group or the session are still found, killed and reaped (`Leftovers`):
without bwrap a double-forked daemon, with bwrap the sandboxed child of a bubblewrap that
was killed on a timeout (it dies with its parent and would otherwise stay a zombie).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.env_names import looks_secret

if TYPE_CHECKING:
    from app.engine.sandbox import Isolation

HEAD_BYTES = 16 * 1024
TAIL_BYTES = 48 * 1024
STDOUT_KEEP = 256 * 1024
"""How much stdout is kept for metric parsing (its tail)."""
MAX_LINE = 4096
"""Longer lines are cut before they reach events (a 1 MB line must not freeze a UI)."""
KILL_GRACE_S = 2.0
LINE_BATCH_S = 0.1
MAX_BATCH_LINES = 2000
"""A flood keeps only the newest lines of each batch: the stored output has the rest, and a
UI cannot show 100,000 lines in 0.1 s anyway."""



# ---------------------------------------------------------------------------------------
# The environment

BASE_NAMES = frozenset({"PATH", "LANG", "LANGUAGE", "TERM", "TZ", "COLORTERM", "NO_COLOR"})
"""Passed to every command when set (plus `LC_*`)."""

CODE_INJECTING = frozenset({
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONINSPECT",
    "PYTHONBREAKPOINT", "PYTHONWARNINGS", "NODE_OPTIONS", "NODE_PATH", "LD_PRELOAD",
    "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH", "PERL5LIB",
    "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "BASH_ENV", "ENV", "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_GLOBAL",
    "PYTEST_ADDOPTS", "PYTEST_PLUGINS"})
"""Never passed by default (none is in BASE_NAMES); `[session] env` may name them."""

@dataclass(frozen=True)
class EnvPolicy:
    """The allowlist of one session (`[session] env`, `env_secrets`)."""

    passthrough: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()

    def names(self, source: Mapping[str, str], extra_names: Iterable[str] = ()) -> list[str]:
        allowed = []
        for name in source:
            if name in self.secrets:
                allowed.append(name)
            elif looks_secret(name):
                continue
            elif name in BASE_NAMES or name.startswith("LC_") or name in self.passthrough:
                allowed.append(name)
        allowed.extend(n for n in extra_names if n in source and n not in allowed)
        return allowed


def command_env(policy: EnvPolicy | None, *, home: Path | str, tmpdir: Path | str,
                extra: Mapping[str, str] | None = None,
                agent_names: Iterable[str] = (),
                source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of one command: the allowlist applied to `source` (default: this
    process's environment), a private HOME and TMPDIR, then `extra` (values the harness
    itself sets, e.g. AUTORESEARCH_EXPERIMENT). `agent_names` are passed as well, whatever
    they look like: only the command agent gets them (`[agent.command] env`)."""
    source = os.environ if source is None else source
    policy = policy or EnvPolicy()
    env = {name: source[name] for name in policy.names(source, agent_names)}
    env["PATH"] = absolute_path(env.get("PATH", os.defpath))
    env["HOME"] = str(home)
    env["TMPDIR"] = str(tmpdir)
    env.update(extra or {})
    return env


def absolute_path(path: str) -> str:
    """PATH with its relative entries (`.`, an empty one, `node_modules/.bin`) made absolute
    from the harness's working folder: commands run in the measurement tree or the agent's
    worktree, where a relative entry would find programs the candidate commits (a `python3`
    at the root that says "1 passed" for pytest was kept)."""
    here = os.getcwd()
    return os.pathsep.join(entry if os.path.isabs(entry) else os.path.normpath(
        os.path.join(here, entry)) for entry in path.split(os.pathsep))


STATUS_LOST = -1000
"""The exit code of a command whose status could not be read (something else reaped it):
a failure, never taken for success."""

_LIVE: set[int] = set()
"""PIDs of commands running now (other threads' commands are not leftovers to sweep)."""
_LIVE_LOCK = threading.Lock()
"""Held while a command or a spared process is started and registered, and while a sweep
lists our children: a sweep never sees a child that is not yet in `_LIVE` or `_SPARED`
(a measurement slot's benchmark, started while another slot's sweep ran, was killed)."""


def starting() -> threading.Lock:
    """Hold while starting a process of the harness's own and `spare`-ing it, so no
    leftover sweep of another thread sees it in between."""
    return _LIVE_LOCK


class CappedText:
    """Keeps the first HEAD bytes and the last TAIL bytes of a stream, and a byte count."""

    def __init__(self, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> None:
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.head_limit, self.tail_limit = head, tail
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail.append(data)
            self._tail_size += len(data)
            while self._tail_size - len(self._tail[0]) >= self.tail_limit:
                self._tail_size -= len(self._tail.popleft())

    def text(self) -> str:
        tail = b"".join(self._tail)[-self.tail_limit:]
        head = bytes(self._head).decode("utf-8", errors="replace")
        if self.total > len(self._head) + len(tail):
            skipped = self.total - len(self._head) - len(tail)
            return (head + f"\n[... {skipped} bytes not kept ...]\n"
                    + tail.decode("utf-8", errors="replace"))
        return head + tail.decode("utf-8", errors="replace")

    def tail_text(self, max_bytes: int) -> str:
        return self.tail_text_bytes(max_bytes).decode("utf-8", errors="replace")

    def tail_text_bytes(self, max_bytes: int) -> bytes:
        data = bytes(self._head) + b"".join(self._tail) if self.total <= len(
            self._head) + self._tail_size else b"".join(self._tail)
        return data[-max_bytes:]


MARKERS = (b"METRIC", b"FINGERPRINT")
MAX_MARKED = 1000


class MarkedLines:
    """The stdout lines that name a METRIC or a FINGERPRINT, wherever they are in the
    stream, so that the text parsed still holds them when more than STDOUT_KEEP bytes came
    after them: code under test that prints 320 KB after the benchmark's own METRIC line,
    then a better one, would otherwise be read as printing it once. An honest benchmark
    that prints its fingerprint first and a long log after it keeps it too."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, bytes]] = []
        """(offset in the stream where the line ends, its first MAX_LINE bytes), at most
        MAX_MARKED of them (the first)."""
        self._offset = 0
        self._partial = b""
        self._partial_len = 0

    def _keep(self, end: int, line: bytes) -> None:
        if len(self.lines) < MAX_MARKED and any(m in line for m in MARKERS):
            self.lines.append((end, line))

    def add(self, data: bytes) -> None:
        start = self._offset - self._partial_len
        self._offset += len(data)
        cut = data.rfind(b"\n")
        if cut < 0:
            room = MAX_LINE - len(self._partial)
            if room > 0:
                self._partial += data[:room]
            self._partial_len += len(data)
            return
        pos = start
        first = True
        for piece in data[:cut].split(b"\n"):
            if first:
                length = self._partial_len + len(piece)
                line = (self._partial + piece)[:MAX_LINE]
                first = False
            else:
                length, line = len(piece), piece[:MAX_LINE]
            pos += length + 1
            self._keep(pos, line)
        rest = data[cut + 1:]
        self._partial, self._partial_len = rest[:MAX_LINE], len(rest)

    def text(self, tail: CappedText) -> str:
        """The stdout to parse: its kept tail, after the marked lines that ended before it
        (the tail's first line, cut, is left out then)."""
        data = tail.tail_text_bytes(STDOUT_KEEP)
        start = tail.total - len(data)
        if start <= 0:
            return data.decode("utf-8", errors="replace")
        self._keep(self._offset, self._partial)  # a last line without a newline
        cut = data.find(b"\n") + 1
        cutoff = start + cut if cut else tail.total
        early = [line for end, line in self.lines if end <= cutoff]
        if not early:
            return data.decode("utf-8", errors="replace")
        kept = data[cut:] if cut else b""
        return (b"\n".join(early) + b"\n" + kept).decode("utf-8", errors="replace")


@dataclass
class CommandResult:
    command: str
    exit_code: int | None
    """None when the command was killed (timeout or cancel)."""
    duration_s: float
    stdout: str
    """The tail of stdout (for metric parsing)."""
    output: str
    """Both streams interleaved, capped (head and tail)."""
    timed_out: bool = False
    cancelled: bool = False
    output_bytes: int = 0
    wall_s: float | None = None
    """Seconds from start until the command's process exited (not waiting for stray
    output), measured by the harness: the outside clock (docs/safety.md)."""
    cpu_s: float | None = None
    """User + system CPU seconds of the command's process and every descendant it waited
    for (`os.wait4`'s resource usage), measured by the kernel, not by the command."""
    isolation: str = "none"
    """Which isolation was in force ("bwrap" or "none")."""
    leftovers_killed: int = 0
    """Processes found alive after the command ended (and killed)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    @property
    def output_tail(self) -> str:
        return last_lines(self.output, 15)

    def failure(self) -> str:
        """One sentence on why the command failed ('' if it did not)."""
        if self.cancelled:
            return "stopped"
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f} s"
        if self.exit_code == 127:
            return f"command not found (exit 127): {self.command}"
        if self.exit_code == 126:
            return f"command not executable (exit 126): {self.command}"
        if self.exit_code == STATUS_LOST:
            return "its exit status was lost (the process was reaped elsewhere)"
        if self.exit_code and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        if self.exit_code:
            return f"exit status {self.exit_code}"
        return ""


def last_lines(text: str, count: int, width: int = 300) -> str:
    lines = [line[:width] for line in text.rstrip().splitlines()]
    return "\n".join(lines[-count:])


def output_clause(tail: str) -> str:
    """The end of a failing command's output, for an error that ends with it, or that it
    printed nothing (a bare "Last output:" reads as if something was lost)."""
    return f" Last output:\n{tail}" if tail.strip() else " It printed nothing."


def run_command(command: str, cwd: Path, timeout_s: float, *,
                on_lines: Callable[[list[str]], None] | None = None,
                cancel: threading.Event | None = None, env: dict[str, str] | None = None,
                isolation: Isolation | None = None, policy: EnvPolicy | None = None,
                agent_env: tuple[str, ...] = (), merge_stderr: bool = False,
                stdin_text: str | None = None, cpus: tuple[int, ...] = ()) -> CommandResult:
    """Run `command` with `sh -c` in `cwd`; never raises for the command's own failures.

    `env` holds variables the harness sets itself (added after the allowlist); `policy`
    is the session's allowlist; `agent_env` names passed only to the command agent;
    `cpus` the cores the command and its children are pinned to (Linux; empty: any).
    """
    become_subreaper()  # orphans come to us, to be killed and reaped (Leftovers)
    scratch = Path(tempfile.mkdtemp(prefix="autoresearch-run-"))
    home, tmpdir = scratch / "home", scratch / "tmp"
    home.mkdir()
    tmpdir.mkdir()
    if isolation is not None and not isolation.private_home:
        home = Path(os.path.expanduser("~"))
    stdin_path = None
    if stdin_text is not None:
        stdin_path = scratch / "stdin"
        stdin_path.write_text(stdin_text, encoding="utf-8")
    note_writers(isolation)  # the measurement tree is not known clean from now on
    try:
        return _run(command, cwd, timeout_s, on_lines, cancel, isolation,
                    command_env(policy, home=home, tmpdir=tmpdir, extra=env,
                                agent_names=agent_env), home, tmpdir, merge_stderr,
                    stdin_path, cpus)
    finally:
        note_writers(isolation)
        shutil.rmtree(scratch, ignore_errors=True)


_PIN = ("import os, sys; os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')}); "
        "os.execvp(sys.argv[2], sys.argv[2:])")
"""Pins itself to the cores of argv[1], then becomes the command of argv[2:]."""


def _run(command: str, cwd: Path, timeout_s: float,
         on_lines: Callable[[list[str]], None] | None, cancel: threading.Event | None,
         isolation: Isolation | None, env: dict[str, str], home: Path, tmpdir: Path,
         merge_stderr: bool, stdin_path: Path | None,
         cpus: tuple[int, ...] = ()) -> CommandResult:
    started = time.monotonic()
    output = CappedText()
    stdout_tail = CappedText(head=0, tail=STDOUT_KEEP)
    marked = MarkedLines()
    argv = ["sh", "-c", command]
    if isolation is not None:
        argv = isolation.wrap(argv, cwd=cwd, home=home, tmpdir=tmpdir)
    kind = isolation.kind if isolation is not None else "none"
    if cpus:  # pinned before it starts, so every process it makes inherits the cores
        argv = [sys.executable, "-c", _PIN, ",".join(map(str, cpus)), *argv]
    try:
        with _LIVE_LOCK, (stdin_path.open("rb") if stdin_path else
                          open(os.devnull, "rb")) as stdin:
            proc = subprocess.Popen(
                argv, cwd=cwd, stdin=stdin, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                start_new_session=True, env=env)
            _LIVE.add(proc.pid)
    except OSError as exc:
        return CommandResult(command, 127, 0.0, "", f"cannot start: {exc}",
                             isolation=kind)
    assert proc.stdout is not None
    streams = [proc.stdout] if merge_stderr else [proc.stdout, proc.stderr]
    selector = selectors.DefaultSelector()
    for stream in streams:
        assert stream is not None
        os.set_blocking(stream.fileno(), False)
        selector.register(stream, selectors.EVENT_READ)
    stdout_fd = proc.stdout.fileno()
    partial = {stream.fileno(): b"" for stream in streams if stream is not None}
    cutting = {stream.fileno(): False for stream in streams if stream is not None}
    """True while the rest of a line that was already cut is being skipped."""
    pending: list[str] = []
    last_flush = time.monotonic()
    timed_out = cancelled = False
    exited_at: float | None = None

    dropped = [0]

    def flush(force: bool = False) -> None:
        nonlocal last_flush, pending
        if on_lines and pending and (force or time.monotonic() - last_flush >= LINE_BATCH_S):
            batch, pending = pending, []
            if dropped[0]:
                batch.insert(0, f"[... {dropped[0]} lines not shown here; the stored output "
                                "keeps its head and tail ...]")
                dropped[0] = 0
            on_lines(batch)
            last_flush = time.monotonic()

    usage: list[float] = []

    def reap(block: bool) -> bool:
        """Reap the child with os.wait4 (Popen.wait would drop its resource usage)."""
        if proc.returncode is not None:
            return True
        try:
            pid, status, rusage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: its status is unknown, and
            proc.returncode = STATUS_LOST  # Popen.poll would say 0 (a pass for checks)
            return True
        if pid == 0:
            return False
        proc.returncode = os.waitstatus_to_exitcode(status)
        usage[:] = [time.monotonic() - started, rusage.ru_utime + rusage.ru_stime]
        return True

    try:
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and reap(block=False):
                exited_at = now
            if exited_at is not None and now - exited_at > 0.5:
                break  # a forked child holds the pipe open: stop reading, kill the group
            if exited_at is None and not timed_out and now - started > timeout_s:
                timed_out = True
                _terminate_group(proc)
            if exited_at is None and not cancelled and cancel is not None and cancel.is_set():
                cancelled = True
                _terminate_group(proc)
            for key, _ in selector.select(timeout=0.05):
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                output.add(data)
                if fd == stdout_fd:
                    stdout_tail.add(data)
                    marked.add(data)
                if on_lines:
                    chunk = partial[fd] + data
                    *lines, rest = chunk.split(b"\n")
                    if cutting[fd]:
                        # The cut line goes on: drop it up to its newline (one event line
                        # for a 1 MB line, not one per read).
                        if lines:
                            lines = lines[1:]
                            cutting[fd] = False
                        else:
                            rest = b""
                    if len(rest) > MAX_LINE:
                        lines.append(rest[:MAX_LINE])
                        rest = b""
                        cutting[fd] = True
                    partial[fd] = rest
                    if len(lines) > MAX_BATCH_LINES:
                        dropped[0] += len(lines) - MAX_BATCH_LINES
                        lines = lines[-MAX_BATCH_LINES:]
                    pending.extend(line[:MAX_LINE].decode("utf-8", errors="replace")
                                   for line in lines)
                    if len(pending) > 2 * MAX_BATCH_LINES:
                        dropped[0] += len(pending) - MAX_BATCH_LINES
                        del pending[:-MAX_BATCH_LINES]
            flush()
        if timed_out or cancelled:
            proc.wait(timeout=KILL_GRACE_S + 5)
        else:
            reap(block=True)
    finally:
        _kill_group(proc)
        selector.close()
        for stream in streams:
            assert stream is not None
            stream.close()
        with _LIVE_LOCK:
            _LIVE.discard(proc.pid)
    # Without bwrap: the command's session and re-parented orphans. With bwrap the PID
    # namespace ends with the command, but a bubblewrap killed on a timeout or cancel
    # leaves its sandboxed child (dying with it) to us: it must be reaped, not left a zombie.
    sweeper = Leftovers()
    sweeper.sweep(proc.pid)
    for rest in partial.values():
        if rest and on_lines:
            pending.append(rest[:MAX_LINE].decode("utf-8", errors="replace"))
    flush(force=True)
    return CommandResult(
        command=command, exit_code=None if (timed_out or cancelled) else proc.returncode,
        duration_s=time.monotonic() - started, stdout=marked.text(stdout_tail),
        output=output.text(), timed_out=timed_out, cancelled=cancelled,
        output_bytes=output.total, isolation=kind,
        leftovers_killed=len(sweeper.killed),
        wall_s=usage[0] if usage and not (timed_out or cancelled) else None,
        cpu_s=usage[1] if usage and not (timed_out or cancelled) else None)


def _terminate_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group; a thread sends SIGKILL if it is still there after the grace."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return

    def escalate() -> None:
        deadline = time.monotonic() + KILL_GRACE_S
        while time.monotonic() < deadline:
            if proc.returncode is not None:  # reaped by run_command (which keeps its rusage)
                break
            time.sleep(0.05)
        _kill_group(proc)

    threading.Thread(target=escalate, daemon=True).start()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# ---------------------------------------------------------------------------------------
# Who may have written a watched folder (the measurement tree) since the harness last
# verified it: every command started whose isolation can write there counts, at its start
# and at its end (so one running across a check counts as well).

_WRITERS: dict[Path, int] = {}
_WRITERS_LOCK = threading.Lock()


def watch_writers(folder: Path) -> None:
    """Start counting the commands that could write `folder`."""
    with _WRITERS_LOCK:
        _WRITERS.setdefault(folder, 0)


def writers_seen(folder: Path) -> int:
    """How many times a command that could write `folder` started or ended (watched)."""
    with _WRITERS_LOCK:
        return _WRITERS.get(folder, -1)


def note_writers(isolation: Isolation | None) -> None:
    """A command under `isolation` starts or ends (`run_command` calls this)."""
    with _WRITERS_LOCK:
        for folder in _WRITERS:
            if isolation is None or isolation.may_write(folder):
                _WRITERS[folder] += 1


# ---------------------------------------------------------------------------------------
# Descendants that left the process group (the fallback without a PID namespace)

PR_SET_CHILD_SUBREAPER = 36


@functools.lru_cache(maxsize=1)
def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); True if it is."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except OSError:
        return False


def _proc_stat(pid: int) -> tuple[int, int, int, str] | None:
    """(ppid, pgid, sid, state) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[2]), int(fields[3]), fields[0]


def _my_children() -> set[int] | None:
    """PIDs of this process's children (all threads), or None where /proc cannot say."""
    out: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            text = Path(f"/proc/self/task/{tid}/children").read_text()
        except FileNotFoundError:
            continue
        except OSError:
            return None
        out.update(int(x) for x in text.split())
    return out


def _scan_all() -> set[int]:
    return {int(e.name) for e in os.scandir("/proc") if e.name.isdigit()}


_SPARED: set[int] = set()
"""Processes the harness started itself in their own session (the background `git
repack`): never leftovers of a command."""


def spare(pid: int) -> None:
    """Tell the leftover sweep that `pid` is the harness's own (see `_SPARED`)."""
    _SPARED.add(pid)


def unspare(pid: int) -> None:
    _SPARED.discard(pid)


def spared() -> frozenset[int]:
    return frozenset(_SPARED)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


@dataclass
class Leftovers:
    """Processes a finished command left behind: members of its session and, with the
    subreaper, descendants re-parented to us (their parent died) that are not the harness's
    own children. Killing one re-parents its children to us: repeat until none is left."""

    killed: list[int] = field(default_factory=list)

    def sweep(self, session_id: int) -> None:
        import signal
        import time

        if not Path("/proc/self/stat").exists():
            return
        for _ in range(50):
            # Under the lock that starting a command holds: every child listed is either
            # a running command of another thread (in `_LIVE`), ours (`_SPARED`) or a
            # leftover, never one caught between its start and its registration.
            with _LIVE_LOCK:
                found = self._leftovers(session_id, frozenset(_LIVE))
            if not found:
                return
            for pid, _ppid, state in found:
                if state != "Z":
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append(pid)
                    except (ProcessLookupError, PermissionError):
                        pass
            me = os.getpid()
            for pid, ppid, _state in found:
                if ppid == me:
                    try:
                        os.waitpid(pid, 0)
                    except (ChildProcessError, OSError):
                        pass
            time.sleep(0.005)

    @staticmethod
    def _leftovers(session_id: int, live: frozenset[int]) -> list[tuple[int, int, str]]:
        """(pid, ppid, state) of the processes to kill now: members of the command's
        session, and our re-parented children in other sessions that are not running
        commands (`live`) or the harness's own (`_SPARED`, reaped here once finished)."""
        me = os.getpid()
        my_sid = os.getsid(0)
        # Orphans come to us (the subreaper): our children list is enough, and much
        # cheaper than reading every process's stat (50 ms on a busy machine).
        pids = _my_children()
        if pids is None:
            pids = _scan_all()
        found = []
        for pid in pids:
            info = _proc_stat(pid)
            if info is None or pid == me:
                continue
            ppid, _pgid, sid, state = info
            if pid in _SPARED:
                if state == "Z" and ppid == me:  # finished: reap it, no zombie stays
                    _reap(pid)
                    unspare(pid)
                continue
            if sid == session_id or (ppid == me and sid != my_sid and pid not in live):
                found.append((pid, ppid, state))
        return found
