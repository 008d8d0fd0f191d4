"""How each experiment status looks: one place, shared by the table, chart and status line.

Statuses are grouped into a few looks so the screen stays readable; each look is a Textual
component class whose colour comes from a theme variable, so every theme recolours them.
"""

from __future__ import annotations

from app.engine.records import Status

STATUS_LOOK: dict[str, str] = {
    Status.BASELINE: "baseline",
    Status.KEEP: "keep",
    Status.DISCARD: "discard",
    Status.CRASH: "failed",
    Status.TIMEOUT: "failed",
    Status.AGENT_ERROR: "failed",
    Status.INFRA_ERROR: "failed",
    Status.CHECKS_FAILED: "warned",
    Status.OVERFIT: "warned",
    Status.VETOED: "vetoed",
    Status.REJECTED: "vetoed",
    Status.INTERRUPTED: "interrupted",
    Status.DUPLICATE: "discard",
    Status.STALE: "discard",
    "running": "running",
}
"""Status (or `running` for the experiment in progress) -> look name."""

LOOKS = ("baseline", "keep", "discard", "failed", "warned", "vetoed", "interrupted", "running")


def look_of(status: str) -> str:
    return STATUS_LOOK.get(status, "discard")


def look_css(widget: str, prefix: str) -> str:
    """The DEFAULT_CSS rules of a widget's status component classes (`prefix--keep`, ...)."""
    colours = {
        "baseline": "$text-primary", "keep": "$text-success", "discard": "$foreground-muted",
        "failed": "$text-error", "warned": "$text-warning", "vetoed": "$text-secondary",
        "interrupted": "$foreground-muted", "running": "$text-accent",
    }
    extra = {"keep": "text-style: bold;", "interrupted": "text-style: italic;"}
    return "\n".join(
        f"{widget} > .{prefix}--{look} {{ color: {colours[look]}; {extra.get(look, '')} }}"
        for look in LOOKS)


def look_classes(prefix: str) -> set[str]:
    return {f"{prefix}--{look}" for look in LOOKS}
