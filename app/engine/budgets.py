"""A session's budgets and what it has spent against them (totals across launches)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.engine.records import Experiment, Status, Tokens, span


@dataclass(frozen=True)
class Budgets:
    max_experiments: int | None = None
    max_hours: float | None = None
    max_cost_usd: float | None = None
    max_total_tokens: int | None = None
    from_command_line: frozenset[str] = frozenset()
    """Budgets given as flags for this launch only: reaching them leaves the session open."""

    def reached(self, spent: Spent) -> tuple[str, str]:
        """(why, which budget) when one is used up, else ("", "")."""
        done, cost = spent.experiments, spent.cost_usd
        hours, tokens = spent.duration_s / 3600, spent.tokens.total
        if self.max_experiments is not None and done >= self.max_experiments:
            return f"reached max_experiments ({self.max_experiments})", "max_experiments"
        if self.max_hours is not None and hours >= self.max_hours:
            return f"reached max_hours ({self.max_hours:g} h)", "max_hours"
        if self.max_cost_usd is not None and cost >= self.max_cost_usd:
            return (f"reached max_cost_usd (${cost:.2f} of ${self.max_cost_usd:.2f})",
                    "max_cost_usd")
        if self.max_total_tokens is not None and tokens >= self.max_total_tokens:
            return (f"reached max_total_tokens ({tokens:,} of {self.max_total_tokens:,})",
                    "max_total_tokens")
        return "", ""


@dataclass
class Spent:
    """Session totals for budgets and the status line, kept as experiments are recorded
    (summing the whole log per experiment grows with a night of experiments)."""

    experiments: int = 0
    duration_s: float = 0.0
    """Wall time spent on experiments (`records.busy_seconds`): parallel workers'
    overlapping experiments count once, so `max_hours` stays clock time."""
    cost_usd: float = 0.0
    tokens: Tokens = field(default_factory=Tokens)
    busy: list[tuple[float, float]] = field(default_factory=list, repr=False)
    """The merged intervals of parallel workers' experiments, sorted by start."""

    def add(self, e: Experiment) -> None:
        self.experiments += e.status is not Status.BASELINE
        self.duration_s += span(self.busy, e)
        self.cost_usd += e.cost_usd
        self.tokens = self.tokens + e.tokens
