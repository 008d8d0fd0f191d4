"""`ActivityBuffer`: the lines bound for the activity pane, between the loop's thread and the
UI thread. High-rate output (a command printing 10,000 lines a second) goes here instead of
becoming one Message per line; the UI drains it in one go."""

from __future__ import annotations

import threading
from collections import deque


class ActivityBuffer:
    """Lines waiting for the UI, filled by the loop thread, drained by the UI thread.

    Bounded: under a flood the oldest lines go first, as the activity pane would drop them
    anyway. `push` returns True when the UI needs a wake-up (nothing was pending).
    """

    def __init__(self, max_entries: int = 4000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[tuple[str, str, tuple[str, ...]]] = deque(maxlen=max_entries)
        self._pending = False
        self.dropped = 0

    def push(self, kind: str, source: str, lines: tuple[str, ...]) -> bool:
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append((kind, source, lines))
            wake, self._pending = not self._pending, True
            return wake

    def drain(self) -> list[tuple[str, str, tuple[str, ...]]]:
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
            self._pending = False
            return entries
