"""Executors: where measurement runs happen (`[executor] kind`).

Nothing here imports `ray` until the Ray executor is chosen: `require_ray` is the one
place that tries, and its failure is one sentence (exit 2) that names the install command.
"""

from __future__ import annotations

from typing import Any

from app.errors import UsageError

INSTALL = "pip install 'autoresearch-tui[ray]'"


def require_ray() -> Any:
    """The `ray` module, or a UsageError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"`[executor] kind = \"ray\"` needs Ray, which is not installed; "
                         f"run `{INSTALL}` (or set `kind = \"local\"`).") from None
    return ray
