"""Duplicates are not measured again: a candidate that makes the same change as one already
measured against the same champion gets status `duplicate`, with the earlier number.

"The same change" is judged on content, not on words: the changed files' contents after
the change, with whitespace normalised (trailing white space and blank lines dropped, runs
of spaces inside a line collapsed). Leading indentation is kept, because in Python, YAML
or a Makefile it is meaning: a re-indented block is a different change.

Which earlier experiments count: those measured (or tried to be) on this champion, whose
outcome a second run would only repeat: discard, crash, timeout, checks_failed, overfit,
and earlier duplicates (which point at the original). A keep moves the champion, so it is
never on the same champion as a later candidate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from app.engine.records import Experiment, Status

MEASURED = frozenset({Status.DISCARD, Status.CRASH, Status.TIMEOUT, Status.CHECKS_FAILED,
                      Status.OVERFIT, Status.DUPLICATE})


def normalise(data: bytes) -> bytes:
    """A file's content with whitespace differences that carry no meaning removed."""
    if b"\0" in data[:8000]:  # binary: byte for byte
        return data
    out: list[bytes] = []
    for line in data.splitlines():
        body = line.lstrip()
        if not body.strip():
            continue
        indent = line[:len(line) - len(body)]
        out.append(indent + b" ".join(body.split()))
    return b"\n".join(out)


def change_key(changes: Sequence[tuple[str, bytes | None]]) -> str:
    """A digest of (path, content after the change, None when deleted) pairs."""
    h = hashlib.sha256()
    for path, data in sorted(changes, key=lambda c: c[0]):
        h.update(path.encode("utf-8", "surrogateescape") + b"\0")
        h.update(b"-" if data is None else b"+" + hashlib.sha256(normalise(data)).digest())
    return h.hexdigest()


class DuplicateFinder:
    """Finds the earlier experiment a candidate repeats. Keys are cached by commit, so a
    night of experiments on one champion reads each candidate from git once."""

    def __init__(self, key_of: Callable[[str, str], str | None]) -> None:
        self._key_of = key_of
        self._keys: dict[tuple[str, str], str | None] = {}

    def key(self, base: str, commit: str) -> str | None:
        if (base, commit) not in self._keys:
            self._keys[(base, commit)] = self._key_of(base, commit)
        return self._keys[(base, commit)]

    def earlier(self, champion: str, candidate: str, experiments: Sequence[Experiment]
                ) -> Experiment | None:
        """The first experiment measured on `champion` that made the same change."""
        mine = self.key(champion, candidate)
        if mine is None:
            return None
        for e in experiments:
            if e.parent != champion or e.status not in MEASURED or not e.candidate:
                continue
            if self.key(champion, e.candidate) == mine:
                if e.duplicate_of is not None:
                    return next((o for o in experiments if o.n == e.duplicate_of), e)
                return e
        return None


def duplicate_reason(earlier: Experiment) -> str:
    return (f"the same change as #{earlier.n} ({earlier.status}), already measured against "
            "this champion: not measured again")
