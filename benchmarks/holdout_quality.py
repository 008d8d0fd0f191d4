"""How often does the held-out check let an overfit change through, or call an honest one
overfit, on a machine with bursts of load? The old rule against the paired one.

Run: `python benchmarks/holdout_quality.py [--decisions N] [--seed S]` (pure Python,
seeded; a few minutes with the default 2,000 decisions per cell).

The held-out benchmark is a timing (lower is better) at the demo's scale: one run of a
program whose true time is T measures T * exp(noise * e), e ~ N(0, 1), times the machine's
load. Load comes in bursts as in decision_quality.py's bursty setting (before each run not
already in a burst one starts with probability 0.12, lasts 1 to 8 runs and slows each run
it covers by one factor drawn from 1.4-1.8; the machine is already in that state when the
check starts), or never ("quiet"). The rules know the holdout's noise as the loop does: the
relative MAD of 5 champion runs measured earlier (the baseline's).

The check runs with the demo's settings: `repeats = 5` (5 pairs first), `max_regression =
0.05`. Candidates, by their true held-out change:

* overfit +30%: the demo's patch 6, faster on the main benchmark, 30% slower here;
* boundary +5%: exactly `max_regression` worse (the worst case for false rejections);
* neutral 0% and honest -10%: changes that should pass.

Rules:

* old: champion then candidate, 5 times (A/B/A/B), and `decide.regressed`: a rank test of
  the 5 candidate runs against the 5 champion runs, pooled, at 0.05 (until this change);
* paired, up to K: pairs in the main interleaved rule's order (A/B/B/A), the blocked rank
  test (`decide.held_out_regression`), one more pair per look while it says "more", up to
  K pairs (`[holdout] max_repeats`; K = 5 takes no extra pair).

Cells: the share of candidates called overfit (for overfit +30% its complement is the
false keep rate; for the others it is the false rejection rate) / the mean number of pairs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from bench_cli import arguments

from app.engine.decide import (
    champion_first,
    held_out_regression,
    regressed,
    relative_noise,
)

BURST_START, BURST_MAX_RUNS, BURST_FACTOR = 0.12, 8, (1.4, 1.8)
REPEATS, MAX_REGRESSION = 5, 0.05


class Machine:
    """Runs of the champion (true time 1) and the candidate, one after the other."""

    def __init__(self, rng: random.Random, noise: float, bursty: bool, change: float) -> None:
        self.rng, self.noise, self.bursty, self.change = rng, noise, bursty, change
        self.left, self.factor = 0, 1.0
        if bursty:
            for _ in range(2 * BURST_MAX_RUNS):
                self._load()
        self.calibration = relative_noise([self.champion() for _ in range(REPEATS)])
        """The holdout's noise as the loop knows it: the relative MAD of the baseline's
        held-out runs (measured earlier: bursts included)."""
        if bursty:
            for _ in range(2 * BURST_MAX_RUNS):  # (the experiments in between)
                self._load()

    def _load(self) -> float:
        if self.left == 0 and self.rng.random() < BURST_START:
            self.left = self.rng.randint(1, BURST_MAX_RUNS)
            self.factor = self.rng.uniform(*BURST_FACTOR)
        if self.left == 0:
            return 1.0
        self.left -= 1
        return self.factor

    def run(self, true_time: float) -> float:
        value = true_time * math.exp(self.noise * self.rng.gauss(0.0, 1.0))
        return value * self._load() if self.bursty else value

    def champion(self) -> float:
        return self.run(1.0)

    def candidate(self) -> float:
        return self.run(1.0 + self.change)


Rule = Callable[[Machine], tuple[bool, int]]


def old(m: Machine) -> tuple[bool, int]:
    champion, candidate = [], []
    for _ in range(REPEATS):
        champion.append(m.champion())
        candidate.append(m.candidate())
    bad, _ = regressed(candidate, champion, direction="lower", max_regression=MAX_REGRESSION,
                       noise=m.calibration)
    return bad, REPEATS


def paired(most: int) -> Rule:
    def rule(m: Machine) -> tuple[bool, int]:
        champion: list[float] = []
        candidate: list[float] = []

        def pair() -> None:
            if champion_first(len(candidate)):
                champion.append(m.champion())
                candidate.append(m.candidate())
            else:
                candidate.append(m.candidate())
                champion.append(m.champion())

        max_looks = max(REPEATS, most) - REPEATS + 1
        for _ in range(REPEATS):
            pair()
        for look in range(1, max_looks + 1):
            d = held_out_regression(candidate, champion, direction="lower",
                                    max_regression=MAX_REGRESSION, noise=m.calibration,
                                    look=look, max_looks=max_looks)
            if d.outcome != "more":
                return d.outcome == "overfit", len(candidate)
            pair()
        raise AssertionError("the rule asked for more pairs than it may")
    return rule


def main() -> None:
    parser = arguments(__doc__, decisions=2000, seed=20261129)
    parser.add_argument("--most", type=int, nargs="*", default=[5, 10, 15, 20],
                        help="the paired rule's bounds (max_repeats) to compare")
    args = parser.parse_args()
    rules: list[tuple[str, Rule]] = [("old 5 vs 5", old)] + [
        (f"paired, up to {k}", paired(k)) for k in args.most]
    changes = (("overfit +30%", 0.30), ("boundary +5%", 0.05), ("neutral 0%", 0.0),
               ("honest -10%", -0.10))
    print(f"{args.decisions} decisions per cell; cells: called overfit % / pairs per check")
    print("| setting | rule | " + " | ".join(name for name, _ in changes) + " |")
    print("|---|---|" + "---|" * len(changes))
    for noise in (0.02, 0.05):
        for bursty in (False, True):
            for label, rule in rules:
                cells = []
                for _, change in changes:
                    rng = random.Random(f"{args.seed}-{noise}-{bursty}-{change}")
                    flagged = pairs = 0
                    for _ in range(args.decisions):
                        bad, n = rule(Machine(rng, noise, bursty, change))
                        flagged += bad
                        pairs += n
                    cells.append(f"{100 * flagged / args.decisions:.1f} / "
                                 f"{pairs / args.decisions:.2f}")
                setting = f"noise {noise:.0%} {'bursty' if bursty else 'quiet'}"
                print(f"| {setting} | {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
