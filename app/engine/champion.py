"""What the loop knows about the champion: its commit and the samples candidates face.

`ChampionState` is built from the log when a session opens (`from_log`: the current
baseline segment's baseline, its keeps, and the latest `champion_samples` record) and
changes in three places only: a new baseline (`calibrated`), a keep (`promote`) and a
re-measurement (`resampled`). Nothing else holds champion figures: the bench reads its
samples, the pipeline's stages compare against it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from app.engine import decide
from app.engine.check_counts import CheckCounts
from app.engine.records import Experiment, Status, finite_samples


@dataclass
class ChampionState:
    commit: str
    """The tip of the session branch."""
    samples: list[float] = field(default_factory=list)
    """The primary metric's samples candidates are compared with (empty: no baseline)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """All parsed numbers (medians): what `[[guard.metric]]` limits compare with."""
    holdout_samples: list[float] = field(default_factory=list)
    checks: CheckCounts | None = None
    """What the checks ran on the champion (None: no summary, exit status only)."""
    noise: float | None = None
    """The baseline's relative noise (the keep rule's floor)."""
    holdout_noise: float | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    """The results the baseline's benchmark printed (`FINGERPRINT` lines)."""

    @classmethod
    def from_log(cls, commit: str, segment: list[Experiment],
                 latest_samples: list[float] | None = None) -> ChampionState:
        """The champion as the log of the current baseline segment describes it:
        the baseline's figures, overwritten by every keep in order, then the samples of
        the latest top-up or re-measurement (`latest_champion_samples`)."""
        state = cls(commit)
        baseline = next((e for e in segment if e.status is Status.BASELINE), None)
        if baseline is None:
            return state
        state.noise = decide.relative_noise(baseline.samples)
        state.holdout_noise = decide.relative_noise(baseline.holdout_samples)
        state.samples = list(baseline.samples)
        state.metrics = dict(baseline.metrics)
        state.holdout_samples = list(baseline.holdout_samples)
        state.fingerprints = dict(baseline.fingerprints)
        state.checks = CheckCounts.from_json(baseline.checks)
        for e in segment:
            if e.status is Status.KEEP:
                state.checks = CheckCounts.from_json(e.checks) or state.checks
                state.samples = list(e.samples)
                state.metrics = dict(e.metrics)
                state.holdout_samples = list(e.holdout_samples) or state.holdout_samples
        if latest_samples:
            state.samples = list(latest_samples)
        return state

    @property
    def measured(self) -> bool:
        return bool(self.samples)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    def calibrated(self, samples: list[float], metrics: dict[str, float],
                   holdout_samples: list[float], checks: CheckCounts | None,
                   fingerprints: dict[str, str]) -> None:
        """A new baseline was measured on the champion."""
        self.noise = decide.relative_noise(samples)
        self.holdout_noise = decide.relative_noise(holdout_samples) if holdout_samples \
            else None
        self.samples = list(samples)
        self.metrics = dict(metrics)
        self.holdout_samples = list(holdout_samples)
        self.checks = checks
        self.fingerprints = dict(fingerprints)

    def promote(self, kept: Experiment, samples: list[float]) -> None:
        """`kept` is the new champion; `samples` its own plus the top-up's."""
        assert kept.commit is not None
        self.commit = kept.commit
        self.samples = list(samples)
        self.metrics = dict(kept.metrics)
        self.checks = CheckCounts.from_json(kept.checks) or self.checks
        if kept.holdout_samples:
            self.holdout_samples = list(kept.holdout_samples)

    def resampled(self, samples: list[float], *, drifted: bool) -> None:
        """A re-measurement: after drift its samples replace the old ones (which are
        stale), else they are added."""
        if drifted:
            self.samples = list(samples)
        else:
            self.samples.extend(samples)


def latest_champion_samples(records: list[dict[str, Any]],
                            experiments: list[Experiment]) -> list[float] | None:
    """The champion's samples of the latest top-up or re-measurement since the last keep
    (a `champion_samples` record), or None when the log holds none that still applies."""
    sampled = [r for r in records if r.get("type") == "champion_samples"]
    if not sampled:
        return None
    last_keep = max((e.n for e in experiments if e.status is Status.KEEP), default=-1)
    sampled_n = sampled[-1].get("n")
    top_n = max((e.n for e in experiments), default=-1)
    # Written after the last keep, at an experiment the log holds (never one ahead).
    if isinstance(sampled_n, int) and last_keep <= sampled_n <= top_n:
        return finite_samples(sampled[-1].get("samples")) or None
    return None
