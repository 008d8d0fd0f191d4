"""Which repository files the benchmark reads: its data, protected like its scripts.

A benchmark that reads `data/corpus.txt` without naming it on its command line left that
file unprotected: a patch shrinking it, or replacing it with a symlink to a small system
file, made the benchmark "faster" and was kept. So at calibration the benchmark and the
held-out benchmark run once under `strace -f -e trace=open,openat` (where strace is
installed), and the repository's tracked files they open, less source code, are protected
from then on (the session start record lists them; `init` writes them into `[guard]
protected`). Without strace nothing is detected, and a warning says to list data files in
`[guard] protected`.

Source files are left out on purpose: the benchmark opens the code under test, which is
what the agent is there to change.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from app.engine.formats import output_file
from app.engine.process import run_command

SOURCE_SUFFIXES = frozenset({
    ".py", ".pyc", ".pyi", ".pyx", ".pxd", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx",
    ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".java", ".kt", ".scala",
    ".rb", ".php", ".pl", ".pm", ".lua", ".swift", ".m", ".mm", ".cs", ".fs", ".zig",
    ".nim", ".jl", ".r", ".R", ".sh", ".bash", ".so", ".dylib", ".wasm", ".json", ".toml",
    ".lock", ".mod", ".sum",
})
"""Code and build metadata: opened by any run, and the agent's to change. (`.json` and
`.toml` are mostly package metadata; a benchmark whose data is JSON should list it in
`[guard] protected`.)"""

_OPEN = re.compile(r'^(?:\d+\s+)?(?:open|openat|openat2)\((?:[A-Z_]+|\d+), "((?:[^"\\]|\\.)*)"'
                   r'(?:.*\) = (-?\d+)|.*<unfinished \.\.\.>)')


def strace_available() -> bool:
    return shutil.which("strace") is not None


@functools.lru_cache(maxsize=1)
def _seccomp_flag() -> str:
    """`--seccomp-bpf` where this strace takes it (5.3 and later): only the traced calls
    stop the process, so a Python benchmark runs about 2-4x faster under it than when every
    system call stops it. Where the kernel refuses the filter, strace traces as usual."""
    try:
        done = subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=openat",
                               "-o", os.devnull, "--", "true"], capture_output=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return "--seccomp-bpf " if done.returncode == 0 else ""


def opened_paths(trace: str) -> set[str]:
    """Paths that open/openat calls of an strace log opened successfully (or may have:
    a call interrupted by another process's line counts too)."""
    found = set()
    for line in trace.splitlines():
        match = _OPEN.match(line.strip())
        if not match:
            continue
        result = match.group(2)
        if result is not None and int(result) < 0:
            continue
        found.add(match.group(1).encode("latin-1", "backslashreplace").decode(
            "unicode_escape", "replace"))
    return found


def files_read_by(command: str, cwd: Path, timeout_s: float) -> set[str] | None:
    """Absolute or cwd-relative paths `command` opened when run once under strace in `cwd`;
    None when strace is not installed or the traced run could not start."""
    if not strace_available():
        return None
    handle, trace_path = tempfile.mkstemp(prefix="autoresearch-strace-", suffix=".log")
    os.close(handle)
    try:
        traced = (f"strace -f -qq {_seccomp_flag()}-e trace=open,openat "
                  f"-o {shlex.quote(trace_path)} -- "
                  f"sh -c {shlex.quote(command)}")
        result = run_command(traced, cwd, timeout_s)
        try:
            trace = Path(trace_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        if not trace and not result.ok:
            return None
        return opened_paths(trace)
    finally:
        try:
            os.unlink(trace_path)
        except OSError:
            pass


def data_files(opened: Iterable[str], root: Path, tracked: Iterable[str]) -> list[str]:
    """The tracked, non-source repository files among `opened` (paths relative to `root`
    or absolute), sorted."""
    tracked_set = set(tracked)
    base = root.resolve()
    out = set()
    for raw in opened:
        path = Path(raw)
        candidate = path if path.is_absolute() else root / path
        try:
            rel = candidate.resolve().relative_to(base).as_posix()
        except (OSError, ValueError):
            # A symlinked file resolves elsewhere; try its own path inside the repo.
            try:
                rel = Path(os.path.normpath(candidate)).relative_to(root).as_posix()
            except ValueError:
                continue
        if rel in tracked_set and PurePosixPath(rel).suffix not in SOURCE_SUFFIXES:
            out.add(rel)
    return sorted(out)


def audit(commands: Iterable[str | None], root: Path, tracked: Iterable[str],
          timeout_s: float) -> tuple[list[str], str]:
    """Run each command once under strace: (data files, a warning or '')."""
    tracked = list(tracked)
    if not strace_available():
        return [], ("strace is not installed, so the files your benchmark reads are not "
                    "detected: list its data files in [guard] protected")
    found: set[str] = set()
    for command in commands:
        if not command:
            continue
        with output_file(command) as (runnable, _):
            opened = files_read_by(runnable, root, timeout_s)
        if opened is None:
            return sorted(found), ("the benchmark could not run under strace, so the files "
                                   "it reads are not detected: list its data files in "
                                   "[guard] protected")
        found |= set(data_files(opened, root, tracked))
    return sorted(found), ""
