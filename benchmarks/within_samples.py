"""Why a tool's within-process samples are not runs: false keeps when they are counted.

Run: `python benchmarks/within_samples.py [--decisions N] [--seed S]` (a few seconds).

A change that does nothing, measured in 5 champion and 3 candidate processes of 100
samples each (a tool's rounds: 5% log-normal noise per sample), where each process has its
own luck (a factor on all its samples: memory layout, CPU frequency, the machine's state,
with a standard deviation of 0%, 1% or 2%). Two rules at alpha 0.05: the rank test on all
pooled samples (the samples counted as 300 and 500 runs) and the keep rule's rank test on
one value per process (each process's median; one look, `app.engine.decide.evaluate`).
Prints the share of decisions that keep the useless change.
"""

from __future__ import annotations

import random
import statistics

from bench_cli import arguments

from app.engine.decide import evaluate, rank_test

SAMPLES, CHAMPION, CANDIDATE, NOISE = 100, 5, 3, 0.05


def main() -> None:
    parser = arguments(__doc__, decisions=1000, seed=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def process(luck_sd: float) -> list[float]:
        luck = rng.gauss(0, luck_sd)
        return [100 * (1 + luck) * rng.lognormvariate(0, NOISE) for _ in range(SAMPLES)]

    print(f"{'process luck':>12} {'pooled samples':>15} {'one value per run':>18}")
    for luck_sd in (0.0, 0.01, 0.02):
        pooled = per_run = 0
        for _ in range(args.decisions):
            champion = [process(luck_sd) for _ in range(CHAMPION)]
            candidate = [process(luck_sd) for _ in range(CANDIDATE)]
            p, _ = rank_test([-v for r in candidate for v in r],
                             [-v for r in champion for v in r])
            pooled += p <= 0.05
            d = evaluate([statistics.median(r) for r in candidate],
                         [statistics.median(r) for r in champion], direction="lower",
                         alpha=0.05, min_effect=0.0, look=1, max_looks=1,
                         within=candidate)
            per_run += d.outcome == "keep"
        print(f"{luck_sd:>12.0%} {pooled / args.decisions:>15.1%} "
              f"{per_run / args.decisions:>18.1%}")


if __name__ == "__main__":
    main()
