"""Files the user keeps or shares (reports, charts, exports, the config we write): written
whole or not at all, with the permissions any other tool would give them.

`tempfile.mkstemp` makes its files 0600 whatever the umask, and a temporary file renamed
into place keeps that mode: a report nobody else in the group could read. Here the
temporary file is created with 0666 and the kernel applies the umask, as for `open()`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def temp_beside(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, empty temporary file next to `path` (same filesystem, so a rename is atomic),
    open for writing; its mode is 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` (UTF-8, LF line ends) in one rename."""
    fd, temp = temp_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.filename is None:  # a write that failed (a full disk) names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
