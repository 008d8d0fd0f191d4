"""TUI latency: launch to first frame on a pty, and key press to repaint under an output flood.

1. First frame: `autoresearch-tui --paused` in a sample repository, on a pseudo-terminal,
   from spawn to the first frame (the footer's "palette" hint drawn), beside the same figure
   for a minimal Textual app (Header, Static, Footer) measured in the same run, alternating.
   Goal: within 1.5x of the minimal app's.
   The time to the complete main screen (all panes) is printed too.
2. Key latency: the app runs a session whose benchmark floods 10,000 output lines per
   second into the activity pane; we press `r` (review mode: the status line's badge) and
   `?` (the help screen) and time until the change is on the terminal, many times.
   Goal: p95 under 50 ms.

    .venv/bin/python benchmarks/tui_latency.py [--runs 7] [--presses 40]
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import threading
import time
from pathlib import Path

from bench_cli import arguments

BIN = Path(sys.executable).parent
COLUMNS, ROWS = 120, 36

MINIMAL_APP = """\
from textual.app import App
from textual.widgets import Footer, Header, Static


class Minimal(App):
    def compose(self):
        yield Header()
        yield Static("hello")
        yield Footer()


Minimal().run()
"""

FLOOD = """\
import sys, time
RATE, SECONDS = 10_000, float(sys.argv[1])
start, n, noted = time.monotonic(), 0, 0.0
line = " the quick brown fox jumps over the lazy dog, again and again\\n"


def note() -> None:
    # Lines written so far and seconds elapsed: the rate actually delivered.
    with open("flood.count", "w") as handle:
        handle.write(f"{n} {time.monotonic() - start:.3f}")


while (now := time.monotonic()) - start < SECONDS:
    target = int((now - start) * RATE)
    if n < target:
        sys.stdout.write("".join(f"{i}{line}" for i in range(n, target)))
        sys.stdout.flush()
        n = target
    if now - noted > 1.0:
        note()
        noted = now
    time.sleep(0.002)
note()
print(f"METRIC t={time.monotonic() - start:.3f}")
"""


class Terminal:
    """A child process on a pty of COLUMNS x ROWS, with a thread draining its output."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave,
                                     stderr=slave, start_new_session=True, close_fds=True)
        os.close(slave)
        self.master = master
        self._lock = threading.Condition()
        self._chunks: list[tuple[float, bytes]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            with self._lock:
                self._chunks.append((time.perf_counter(), data))
                self._lock.notify_all()

    def mark(self) -> int:
        with self._lock:
            return len(self._chunks)

    def wait_for(self, text: bytes, since: int = 0, timeout: float = 30.0) -> float:
        """The time the output after chunk `since` first contains `text`."""
        deadline = time.perf_counter() + timeout
        seen = b""
        index = since
        with self._lock:
            while True:
                while index < len(self._chunks):
                    stamp, data = self._chunks[index]
                    index += 1
                    seen = seen[-len(text):] + data
                    if text in seen:
                        return stamp
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"{text!r} not seen in {timeout} s")
                self._lock.wait(left)

    def send(self, keys: bytes) -> float:
        stamp = time.perf_counter()
        os.write(self.master, keys)
        return stamp

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, bench: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@localhost")
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "patches").mkdir()
    (root / "patches" / "README").write_text("no patches: the session only measures\n")
    (root / "autoresearch.toml").write_text(textwrap.dedent(f"""\
        [metric]
        command = "{bench}"
        name = "t"
        unit = "s"
        timeout_s = 600
        calibration_runs = 3
        repeats = 1
        max_repeats = 1

        [agent]
        kind = "scripted"

        [agent.scripted]
        patches = "patches"
        """))
    (root / ".gitignore").write_text("flood.count\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench repo")
    return root


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "PYTEST"))}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", XDG_CONFIG_HOME=str(home),
               COLUMNS=str(COLUMNS), LINES=str(ROWS))
    return env


def first_frame(argv: list[str], cwd: Path, env: dict[str, str],
                full: bytes | None = None) -> tuple[float, float | None]:
    """Seconds from spawn to the first frame (the footer drawn) and, if `full` is given, to
    the text `full` (the complete screen)."""
    term = Terminal(argv, cwd, env)
    try:
        first = term.wait_for(b"palette", timeout=30) - term.started
        complete = term.wait_for(full, timeout=30) - term.started if full else None
        return first, complete
    finally:
        term.close()


def measure_first_frames(tmp: Path, runs: int
                         ) -> tuple[list[float], list[float], list[float]]:
    """(ours to the first frame, ours to the complete main screen, the minimal app's)."""
    env = environment(tmp / "xdg")
    minimal = tmp / "minimal.py"
    minimal.write_text(MINIMAL_APP)
    repo = make_repo(tmp / "launch", "python3 flood.py 0.1", {"flood.py": FLOOD})
    ours: list[float] = []
    complete: list[float] = []
    theirs: list[float] = []
    ours_argv = [str(BIN / "autoresearch-tui"), "--paused"]
    first_frame(ours_argv, repo, env)  # warm the file cache for both
    first_frame([sys.executable, str(minimal)], tmp, env)
    for _ in range(runs):
        theirs.append(first_frame([sys.executable, str(minimal)], tmp, env)[0])
        first, full = first_frame(ours_argv, repo, env, full=b"experiments")
        ours.append(first)
        complete.append(full or 0.0)
    return ours, complete, theirs


def measure_key_latency(tmp: Path, presses: int) -> tuple[dict[str, list[float]], str]:
    """Press keys while the benchmark floods the activity pane; time each repaint.

    `r` turns review mode on: timed until the status line's REVIEW badge is on the terminal
    (a second `r`, untimed, turns it off). `?` opens the help: timed until its text is on
    the terminal (escape, untimed, closes it).
    """
    env = environment(tmp / "xdg")
    seconds = 30.0 + presses * 1.5
    repo = make_repo(tmp / "flood", f"python3 flood.py {seconds:.0f}", {"flood.py": FLOOD})
    term = Terminal([str(BIN / "autoresearch-tui")], repo, env)
    latencies: dict[str, list[float]] = {"r": [], "?": []}
    try:
        term.wait_for(b"palette", timeout=30)
        term.wait_for(b"the quick brown fox", timeout=30)  # the flood reaches the screen
        time.sleep(2.0)
        for _ in range(presses):
            for key, shows, undo in ((b"r", b"REVIEW", b"r"), (b"?", b"Statuses", b"\x1b")):
                since = term.mark()
                pressed = term.send(key)
                shown = term.wait_for(shows, since=since, timeout=10)
                latencies[key.decode()].append(shown - pressed)
                time.sleep(0.1)
                term.send(undo)
                time.sleep(0.3)
    finally:
        term.close()
    # The benchmark runs in the session's worktree, where it notes what it wrote.
    counts = sorted(repo.glob(".autoresearch/worktrees/*/flood.count"))
    rate = "10,000 lines/s requested"
    if counts:
        lines, elapsed = counts[0].read_text().split()
        rate = f"{int(lines) / float(elapsed):,.0f} lines/s"
    return latencies, rate


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--presses", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-latency-") as folder:
        tmp = Path(folder)
        ours, complete, theirs = measure_first_frames(tmp, args.runs)
        ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        ratio = ours_ms / theirs_ms
        print(f"first frame (median of {args.runs}, pty {COLUMNS}x{ROWS}): autoresearch-tui "
              f"{ours_ms:.0f} ms, minimal Textual app {theirs_ms:.0f} ms, ratio {ratio:.2f} "
              f"(goal <= 1.5) {'OK' if ratio <= 1.5 else 'MISSED'}")
        print(f"complete main screen (all panes drawn): {statistics.median(complete) * 1e3:.0f}"
              f" ms ({statistics.median(complete) / statistics.median(theirs):.2f}x the minimal"
              " app's first frame)")
        latencies, rate = measure_key_latency(tmp, args.presses)
        for key, what in (("r", "review badge"), ("?", "help screen")):
            values = latencies[key]
            p50, p95 = percentile(values, 0.5) * 1e3, percentile(values, 0.95) * 1e3
            print(f"key {key} to repaint ({what}) while the benchmark floods output ({rate}, "
                  f"{len(values)} presses): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max "
                  f"{max(values) * 1e3:.1f} ms (goal p95 < 50 ms) "
                  f"{'OK' if p95 < 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
