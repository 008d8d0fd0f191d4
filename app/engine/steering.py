"""Notes from the user to the agent, typed in the TUI (`i`) or from another shell
(`autoresearch-tui instruct`), picked up by the running session at the next experiment.

A note is for the next experiment only, or standing (every experiment until cleared).
Whoever writes one drops a small JSON file into the session's `inbox/` folder, atomically
(a temporary file renamed into place), so the TUI, a second shell and the loop never
share a half-written file and need no lock. At the start of each proposal the loop takes
every file in name order, records each note in the log (`instruction` records, which is
also how standing notes survive a relaunch), deletes the file, and hands the notes to the
agent's prompt.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import UsageError
from app.files import write_text_atomic

INBOX = "inbox"
MAX_NOTE_CHARS = 2_000
"""A note is one line to the agent; more is a paste gone wrong."""


@dataclass(frozen=True)
class Note:
    text: str = ""
    standing: bool = False
    clear: bool = False
    """Clears every standing note (text empty)."""
    source: str = "cli"


def inbox(state_dir: Path) -> Path:
    return state_dir / INBOX


def clean_text(text: str) -> str:
    """One line, white space collapsed; UsageError when empty or too long."""
    line = " ".join((text or "").split())
    if not line:
        raise UsageError("the note is empty; write what the agent should know, e.g. "
                         "autoresearch-tui instruct \"try the parser, not the I/O\".")
    if len(line) > MAX_NOTE_CHARS:
        raise UsageError(f"the note has {len(line):,} characters; keep it to one line of at "
                         f"most {MAX_NOTE_CHARS:,}.")
    return line


def post(state_dir: Path, note: Note) -> Path:
    """Drop `note` into the session's inbox; the running loop takes it at the next
    experiment. Returns the file written."""
    folder = inbox(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # Names sort in posting order; the random part keeps two writers in one instant apart.
    path = folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    write_text_atomic(path, json.dumps({"text": note.text, "standing": note.standing,
                                        "clear": note.clear, "source": note.source}))
    return path


def put_back(state_dir: Path, notes: Iterable[Note]) -> None:
    """Return one-off notes to the inbox, ahead of any note posted since, for the next
    proposal (the agent failed or the session stopped before one came of them)."""
    folder = inbox(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for i, note in enumerate(notes):
        # Zeros sort before every posted name (those start with the clock's nanoseconds).
        path = folder / f"{0:020d}-{i:04d}-{uuid.uuid4().hex[:8]}.json"
        write_text_atomic(path, json.dumps({"text": note.text, "standing": note.standing,
                                            "clear": note.clear, "source": note.source}))


def take(state_dir: Path) -> tuple[list[Note], list[str]]:
    """Every note waiting in the inbox, oldest first, removed from it; and a warning per
    file that was not a note (removed too, so it is not read again)."""
    folder = inbox(state_dir)
    try:
        names = sorted(p for p in os.listdir(folder) if p.endswith(".json"))
    except FileNotFoundError:
        return [], []
    notes: list[Note] = []
    warnings: list[str] = []
    for name in names:
        path = folder / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            note = Note(text=" ".join(str(data.get("text") or "").split())[:MAX_NOTE_CHARS],
                        standing=bool(data.get("standing")), clear=bool(data.get("clear")),
                        source=str(data.get("source") or "cli")[:20])
            if note.text or note.clear:
                notes.append(note)
        except (OSError, ValueError, AttributeError) as exc:
            warnings.append(f"ignored {path.name} in the notes inbox: {exc}")
        path.unlink(missing_ok=True)
    return notes, warnings


@dataclass
class Steering:
    """The session's standing notes and the notes waiting for the next experiment."""

    standing: list[str] = field(default_factory=list)
    once: list[Note] = field(default_factory=list)
    """The one-off notes taken for the proposal being made (`put_back` if none comes)."""

    @classmethod
    def from_log(cls, records: Iterable[Mapping[str, Any]]) -> Steering:
        """Standing notes as the log's `instruction` records left them."""
        steering = cls()
        for record in records:
            if record.get("type") == "instruction":
                steering.apply(Note(text=str(record.get("text") or ""),
                                    standing=bool(record.get("standing")),
                                    clear=bool(record.get("clear"))))
        return steering

    def apply(self, note: Note) -> None:
        if note.clear:
            self.standing.clear()
        elif note.standing and note.text not in self.standing:
            self.standing.append(note.text)

    @staticmethod
    def record(note: Note, n: int) -> dict[str, Any]:
        """The log record of a note taken for experiment `n`."""
        if note.clear:
            return {"type": "instruction", "n": n, "clear": True, "source": note.source}
        return {"type": "instruction", "n": n, "text": note.text, "standing": note.standing,
                "source": note.source}


def format_notes(lines: Iterable[str]) -> str:
    """The prompt's section of the user's notes ('' when there are none)."""
    lines = list(lines)
    if not lines:
        return ""
    return "\n".join(["## Notes from the user (follow them; they outrank the ideas above)",
                      *(f"- {line}" for line in lines)])
