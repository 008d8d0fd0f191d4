"""Errors that end a command with a defined exit status (DESIGN.md, "Exit status")."""

from __future__ import annotations


class AutoresearchError(Exception):
    """Base class. `exit_status` is what the command line returns."""

    exit_status = 1


class UsageError(AutoresearchError):
    """Bad input: one clear sentence naming the problem and the fix. Exit status 2.

    Raised before anything is written, so nothing is half-created.
    """

    exit_status = 2


class FatalSessionError(AutoresearchError):
    """The session stopped on an error it cannot continue past (exit status 3)."""

    exit_status = 3


def out_of_space(exc: BaseException) -> bool:
    """Whether `exc` is a full disk: an OSError with ENOSPC, or a library's error (pygit2's
    GitError) that carries the system's words for it."""
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return "No space left on device" in str(exc)


def file_error_sentence(exc: OSError) -> str:
    """One sentence for a file the command could not write (a read-only or full disk, a
    folder without permission): the folder, and the fix. Files are written to a temporary
    name beside their place first, so the folder, not that name, is what to tell."""
    import errno
    import os

    what = exc.strerror or str(exc)
    folder = ""
    if isinstance(exc.filename, str) and exc.filename:
        folder = f" in {os.path.dirname(os.path.abspath(exc.filename))}"
    if out_of_space(exc):
        return f"the disk is full: cannot write{folder}; free some space on it and try again."
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"cannot write{folder} ({what}); make it writable, or run the command where "
                "it can write (report --out and history --export take another path).")
    return f"cannot read or write {exc.filename or 'a file'} ({what}); fix that path and try again."
