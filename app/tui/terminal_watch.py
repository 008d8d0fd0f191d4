"""Noticing that the app's terminal went away (its window closed, ssh dropped, `tmux
kill-session`), so the App can stop the session as Ctrl+C does instead of dying half-way
or running on with nobody to steer it.

Two signs, either is enough: SIGHUP (the kernel's word for a hung-up terminal), and the
terminal no longer answering `tcgetattr` (checked a few times a second: SIGHUP may be
ignored, as under `nohup` or some session managers, and the app then ran on for ever with
its quit dialog open). Without its terminal, Textual's output thread dies on its first
write (EIO) and the UI thread then blocks once the output queue is full, so the watch runs
on a thread of its own and does not rely on the UI thread to finish: once the loop has
stopped (the experiment recorded, the worktree reset, its commands killed) and a short
grace for the normal exit has passed, it ends the process itself.
"""

from __future__ import annotations

import os
import signal
import sys
import termios
import threading
from collections.abc import Callable
from types import FrameType

EXIT_HANGUP = 129
"""The exit status after the terminal went away (128 + SIGHUP, as a shell reports it)."""

POLL_S = 0.25
"""How often the terminal is asked whether it is still there."""


def terminal_fd() -> int | None:
    """The file descriptor of the app's terminal: where Textual draws (stderr), else where
    it reads keys (stdin); None when neither is a terminal (tests, pipes)."""
    for stream in (sys.__stderr__, sys.__stdin__):
        try:
            if stream is not None and os.isatty(stream.fileno()):
                return stream.fileno()
        except (OSError, ValueError):
            continue
    return None


def terminal_answers(fd: int) -> bool:
    """Whether the terminal on `fd` is still there (a hung-up one fails with EIO)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        return False
    return True


def detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: what is still written (the last
    frames, the exit's escape codes, the farewell lines) goes nowhere instead of failing
    with EIO or blocking."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        try:
            os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


class TerminalWatch:
    """Calls `on_lost` once (on the watch's thread) when the terminal on `fd` goes away;
    then, once `stopped` is set (the loop has stopped) or after `stop_timeout_s`, and
    `grace_s` more for the normal exit, ends the process with `EXIT_HANGUP`.

    `start` must be called on the main thread (it installs the SIGHUP handler)."""

    def __init__(self, fd: int, on_lost: Callable[[], None], stopped: threading.Event, *,
                 stop_timeout_s: float = 30.0, grace_s: float = 2.0) -> None:
        self.fd = fd
        self.on_lost = on_lost
        self.stopped = stopped
        self.stop_timeout_s = stop_timeout_s
        self.grace_s = grace_s
        self.hung_up = threading.Event()
        """Set by SIGHUP."""
        self.lost = False
        """Whether the terminal went away (read by the App for its exit status)."""
        self._closed = threading.Event()
        self._previous: object = None
        self._thread = threading.Thread(target=self._watch, name="terminal-watch",
                                        daemon=True)

    def start(self) -> None:
        # Whatever the inherited disposition (SIG_IGN under nohup): a TUI without its
        # terminal can only stop; headless mode (`run --headless`) is for running on.
        self._previous = signal.signal(signal.SIGHUP, self._on_hangup)
        self._thread.start()

    def close(self) -> None:
        """The app closed normally: stop watching (the SIGHUP handler is put back)."""
        self._closed.set()
        if self._previous is not None and threading.current_thread() is \
                threading.main_thread():
            try:
                signal.signal(signal.SIGHUP, self._previous)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        # Async-signal context on the main thread: only set a flag.
        self.hung_up.set()

    def _watch(self) -> None:
        while not self._closed.is_set():
            if self.hung_up.wait(POLL_S) or not terminal_answers(self.fd):
                break
        if self._closed.is_set():
            return
        self.lost = True
        detach_from_terminal()
        try:
            self.on_lost()
        finally:
            self.stopped.wait(self.stop_timeout_s)
            if not self._closed.wait(self.grace_s):
                # The UI thread could not finish the exit (its output queue blocked on
                # the dead terminal): the session is stopped and recorded; end here.
                os._exit(EXIT_HANGUP)
