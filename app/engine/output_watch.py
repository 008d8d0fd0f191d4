"""Was a run's `{output}` file written once? (Linux: inotify on its private folder.)

A tool writes its result file once: it opens it, writes, closes it (or writes a file beside
it and renames it into place). The path is on the benchmark's command line, so the code
under test can find it and write the file again after the tool did (an `atexit` handler
that rewrites the JSON with better times): that is a second writable close, or a rename
over it, or a deletion, in the folder the harness made for this run alone. The watch sees
every one of them, whoever makes it, inside bubblewrap or not (inotify watches the inode,
which the bind mount shares).

What it cannot see: a write through the tool's own open file (code inside the tool's
process that changes the data before the tool writes it, or writes through the tool's file
descriptor before the tool closes it). That is cheating inside the benchmark's process,
which no file rule reaches (docs/safety.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
_MASK = (IN_MODIFY | IN_OPEN | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
         | IN_DELETE_SELF | IN_MOVE_SELF)
# IN_MODIFY and IN_OPEN are never counted: they stand between two writers' closes. The
# kernel merges an event into the one before it when the two are identical and unread, so
# without them a second writer's close right after the tool's was the same one event.
_HEADER = struct.Struct("iIII")

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            _libc.inotify_init1  # noqa: B018 - present?
        except (OSError, AttributeError):
            return None
    return _libc


@dataclass
class OutputWatch:
    """The file events in one run's output folder, from before the run to the reading."""

    folder: Path
    name: str
    fd: int = -1
    events: list[tuple[int, str]] = field(default_factory=list)
    overflowed: bool = False

    @classmethod
    def start(cls, folder: Path, name: str) -> OutputWatch:
        """A watch on `folder` (a watch that sees nothing where inotify is missing)."""
        watch = cls(folder, name)
        lib = _lib()
        if lib is None:
            return watch
        fd = lib.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return watch
        if lib.inotify_add_watch(fd, os.fsencode(folder), _MASK) < 0:
            os.close(fd)
            return watch
        watch.fd = fd
        return watch

    @property
    def active(self) -> bool:
        return self.fd >= 0

    def _drain(self) -> None:
        while self.fd >= 0:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                return
            at = 0
            while at + _HEADER.size <= len(data):
                _wd, mask, _cookie, size = _HEADER.unpack_from(data, at)
                at += _HEADER.size
                name = data[at:at + size].rstrip(b"\0").decode("utf-8", "replace")
                at += size
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True
                else:
                    self.events.append((mask, name))

    def problem(self) -> str | None:
        """Why the file cannot be trusted as the tool's one write, or None."""
        if not self.active:
            return None
        self._drain()
        if self.overflowed:
            return "its output folder saw more file events than could be followed"
        if any(m & (IN_DELETE_SELF | IN_MOVE_SELF) for m, _ in self.events):
            return "its output folder was moved or deleted during the run"
        # Writes to the file: a run of changes ended by a writable close (a close with no
        # change before it is not one: hyperfine creates the file empty at its start).
        writes, dirty = 0, False
        for mask, name in self.events:
            if name != self.name:
                continue
            if mask & IN_MODIFY:
                dirty = True
            elif mask & IN_CLOSE_WRITE and dirty:
                writes, dirty = writes + 1, False
        writes += dirty
        moved_in = sum(1 for m, n in self.events if m & IN_MOVED_TO and n == self.name)
        gone = any(m & (IN_DELETE | IN_MOVED_FROM) and n == self.name for m, n in self.events)
        made = any(m & IN_CREATE and n == self.name for m, n in self.events)
        if writes + moved_in == 1 and not gone:
            return None  # written in place once, or written beside it and renamed once
        if writes + moved_in == 0 and not gone and not made:
            return None  # nothing there: the reader says so
        if writes + moved_in == 0:
            return ("the result file appeared in its folder without being written there "
                    "(a link to a file made elsewhere?)")
        return (f"the result file was written {writes + moved_in} times"
                f"{' and replaced' if gone else ''} (a tool writes it once: a second write "
                "can come from the code under test rewriting it)")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
