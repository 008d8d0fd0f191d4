"""The keep rule and its statistics.

PLACEHOLDER (issue 2): the simple rule "median of the candidate's samples strictly better
than the champion's median". The trust issue replaces the body of these functions with a
noise-aware sequential test; their signatures are the contract the loop relies on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Literal, Sequence

Outcome = Literal["keep", "discard", "more"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    confidence: float | None = None
    """Improvement over noise (MAD score): >= 2 likely real, 1-2 marginal, < 1 noise."""
    p_value: float | None = None
    simplification: bool = False


def relative_noise(samples: Sequence[float]) -> float | None:
    """Median absolute deviation relative to the median (None with < 2 samples)."""
    if len(samples) < 2:
        return None
    med = statistics.median(samples)
    if med == 0:
        return None
    mad = statistics.median(abs(s - med) for s in samples)
    return mad / abs(med)


def evaluate(candidate: Sequence[float], champion: Sequence[float], *, direction: str,
             alpha: float, min_effect: float, look: int, max_looks: int,
             noise: float | None = None, simpler: bool = False,
             prefer_simpler: bool = False) -> Decision:
    """Decide after `look` of at most `max_looks` looks (1-based).

    `candidate` and `champion` are all samples so far; `noise` the baseline's relative
    noise; `simpler` whether the candidate removes code. Never returns "more" at the last
    look.
    """
    cand, champ = statistics.median(candidate), statistics.median(champion)
    better = cand < champ if direction == "lower" else cand > champ
    change = (cand - champ) / abs(champ) if champ else 0.0
    if better and abs(change) > min_effect:
        return Decision("keep", f"median {change:+.2%} vs champion")
    return Decision("discard", f"median {change:+.2%} vs champion, not better")


def regressed(candidate: Sequence[float], champion: Sequence[float], *, direction: str,
              max_regression: float, noise: float | None) -> tuple[bool, str]:
    """The held-out check: did the candidate get worse beyond noise and `max_regression`?"""
    cand, champ = statistics.median(candidate), statistics.median(champion)
    change = (cand - champ) / abs(champ) if champ else 0.0
    worse = change if direction == "lower" else -change
    allowed = max(max_regression, 2 * (noise or 0.0))
    if worse > allowed:
        return True, f"held-out benchmark {worse:.1%} worse (allowed {allowed:.1%})"
    return False, f"held-out benchmark {-worse:+.1%}"


def drifted(old: Sequence[float], new: Sequence[float], *, noise: float | None) -> bool:
    """Did a re-measurement of the unchanged champion move beyond the noise?"""
    a, b = statistics.median(old), statistics.median(new)
    if a == 0:
        return False
    return abs(b - a) / abs(a) > max(3 * (noise or 0.0), 0.02)
