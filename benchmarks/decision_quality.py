"""How often does each keep rule keep a useless change, miss a real one, and what does it cost?

Run: `python benchmarks/decision_quality.py [--decisions N] [--seed S]` (pure Python, seeded,
about 15 seconds with the default 3,000 decisions of each kind per setting).

The simulated benchmark is a timing (lower is better). One run of a program whose true
time is T, at run number t of the decision, measures

    T * exp(noise * e) * speed(t) * outlier,      e ~ N(0, 1)

* noise: 1%, 5% or 20% (the standard deviation of the log of a run; log-normal because
  timings are skewed to the slow side);
* drift: the machine's speed moves by DRIFT_PER_RUN (0.25%) per run, linearly in the log,
  during the decision (thermal throttling, a background job starting or ending). The
  direction is always the harmful one: when the true effect is 0 the machine speeds up, so
  later runs (the candidate's) look better; when the change is a real improvement the
  machine slows down, hiding it. That is the worst case for both rates, not the average;
* outliers: each run is, with probability 5%, 1.5x to 3x slower (a GC pause, a cron job).

Rules, each deciding keep or discard for one candidate against its champion:

* single: one champion run, then one candidate run; keep if the candidate's is lower (the
  rule of karpathy's and pi-autoresearch's loops);
* median-of-3 / median-of-5: k champion runs, then k candidate runs; keep if the
  candidate's median is lower;
* ours: app.engine.decide.evaluate as the loop drives it: the champion has 5 calibration
  runs (measured first), the candidate 3 runs, then one more per "more" up to 10
  (repeats=3, max_repeats=10, alpha=0.05, min_effect=0);
* ours+interleave: the same with interleave = true: after the 5 calibration runs the
  champion is measured again before each candidate run (A/B/A/B) and the rule compares
  the candidate with those fresh champion runs only, after removing a linear time trend.

Columns: `fk` = false keeps, the share of changes with true effect 0 that were kept (the
worst case of "true effect <= 0"); `miss` = the share of true improvements of twice the
noise (a factor exp(-2 * noise)) that were not kept; `runs` = the mean number of candidate
runs per decision over both kinds of decisions. Champion runs are not counted: the
calibration runs are shared by every decision against that champion. But ours+interleave
also measures the champion once per candidate run, for this decision only: its total cost
is twice the `runs` shown.

The rates are estimates from a finite simulation: with 3,000 decisions a true rate of 5%
shows up anywhere between about 4.2% and 5.8% (two standard errors), and 20% between 18.5%
and 21.5%. The goal check therefore fails a cell only when it is beyond that; the pooled
line gives a sharper figure where the settings share one true rate (without drift, the
rank tests are distribution-free under "no effect", so every plain or outliers row of one
rule has the same true false-keep rate).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.engine.decide import evaluate  # noqa: E402

DRIFT_PER_RUN = 0.0025
OUTLIER_RATE = 0.05
CALIBRATION_RUNS, REPEATS, MAX_REPEATS, ALPHA = 5, 3, 10, 0.05


@dataclass(frozen=True)
class Setting:
    noise: float
    drift: bool
    outliers: bool

    @property
    def label(self) -> str:
        extras = [name for name, on in (("drift", self.drift), ("outliers", self.outliers)) if on]
        return f"noise {self.noise:>4.0%} {' + '.join(extras) or 'plain'}"


class Bench:
    """One simulated decision's benchmark: a champion and a candidate sharing a machine."""

    def __init__(self, rng: random.Random, setting: Setting, effect: float) -> None:
        self.rng, self.s = rng, setting
        self.candidate_time = math.exp(-effect * setting.noise)  # effect in units of noise
        # Harmful drift direction: a useless change meets a machine speeding up, a real
        # improvement meets a machine slowing down.
        self.slope = (DRIFT_PER_RUN if effect > 0 else -DRIFT_PER_RUN) if setting.drift else 0.0
        self.t = 0

    def run(self, true_time: float) -> float:
        value = true_time * math.exp(self.s.noise * self.rng.gauss(0.0, 1.0)
                                     + self.slope * self.t)
        if self.s.outliers and self.rng.random() < OUTLIER_RATE:
            value *= self.rng.uniform(1.5, 3.0)
        self.t += 1
        return value

    def champion(self) -> float:
        return self.run(1.0)

    def candidate(self) -> float:
        return self.run(self.candidate_time)


Rule = Callable[[Bench], "tuple[bool, int]"]


def single(b: Bench) -> tuple[bool, int]:
    champ = b.champion()
    return b.candidate() < champ, 1


def median_of(k: int) -> Rule:
    def rule(b: Bench) -> tuple[bool, int]:
        champ = [b.champion() for _ in range(k)]
        cand = [b.candidate() for _ in range(k)]
        return statistics.median(cand) < statistics.median(champ), k
    return rule


def ours(interleave: bool) -> Rule:
    max_looks = MAX_REPEATS - REPEATS + 1

    def rule(b: Bench) -> tuple[bool, int]:
        champ = [b.champion() for _ in range(CALIBRATION_RUNS)]
        cand: list[float] = []

        def measure() -> None:
            if interleave:
                champ.append(b.champion())
            cand.append(b.candidate())

        for _ in range(REPEATS):
            measure()
        look = 1
        while True:
            d = evaluate(cand, champ, direction="lower", alpha=ALPHA, min_effect=0.0,
                         look=look, max_looks=max_looks, interleaved=interleave)
            if d.outcome != "more":
                break
            measure()
            look += 1
        return d.outcome == "keep", len(cand)
    return rule


RULES: dict[str, Rule] = {
    "single": single,
    "median-of-3": median_of(3),
    "median-of-5": median_of(5),
    "ours": ours(False),
    "ours+interleave": ours(True),
}


def simulate(setting: Setting, rule: Rule, decisions: int, seed: int) -> tuple[float, float, float]:
    """(false-keep rate, miss rate at 2x noise, mean runs) over `decisions` of each kind."""
    rng = random.Random(seed)
    false_keeps = misses = runs = 0
    for _ in range(decisions):
        kept, r = rule(Bench(rng, setting, effect=0.0))
        false_keeps += kept
        runs += r
        kept, r = rule(Bench(rng, setting, effect=2.0))
        misses += not kept
        runs += r
    return false_keeps / decisions, misses / decisions, runs / (2 * decisions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=3000,
                        help="decisions of each kind (effect 0, effect 2x noise) per setting")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.perf_counter()
    settings = [Setting(noise, drift, outliers) for noise in (0.01, 0.05, 0.20)
                for drift in (False, True) for outliers in (False, True)]
    cell = "{:>5} {:>5} {:>5}"
    print(f"{args.decisions} decisions with true effect 0 and {args.decisions} with a true "
          f"improvement of 2x noise per setting and rule")
    print("fk = false keeps %, miss = misses %, runs = candidate runs per decision "
          "(ours+interleave: plus as many champion runs)")
    print(f"{'':<27}" + " | ".join(f"{name:^17}" for name in RULES))
    print(f"{'setting':<27}" + " | ".join(f"{cell.format('fk', 'miss', 'runs'):^17}"
                                        for _ in RULES))
    fk_se = math.sqrt(ALPHA * (1 - ALPHA) / args.decisions)
    miss_se = math.sqrt(0.2 * 0.8 / args.decisions)
    failures: dict[str, list[str]] = {"ours": [], "ours+interleave": []}
    pooled: dict[str, list[float]] = {"ours": [], "ours+interleave": []}
    for i, setting in enumerate(settings):
        cells = []
        for j, (name, rule) in enumerate(RULES.items()):
            fk, miss, runs = simulate(setting, rule, args.decisions, args.seed + 100 * i + j)
            cells.append(cell.format(f"{100 * fk:.1f}", f"{100 * miss:.1f}", f"{runs:.2f}"))
            if name not in failures:
                continue
            if not setting.drift:
                pooled[name].append(fk)
            if fk > ALPHA + 2 * fk_se:
                failures[name].append(f"{setting.label}: false keeps {fk:.1%}")
            if miss > 0.20 + 2 * miss_se:
                failures[name].append(f"{setting.label}: misses {miss:.1%}")
            if runs >= 5:
                failures[name].append(f"{setting.label}: {runs:.2f} candidate runs")
        print(f"{setting.label:<27}" + " | ".join(f"{c:^17}" for c in cells), flush=True)
    print()
    for name, rates in pooled.items():
        rate = sum(rates) / len(rates)
        se = math.sqrt(rate * (1 - rate) / (args.decisions * len(rates)))
        print(f"{name}: false keeps over the {len(rates)} settings without drift "
              f"{rate:.2%} +- {2 * se:.2%}")
    print("goals: false keeps <= 5%, misses <= 20% (both within 2 standard errors: "
          f"{2 * fk_se:.1%} and {2 * miss_se:.1%}), fewer candidate runs than median-of-5")
    for name, failed in failures.items():
        print(f"  {name}: {'all met' if not failed else 'NOT met in'}")
        for failure in failed:
            print(f"    {failure}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
