"""What does `[holdout] min_transfer` cost honest changes, and what does it catch?

Run: `python benchmarks/transfer_quality.py [--decisions N] [--seed S]` (pure Python, seeded;
about a minute with the default 2,000 decisions per setting).

The simulated benchmarks are timings (lower is better), as in decision_quality.py: one run
of a program whose true time is T measures T * exp(noise * e), e ~ N(0, 1), and each run is
with probability 5% 1.5x to 3x slower (an outlier). The main benchmark's candidate has 5
runs against the champion's 5 (a typical kept candidate); the held-out benchmark runs as the
loop runs it for a candidate about to be kept: 3 candidate runs interleaved with 3 fresh
champion runs (max(repeats, 3) pairs), compared pair by pair as the loop compares them
(`transfer_shortfall(..., paired=True)`: the blocked rank test of decide.py).

Kinds of candidate, each with a true main gain g (the main time is multiplied by 1 - g):

* honest, full transfer: the held-out time improves by g as well;
* honest, half transfer: the held-out time improves by g / 2 (the held-out input spends
  less of its time in the improved code);
* hard-coded: the held-out time does not move (an answer special-cased for the main
  benchmark's input).

Columns: the share of candidates that `decide.transfer_shortfall` calls overfit, with the
default min_transfer 0.25 and with 0.5. For honest changes that share is the cost (a good
change lost); for hard-coded ones it is the catch rate.
"""

from __future__ import annotations

import math
import random

from bench_cli import arguments

from app.engine.decide import relative_noise, transfer_shortfall


def run(rng: random.Random, true_time: float, noise: float) -> float:
    value = true_time * math.exp(noise * rng.gauss(0.0, 1.0))
    if rng.random() < 0.05:
        value *= rng.uniform(1.5, 3.0)
    return value


def overfit_share(rng: random.Random, *, gain: float, transfer: float, noise: float,
                  min_transfer: float, decisions: int) -> float:
    flagged = 0
    for _ in range(decisions):
        calibration = [run(rng, 100.0, noise) for _ in range(5)]
        champion = [run(rng, 100.0, noise) for _ in range(5)]
        candidate = [run(rng, 100.0 * (1 - gain), noise) for _ in range(5)]
        main_change = (sorted(candidate)[2] - sorted(champion)[2]) / sorted(champion)[2]
        held, reference = [], []
        for _ in range(3):
            reference.append(run(rng, 80.0, noise))
            held.append(run(rng, 80.0 * (1 - gain * transfer), noise))
        short, _ = transfer_shortfall(held, reference, main_change=main_change,
                                      direction="lower", min_transfer=min_transfer,
                                      noise=relative_noise(calibration), paired=True)
        flagged += short
    return flagged / decisions


def main() -> None:
    parser = arguments(__doc__, decisions=2000, seed=20261129)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kinds = (("honest, full transfer", 1.0), ("honest, half transfer", 0.5),
             ("hard-coded", 0.0))
    print(f"{'noise':>5} {'gain':>5}  " + "  ".join(f"{k:>22}" for k, _ in kinds))
    print(f"{'':>5} {'':>5}  " + "  ".join(f"{'0.25 / 0.5':>22}" for _ in kinds))
    for noise in (0.01, 0.05, 0.20):
        for gain in (0.05, 0.2, 0.5, 0.99):
            cells = []
            for _, transfer in kinds:
                shares = [overfit_share(rng, gain=gain, transfer=transfer, noise=noise,
                                        min_transfer=m, decisions=args.decisions)
                          for m in (0.25, 0.5)]
                cells.append(f"{shares[0]:>10.1%} / {shares[1]:<9.1%}")
            print(f"{noise:>5.0%} {gain:>5.0%}  " + "  ".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
