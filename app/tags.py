"""Session tags: what a valid one looks like. Shared by the config (`[session] tag`) and
the engine (`--tag`, folder names), so the config does not import the engine."""

from __future__ import annotations

import re

from app.errors import UsageError

TAG_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def validate_tag(tag: str, source: str = "--tag") -> str:
    if not TAG_RE.match(tag) or tag in (".", "..") or tag.startswith("-") or \
            tag.endswith(".lock") or ".." in tag:
        raise UsageError(f"{source} {tag!r} is not a valid session tag; use letters, digits, "
                         "'.', '_' and '-' only, such as nov27.")
    return tag
