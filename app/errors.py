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
