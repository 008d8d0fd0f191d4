"""The keep rule and its statistics.

Why a rule at all: a benchmark is noisy, so "the candidate's run was faster" is a coin toss
when the change does nothing, and an unattended loop that keeps coin tosses for hours piles
up commits that do not hold up. The rule here keeps a candidate only when its improvement
is credible, and spends as few benchmark runs as it can to find out.

The rule, in short (docs/decisions.md says it in plain words):

* Test: a one-sided Mann-Whitney rank test (rank-sum form) of the candidate's samples
  against the champion's. Ranks make it robust: one slow run (a GC pause, a busy machine)
  moves a rank by one place, not the mean by a mile. Its p-value is exact (a permutation
  count that handles ties, so constant benchmarks with MAD 0 work) up to 100 samples in
  all, a normal approximation with tie correction beyond.
* `min_effect`: the champion's samples are first shifted by `min_effect` times the
  champion's median in the candidate's favour, so the test asks "better by more than
  `min_effect`?", not merely "better?".
* Looks: the loop measures 3 candidate runs, asks, and adds one run at a time while the
  answer is "more" (up to `max_repeats`). Testing again after each run at `alpha` would
  keep far more than `alpha` of useless changes, so each look gets a smaller nominal level,
  chosen so that the chance of a false keep *over all the looks* is `alpha`. Bonferroni
  (alpha / looks) would guarantee that too, but it throws away the strong correlation
  between looks (each look reuses all earlier samples) and with 5 champion samples its
  per-look level (0.6% for 8 looks) is below the smallest p-value a 5-vs-3 or 5-vs-4 rank
  test can reach (1.8% and 0.8%): the first two looks could never keep. We use a Pocock
  boundary: the same nominal level at every look, the largest one whose overall false-keep
  rate is at most `alpha`, found by simulating the rank tests themselves (under "no
  effect" they are distribution-free, so this is exact up to simulation error). Pocock
  stops clear winners earliest, which is what saves runs; O'Brien-Fleming and the
  Wang-Tsiatis shape halfway to it (strict early looks, a last look near `alpha`) took
  0.2-0.4 more runs per decision for the same misses in benchmarks/decision_quality.py.
* Both sides grow (without interleaving): after the first look every candidate run comes
  with a fresh champion run (`fresh_champion_run`), and the rank test pools them with the
  stored ones; its Pocock level is simulated for that design. The champion's 5 stored
  samples limit what candidate runs alone can show, and a rule that may spend up to 15
  runs a side while the answer is unclear misses about as few real gains as a fixed
  10-vs-10 test (pyperf's, Pinpoint's) in half the runs or less
  (benchmarks/decision_quality.py --peers, docs/decisions.md).
* Futility: before the last look, a candidate whose standardized rank sum is below a
  rising bound (0.3 at look 1 to 1.5; -0.2 to 1.3 when both sides grow) is discarded:
  most proposals do nothing, and this is where most of the saved runs come from.
  Futility only ever turns a "more" into a discard, so it cannot raise the false-keep
  rate. Interleaved decisions also need the pairs' signed ranks below the bound
  (`FUTILITY_SIGNED_RANKS`: bimodal CPU times).
* Interleave: with `interleaved=True` every candidate run was measured next to a fresh
  champion run, as a pair, in the order `champion_first` gives (champion, candidate,
  candidate, champion, champion, candidate...: blocks of two pairs, A/B/B/A, an odd last
  pair joining the block before it). The test then ranks runs only within their block (a
  stratified Mann-Whitney test on the logs of the values, `blocked_rank_test`): a burst
  of load that covers a block slows both sides and cancels, however slow it makes them,
  where a rank test over the pooled samples sees a bimodal mess and discards real gains
  (the demo's CI runs lost 20-35% gains that way); a burst that starts or ends inside a
  block disturbs that block only. A steady drift cancels within each A/B/B/A block too.
  Its level is simulated like the others (the test is distribution-free under "no
  effect"). Blocks of pairs rather than single pairs (a signed-rank test): a pair has 2
  orders, a block of two pairs 6 and one of three 20, so a clear win can be credible
  after 3 pairs in one look, or 5 in several, rather than 6-7, and an outlier run weighs
  less (benchmarks/decision_quality.py, docs/decisions.md).
  Without interleaving the champion's samples were measured earlier, and drift of a
  quarter of the noise per run is enough to make any rule keep useless changes (see the
  benchmark's drift rows).
* Confirmation (the default without interleaving, `confirm_keep`): a keep must also beat
  a few champion runs measured right after the candidate's. A steady drift that made the
  earlier champion samples look slow makes these look fast, so it cannot get a useless
  change kept, at the cost of runs on keeps only (docs/decisions.md, "Drift by default").

Confidence is the improvement of the medians over the noise (the pooled median absolute
deviation), read like pi-autoresearch's MAD score: >= 2 likely real, 1-2 marginal, < 1
noise. It is shown to users; the decision itself rests on the p-value.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Outcome = Literal["keep", "discard", "more"]

CONFIDENCE_CAP = 100.0
"""Confidence when the samples have no spread at all (finite, so the JSON log stays JSON)."""

EXACT_LIMIT = 100
"""Up to this many samples in all, rank-test p-values are exact permutation counts."""

MAX_CHAMPION_SAMPLES = 50
"""Compare with at most this many of the champion's most recent samples.

Beyond 50, more champion samples barely add power (the candidate's few samples limit it),
the oldest ones are the most exposed to drift, and each new champion size costs one
boundary simulation that grows with it."""

_PATHS = 20_000
"""Simulated paths per sequential boundary (about 0.1 s each, cached)."""

_PATHS_INTERLEAVED = 20_000
"""Simulated paths for the interleaved boundary."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    confidence: float | None = None
    """Improvement over noise (MAD score): >= 2 likely real, 1-2 marginal, < 1 noise."""
    p_value: float | None = None
    """One-sided p-value of "not better by min_effect", adjusted for the looks.

    Kept as an improvement if and only if p_value <= alpha."""
    simplification: bool = False
    champion_compared: tuple[float, ...] = ()
    """The champion samples the rule compared the candidate with (interleaved: the paired
    ones only): what the record's delta is shown against, so it agrees with the reason."""


def relative_noise(samples: Sequence[float]) -> float | None:
    """Median absolute deviation relative to the median (None with < 2 samples or median 0).

    MAD rather than the standard deviation so that one outlier among the calibration runs
    does not make every later decision think the benchmark is noisy.
    """
    if len(samples) < 2:
        return None
    med = statistics.median(samples)
    if med == 0:
        return None
    mad = statistics.median(abs(s - med) for s in samples)
    return mad / abs(med)


# --- the rank test ---------------------------------------------------------------------------

def _doubled_midranks(values: Sequence[float]) -> list[int]:
    """Ranks (1-based, ties sharing their mean rank), doubled so they stay integers."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = i + j + 2  # 2 * mean of ranks i+1 .. j+1
        i = j + 1
    return ranks


@lru_cache(maxsize=512)
def _rank_sum_upper_tail(ranks2: tuple[int, ...], n: int) -> tuple[int, tuple[int, ...]]:
    """Exact null distribution of the sum of n of the doubled ranks (all subsets equally likely).

    Returns (number of subsets, tail) with tail[s] = number of subsets whose sum is >= s.
    Counting subsets by sum is a polynomial product; packing each polynomial into one big
    integer (a fixed-width bit field per coefficient) lets Python's C big-int arithmetic do
    the inner loop, so 10 vs 40 samples take milliseconds.
    """
    total = math.comb(len(ranks2), n)
    width = (total.bit_length() // 8 + 1) * 8
    polys = [0] * (n + 1)
    polys[0] = 1
    for i, r in enumerate(ranks2):
        for k in range(min(i + 1, n), 0, -1):
            polys[k] += polys[k - 1] << (r * width)
    top = sum(sorted(ranks2)[-n:]) if n else 0
    raw = polys[n].to_bytes((top + 1) * width // 8, "little")
    step = width // 8
    counts = [int.from_bytes(raw[s * step:(s + 1) * step], "little") for s in range(top + 1)]
    tail = [0] * (top + 2)
    for s in range(top, -1, -1):
        tail[s] = tail[s + 1] + counts[s]
    return total, tuple(tail)


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (bisection on erfc: plenty for 1e-12 precision)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _normal_cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def rank_test(better: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """One-sided rank test that `better` tends to be larger than `reference`.

    Returns (p, z): p = P(rank sum >= observed) when both samples come from one
    distribution, counted exactly over all ways to split the pooled values (ties included)
    up to EXACT_LIMIT values, and z = the standardized rank sum (0 when every value ties).
    """
    n, m = len(better), len(reference)
    pooled = list(better) + list(reference)
    ranks2 = _doubled_midranks(pooled)
    observed = sum(ranks2[:n])
    big_n = n + m
    mean = n * (big_n + 1)  # in doubled ranks
    # Tie-corrected variance of the doubled rank sum.
    ties: dict[float, int] = {}
    for v in pooled:
        ties[v] = ties.get(v, 0) + 1
    tie_term = sum(t ** 3 - t for t in ties.values())
    var = 4 * n * m / 12 * ((big_n + 1) - tie_term / (big_n * (big_n - 1))) if big_n > 1 else 0.0
    if var <= 1e-12:
        return 1.0, 0.0  # every value ties: no evidence either way
    z = (observed - mean) / math.sqrt(var)
    if big_n <= EXACT_LIMIT:
        total, tail = _rank_sum_upper_tail(tuple(sorted(ranks2)), n)
        p = tail[observed] / total if observed < len(tail) else 0.0
    else:
        # Continuity correction: half a rank, which is 1 in doubled ranks.
        p = 1.0 - _normal_cdf((observed - 1 - mean) / math.sqrt(var))
    return min(1.0, max(p, 0.0)), z


def champion_first(pair: int) -> bool:
    """Whether interleaved pair `pair` (0-based) runs the champion first.

    Even pairs run champion then candidate, odd pairs candidate then champion, so runs go
    champion, candidate, candidate, champion, champion, candidate...: every block of two
    pairs is an A/B/B/A quartet, in which a steady drift favours neither side. The bench
    and every other interleaving caller follow this order.
    """
    return pair % 2 == 0


def fresh_champion_run(index: int, repeats: int, interleave: bool) -> bool:
    """Whether candidate run `index` (0-based) is paired with a fresh champion run (in the
    order `champion_first` gives): every run with `interleave`, else every run after the
    first look's `repeats`. The default rule's first look compares the candidate with
    the champion's stored samples only (most proposals do nothing, and stop there); when
    the answer is unclear, more candidate runs alone would add little, since the
    champion's few stored samples limit what any candidate run can show (with 5 of them
    even endless candidate runs miss about 1.5% of gains of twice the noise), so both
    sides grow (docs/decisions.md, "Compared with the rules of benchmarking tools")."""
    return interleave or index >= repeats


PAIRS_PER_BLOCK = 2
"""The blocked rank test compares runs within blocks of this many adjacent pairs (an odd
last pair joins the block before it: a block of one pair could only say "better" with
p = 1/2)."""


def _blocks(pairs: int) -> list[range]:
    """The blocks of `pairs` interleaved pairs: twos, the last one a three when odd."""
    starts = list(range(0, pairs, PAIRS_PER_BLOCK))
    if len(starts) > 1 and pairs - starts[-1] < PAIRS_PER_BLOCK:
        starts.pop()
    return [range(a, b) for a, b in zip(starts, [*starts[1:], pairs])]


def _block_null(cand: Sequence[float], champ: Sequence[float]) -> tuple[int, dict[int, int]]:
    """One block: the candidate's doubled Mann-Whitney count (2 per champion run it beats,
    1 per tie) and that count's distribution over every way to relabel the block's runs."""
    values = list(cand) + list(champ)
    everyone = range(len(values))

    def count(side: tuple[int, ...]) -> int:
        return sum(2 if values[i] > values[j] else 1 if values[i] == values[j] else 0
                   for i in side for j in everyone if j not in side)

    dist: dict[int, int] = {}
    for side in itertools.combinations(everyone, len(cand)):
        u = count(side)
        dist[u] = dist.get(u, 0) + 1
    return count(tuple(range(len(cand)))), dist


def _convolve(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for x, ca in a.items():
        for y, cb in b.items():
            out[x + y] = out.get(x + y, 0) + ca * cb
    return out


def blocked_rank_test(better: Sequence[float], reference: Sequence[float]
                      ) -> tuple[float, float]:
    """One-sided rank test that `better` tends to be larger than `reference`, for
    interleaved runs: better[i] and reference[i] are pair i, and pairs are grouped in
    blocks of PAIRS_PER_BLOCK adjacent pairs (`_blocks`; a stratified Mann-Whitney test,
    van Elteren's). Runs are only ranked against runs of their own block: a burst of load that
    covers a block slows both sides of it and changes nothing, and one that starts or ends
    inside a block disturbs that block only.

    Returns (p, z) like `rank_test`: p = P(sum of the blocks' counts >= observed) when
    the labels within each block are exchangeable (no effect), counted exactly over every
    relabelling of every block (ties included); z = the standardized sum (0 when every
    block ties).
    """
    observed, mean, var = 0, 0.0, 0.0
    total = 1
    dist: dict[int, int] = {0: 1}
    for pairs in _blocks(len(better)):
        u, block = _block_null([better[i] for i in pairs], [reference[i] for i in pairs])
        ways = sum(block.values())
        center = sum(k * c for k, c in block.items()) / ways
        observed += u
        mean += center
        var += sum((k - center) ** 2 * c for k, c in block.items()) / ways
        total *= ways
        dist = _convolve(dist, block)
    if var <= 1e-12:
        return 1.0, 0.0
    p = sum(c for k, c in dist.items() if k >= observed) / total
    return min(1.0, p), (observed - mean) / math.sqrt(var)


def _log_gains(values: Sequence[float], direction: str) -> list[float] | None:
    """Logs of the values on the higher-is-better scale (None unless all are positive)."""
    if not all(v > 0 for v in values):
        return None
    logs = [math.log(v) for v in values]
    return [-v for v in logs] if direction == "lower" else logs


def _paired_samples(candidate: Sequence[float], champion: Sequence[float], direction: str,
                    min_effect: float) -> tuple[list[float], list[float]]:
    """Candidate and champion runs for the blocked test, the champion's raised by the
    required `min_effect`: log values when every value is positive (a burst that slows
    both runs of a pair by one factor then moves both by the same amount), else the
    values themselves, raised by `min_effect` of the champion's median as in the unpaired
    test."""
    cand_log = _log_gains(candidate, direction)
    champ_log = _log_gains(champion, direction)
    if cand_log is not None and champ_log is not None and min_effect < 1:
        need = -math.log1p(-min_effect) if direction == "lower" else math.log1p(min_effect)
        return cand_log, [v + need for v in champ_log]
    cand_g, champ_g = _gains(candidate, direction), _gains(champion, direction)
    need = min_effect * abs(statistics.median(champ_g))
    return cand_g, [v + need for v in champ_g]


def _paired_confidence(cand: Sequence[float], champ: Sequence[float], noise: float | None,
                       floor: float = 0.0) -> float:
    """The paired form of `_confidence`: the median of the pairs' differences over the
    typical wobble of one run (the pairs' MAD over sqrt 2), on the higher-is-better scale."""
    diffs = [c - h for c, h in zip(cand, champ)]
    center = statistics.median(diffs)
    scale = max(statistics.median([abs(d - center) for d in diffs]) / math.sqrt(2), floor)
    if scale == 0 and noise:
        scale = noise * abs(statistics.median(champ))
    if scale == 0:
        return 0.0 if center == 0 else math.copysign(CONFIDENCE_CAP, center)
    return max(-CONFIDENCE_CAP, min(CONFIDENCE_CAP, center / scale))


def smallest_interleaved_p(pairs: int) -> float:
    """The smallest p-value the blocked rank test can give with this many pairs (every
    run of the candidate faster than every champion run of its block)."""
    return math.prod(1 / math.comb(2 * len(b), len(b)) for b in _blocks(pairs))


def interleaved_can_keep(repeats: int, max_repeats: int, alpha: float) -> bool:
    """Whether an interleaved decision of `repeats` to `max_repeats` pairs can keep
    anything at all: at its last look (where the evidence is largest), can the clearest
    possible win reach the looks' level? Cheap when it plainly cannot (the clearest win
    is above alpha itself); otherwise it simulates the level (under a second, once)."""
    n = max(repeats, max_repeats)
    smallest = smallest_interleaved_p(n)
    if smallest > alpha:
        return False
    looks = max(1, n - repeats + 1)
    return smallest <= _paired_level(repeats, looks, alpha)


# --- the sequential boundary -----------------------------------------------------------------

def _p_from_pairs(m: int, n: int, u: int) -> float:
    """rank_test's p-value for untied samples where u = #(candidate, champion) pairs won."""
    big_n = m + n
    observed = 2 * u + n * (n + 1)  # doubled rank sum
    if big_n <= EXACT_LIMIT:
        total, tail = _rank_sum_upper_tail(tuple(range(2, 2 * big_n + 1, 2)), n)
        return tail[observed] / total if observed < len(tail) else 0.0
    mean, var = n * (big_n + 1), 4 * n * m / 12 * (big_n + 1)
    return min(1.0, 1.0 - _normal_cdf((observed - 1 - mean) / math.sqrt(var)))


@lru_cache(maxsize=256)
def _sequential_level(m: int, n_first: int, looks: int, alpha: float,
                      grows: bool = False) -> float:
    """The nominal level every look uses so that P(some look keeps | no effect) <= alpha.

    Under "no effect" all samples are exchangeable, so the whole sequence of rank tests is
    distribution-free: its behaviour does not depend on the benchmark. We simulate it
    directly (uniform samples, nested exactly as the loop nests them: m fixed champion
    samples, a candidate growing from n_first by one per look), record each path's
    smallest p-value over the looks, and take the largest level that at most alpha of the
    paths reach. That is a Pocock boundary (one level for all looks) for the real,
    discrete rank statistics; a normal approximation of them (the canonical joint
    distribution of group-sequential tests) came out 0.4 points above alpha with 20
    champion samples. The simulation is seeded (the same boundary every time) and aims
    1.64 standard errors below alpha, so that its own sampling error does not push the
    rate above alpha.

    `grows`: after the first look the champion gains a fresh run with every candidate run
    (`fresh_champion_run`, the default without interleaving), so the paths do too.
    """
    if looks <= 1:
        return alpha
    rng = random.Random(20261127)
    minima = []
    for _ in range(_PATHS):
        champ = sorted(rng.random() for _ in range(m))
        cand: list[float] = []
        u, best = 0, 1.0
        for k in range(looks):
            while len(cand) < n_first + k:
                if grows and k > 0:  # a fresh champion run: beaten by the larger candidates
                    y = rng.random()
                    u += len(cand) - bisect.bisect_right(cand, y)
                    bisect.insort(champ, y)
                x = rng.random()
                u += bisect.bisect_left(champ, x)
                bisect.insort(cand, x)
            best = min(best, _p_from_pairs(len(champ), len(cand), u))
        minima.append(best)
    return _level_from_minima(minima, alpha)


@lru_cache(maxsize=64)
def _paired_level(n_first: int, looks: int, alpha: float) -> float:
    """The Pocock level for interleaved decisions (blocked rank tests of the pairs).

    Under "no effect" the runs within each block are exchangeable, so the nested blocked
    tests are distribution-free, like the rank tests of `_sequential_level`: simulated on
    uniform runs, nested as the loop measures them (one more pair per look).
    """
    if looks <= 1:
        return alpha
    rng = random.Random(20261129)
    nulls = {k: _block_null(range(k), range(k, 2 * k))[1] for k in (1, 2, 3)}
    tails: dict[int, tuple[int, list[int]]] = {}
    for n in range(n_first, n_first + looks):
        dist: dict[int, int] = {0: 1}
        for block in _blocks(n):
            dist = _convolve(dist, nulls[len(block)])
        top = max(dist)
        tail = [0] * (top + 2)
        for k in range(top, -1, -1):
            tail[k] = tail[k + 1] + dist.get(k, 0)
        tails[n] = (sum(dist.values()), tail)
    minima = []
    for _ in range(_PATHS_INTERLEAVED):
        cand: list[float] = []
        champ: list[float] = []
        best = 1.0
        for k in range(looks):
            while len(cand) < n_first + k:
                cand.append(rng.random())
                champ.append(rng.random())
            observed = sum(2 for block in _blocks(len(cand)) for i in block for j in block
                           if cand[i] > champ[j])
            total, tail = tails[len(cand)]
            best = min(best, tail[observed] / total)
        minima.append(best)
    return _level_from_minima(minima, alpha)


def _level_from_minima(minima: list[float], alpha: float) -> float:
    """The largest level that at most alpha of the paths reach (less 1.64 standard errors)."""
    minima = sorted(minima)
    paths = len(minima)
    allowed = alpha * paths - 1.64 * math.sqrt(alpha * (1 - alpha) * paths)
    level = 0.0
    for i, v in enumerate(minima):
        # Paths with p <= v: all up to the last copy of v.
        if i + 1 < len(minima) and minima[i + 1] == v:
            continue
        if i + 1 > allowed:
            break
        level = v
    return level


FUTILITY_SCHEDULE = (0.3, 1.5)
"""Before the last look, discard when the standardized rank sum z is at most a bound that
rises linearly from the first value (look 1) to the second (the last look but one).

0.3 at look 1 means "the candidate ranks barely better than the champion, if at all": 61%
of useless changes stop there after 3 runs, against 1% of real improvements of twice the
noise (half of which are already kept at look 1). The rising bound then stops the ones that
stay lukewarm. Futility only ever turns a "more" into a discard, so it cannot raise the
false-keep rate; it trades misses for runs, and this schedule was the best trade in
benchmarks/decision_quality.py among bounds of 0 to 1 at look 1 and 0.5 to 2 at the end.
"""


FUTILITY_SCHEDULE_GROWING = (-0.2, 1.3)
"""The futility bounds when the champion gains a fresh run per candidate run after the
first look (the default without interleaving): lower, because the rule is meant to miss
no more real gains than a fixed 10-vs-10 test (pyperf's, Google Benchmark's, Pinpoint's).
With (0.3, 1.5) it missed 7.3-8.5% of gains of twice the noise in the settings with
outliers (Pinpoint with 10 runs a side: 3.8-4.9%), with these 3.4-5.1%, for about 1.5 more
runs per decision without drift (9.1-9.9 against 7.7-8.2; 2,000 decisions per setting of
benchmarks/decision_quality.py, docs/decisions.md)."""


FUTILITY_SIGNED_RANKS = True
"""Interleaved decisions stop for futility only when the Wilcoxon signed-rank statistic of
the pairs' differences is below the bound too, not the blocked rank test's alone.

Why: on a quiet machine CPU times can be bimodal, each run landing in a fast or a slow mode
(1.4-1.8x) on its own; a candidate run in the slow mode then loses to a champion run in the
fast one even with a 37% gain, a quarter of the block comparisons are lost, and the blocked
test's statistic stayed below the rising futility bound: the demo's #8 (a real 37% gain)
was discarded as "not heading for an improvement" after 9 pairs. Those lost pairs lose by
little (the gain nearly makes up for the slow mode) and the won ones win by a lot, which is
what signed ranks weigh. Futility only turns a "more" into a discard and the keep test is
unchanged, so this cannot raise the false-keep rate; it costs runs on useless changes that
look promising to one of the two statistics (benchmarks/decision_quality.py, the demo's
table)."""


def signed_rank_z(better: Sequence[float], reference: Sequence[float]) -> float:
    """The standardized Wilcoxon signed-rank statistic of the pairs' differences
    better[i] - reference[i] (positive: `better` ahead; zeros dropped, tied magnitudes
    share their mean rank; 0 when no pair differs)."""
    diffs = [b - r for b, r in zip(better, reference) if b != r]
    k = len(diffs)
    if not k:
        return 0.0
    ranks2 = _doubled_midranks([abs(d) for d in diffs])
    w = sum(r for r, d in zip(ranks2, diffs) if d > 0) / 2
    mean = k * (k + 1) / 4
    sd = math.sqrt(k * (k + 1) * (2 * k + 1) / 24)
    return (w - mean) / sd


def _futility_bound(look: int, max_looks: int,
                    schedule: tuple[float, float] = FUTILITY_SCHEDULE) -> float:
    first, last = schedule
    if max_looks <= 2:
        return first
    return first + (last - first) * (look - 1) / (max_looks - 2)


def _gains(values: Sequence[float], direction: str) -> list[float]:
    """Values on a higher-is-better scale."""
    return [-v for v in values] if direction == "lower" else list(values)


def within_floor(within: Sequence[Sequence[float]], stat: str = "median") -> float:
    """The smallest spread, in MAD units, that runs whose value is `stat` of their own
    within-process samples can have: the standard error of that statistic over one run's
    samples (median over the runs), times 0.6745 to be read as a MAD. 0 when unknown
    (fewer than 2 runs with 3 or more samples, or `stat` = "min", whose error has no
    simple form).

    Within-process samples share their process's luck (its memory layout, its CPU, the
    machine's state in those seconds), so they say nothing about how far apart two runs
    can land; they do say how close two runs cannot help being: a run's statistic wobbles
    at least by its own standard error. Three runs that agree better than that agree by
    chance, and a confidence computed from their spread would be inflated.
    """
    if stat not in ("median", "mean"):
        return 0.0
    errors = []
    for samples in within:
        m = len(samples)
        if m < 3:
            continue
        if stat == "median":
            center = statistics.median(samples)
            mad = statistics.median([abs(v - center) for v in samples])
            errors.append(1.2533 * mad / math.sqrt(m))  # 1.2533 * 1.4826 * 0.6745 = 1.2533
        else:
            errors.append(0.6745 * statistics.stdev(samples) / math.sqrt(m))
    return statistics.median(errors) if len(errors) >= 2 else 0.0


def _confidence(cand: Sequence[float], champ: Sequence[float], noise: float | None,
                floor: float = 0.0) -> float:
    """Improvement of the medians over the pooled MAD (both on the higher-is-better scale),
    never over less than `floor` (within_floor)."""
    mc, mh = statistics.median(cand), statistics.median(champ)
    deviations = [abs(v - mc) for v in cand] + [abs(v - mh) for v in champ]
    scale = max(statistics.median(deviations), floor)
    if scale == 0 and noise:
        scale = noise * abs(mh)
    diff = mc - mh
    if scale == 0:
        return 0.0 if diff == 0 else math.copysign(CONFIDENCE_CAP, diff)
    return max(-CONFIDENCE_CAP, min(CONFIDENCE_CAP, diff / scale))


def _relative_change(cand: Sequence[float], champ: Sequence[float]) -> float:
    """Signed relative change of the medians (on the metric's own scale)."""
    a, b = statistics.median(champ), statistics.median(cand)
    return (b - a) / abs(a) if a else 0.0


def evaluate(candidate: Sequence[float], champion: Sequence[float], *, direction: str,
             alpha: float, min_effect: float, look: int, max_looks: int,
             noise: float | None = None, simpler: bool = False,
             prefer_simpler: bool = False, interleaved: bool = False,
             within: Sequence[Sequence[float]] = (), stat: str = "median",
             champion_grows: bool = False) -> Decision:
    """Decide after `look` of at most `max_looks` looks (1-based).

    `candidate` and `champion` are all samples so far (the candidate gains one sample per
    look); `noise` the baseline's relative noise (a fallback scale for the confidence when
    the samples have no spread); `simpler` whether the candidate removes code;
    `interleaved` whether the last len(candidate) champion samples were measured in
    pairs with the candidate's, in `champion_first` order (then only those are compared,
    pair by pair, so drift and bursts of load cancel).
    `within` holds each run's within-process samples (a tool's rounds or repetitions, in
    the metric's unit), whose `stat` is that run's value: they set a floor under the
    confidence's noise scale (within_floor) and are never counted as runs in the rank
    test (docs/decisions.md, "Samples inside one run").
    `champion_grows` (not interleaved): the champion's samples end with the fresh runs
    measured next to the candidate's runs after the first look, one per look
    (`fresh_champion_run`): the rank test then pools them with the earlier ones, and its
    level is simulated for a champion that grows so.
    Never returns "more" at the last look.
    """
    if not candidate or not champion:
        return Decision("discard", "no samples to compare")
    max_looks = max(1, max_looks)
    look = min(max(1, look), max_looks)
    n = len(candidate)
    champ = list(champion)
    interleaved = interleaved and len(champ) >= n
    grows = champion_grows and not interleaved and look > 1 and len(champ) > look - 1
    fresh = look - 1 if grows else 0
    stored = champ[:len(champ) - fresh][-MAX_CHAMPION_SAMPLES:]
    champ = champ[-n:] if interleaved else stored + champ[len(champ) - fresh:]
    cand_g, champ_g = _gains(candidate, direction), _gains(champ, direction)
    change = _relative_change(candidate, champ)
    floor = within_floor(within, stat)
    n_first = max(1, n - (look - 1))
    if interleaved:
        confidence = _paired_confidence(cand_g, champ_g, noise, floor)
        p, z = blocked_rank_test(*_paired_samples(candidate, champ, direction, min_effect))
        level = _paired_level(n_first, max_looks, alpha)
    else:
        confidence = _confidence(cand_g, champ_g, noise, floor)
        shift = min_effect * abs(statistics.median(champ_g))
        p, z = rank_test(cand_g, [v + shift for v in champ_g])
        level = _sequential_level(len(stored), n_first, max_looks, alpha,
                                  champion_grows)
    # Scaled so that keep <=> p_adj <= alpha; level 0: these sample sizes can never be credible.
    p_adj = min(1.0, alpha * (p / level)) if level > 0 else 1.0
    facts = (f"median {change:+.2%} vs champion, confidence {confidence:.1f}, "
             f"p={p_adj:.3g} (n={n} vs {len(champ)}, look {look}/{max_looks})")
    if any(within):
        per_run = statistics.median([len(w) for w in within])
        facts += f"; {per_run:.0f} within-process samples per run, not counted as runs"
    effect = f" by more than {min_effect:.2%}" if min_effect else ""

    def decision(outcome: Outcome, why: str, simplification: bool = False) -> Decision:
        return Decision(outcome, f"{why}: {facts}", round(confidence, 3), p_adj, simplification,
                        tuple(champ))

    if p <= level:
        return decision("keep", f"credibly better{effect}")
    if simpler and prefer_simpler:
        if interleaved:
            plain_cand, plain_champ = _paired_samples(candidate, champ, direction, 0.0)
            p_worse, _ = blocked_rank_test(plain_champ, plain_cand)
        else:
            p_worse, _ = rank_test(champ_g, cand_g)
        if confidence > -1.0 and p_worse > level:
            return decision("keep", "simpler and equal within noise", simplification=True)
    if look >= max_looks:
        return decision("discard", f"not credibly better{effect}")
    schedule = FUTILITY_SCHEDULE_GROWING if champion_grows and not interleaved \
        else FUTILITY_SCHEDULE
    if interleaved and FUTILITY_SIGNED_RANKS:
        z = max(z, signed_rank_z(*_paired_samples(candidate, champ, direction, min_effect)))
    if z <= _futility_bound(look, max_looks, schedule):
        return decision("discard", "not heading for an improvement")
    return decision("more", "unclear, measuring again")


CONFIRM_LEVEL = 1 / 3
"""The level of the confirmation's rank test (`confirm_keep`): weak on purpose. It is not
what keeps false keeps at alpha on a steady machine (the main test does that); it is what
a drift that made the candidate look better must also get past, with the drift now
working against the candidate (benchmarks/decision_quality.py, docs/decisions.md)."""


def confirmation_runs(confirm_runs: int, candidate_runs: int) -> int:
    """How many champion runs may confirm a keep: `confirm_runs` (0: none), or a third of
    the candidate's runs when that is more. A change found with many runs can be small
    next to the noise, and 3 runs would confirm it little better than a coin: with 50 runs
    a side, a gain of half the noise was kept 48% of the time unconfirmed, 27% with 3
    confirmation runs, 41% with 16 (app/doctor.py's simulation)."""
    return max(confirm_runs, candidate_runs // 3) if confirm_runs > 0 else 0


def confirm_keep(decision: Decision, candidate: Sequence[float], fresh: Sequence[float], *,
                 runs: int, direction: str, min_effect: float) -> Decision | None:
    """The guard on a keep made without interleaving: up to `runs` champion runs measured
    right after the candidate's runs (`fresh`, so far), which the candidate must beat too
    (a one-sided rank test at CONFIRM_LEVEL, shifted by `min_effect` as in `evaluate`).
    None while the runs still to come could change the outcome (a run is measured only
    when it can matter: the same outcome as all `runs`, in fewer runs).

    Why it stops drift cheaply: the main test compared the candidate with champion
    samples measured before it. A machine that speeds up makes those look slow and a
    useless candidate look credibly better; the same machine makes the fresh champion runs,
    measured later still, look faster than the candidate, which then fails here. A machine
    that slows down makes the main test fail instead. Either way a monotone drift works
    against the candidate in one of the two comparisons. Only keeps pay for the fresh
    runs, and most proposals are not kept. A sudden step in speed between the champion's
    samples and the candidate (then flat) is caught only at about CONFIRM_LEVEL:
    interleaving (`interleave = true`) is the rule that holds there (docs/decisions.md,
    "Drift by default").
    """
    if decision.outcome != "keep" or decision.simplification or not candidate or runs <= 0:
        return decision
    cand_g, fresh_g = _gains(candidate, direction), _gains(fresh, direction)
    shift = min_effect * abs(statistics.median(fresh_g)) if fresh_g else 0.0
    left = max(0, runs - len(fresh_g))

    def confirmed(rest: float) -> bool:
        return rank_test(cand_g, [v + shift for v in fresh_g] + [rest] * left)[0] \
            <= CONFIRM_LEVEL

    # The rank test is monotone in each champion run: the runs to come can do no better
    # for the candidate than all slowest, no worse than all fastest.
    if left and confirmed(-math.inf) != confirmed(math.inf):
        return None
    ok = confirmed(math.inf if left else 0.0)
    p, _ = rank_test(cand_g, [v + shift for v in fresh_g])
    change = _relative_change(candidate, fresh)
    facts = (f"median {change:+.2%} vs {len(fresh)} champion runs measured right after it, "
             f"p={p:.3g}")
    if ok:
        return Decision("keep", f"{decision.reason}; {facts}", decision.confidence,
                        decision.p_value, champion_compared=decision.champion_compared)
    return Decision("discard", f"not confirmed by the champion measured again after it "
                    f"({facts}; at most {CONFIRM_LEVEL:.2g} wanted), so the machine's speed "
                    f"may have moved; {decision.reason}", decision.confidence,
                    decision.p_value, champion_compared=decision.champion_compared)


def regressed(candidate: Sequence[float], champion: Sequence[float], *, direction: str,
              max_regression: float, noise: float | None) -> tuple[bool, str]:
    """The held-out check: did the candidate get worse beyond noise and `max_regression`?

    Worse beyond noise means: the medians moved the wrong way by more than `max_regression`,
    and the rank test says the candidate is worse (p <= 0.05 after shifting by
    `max_regression`). When the samples are too few for any rank test to reach 0.05, the
    move must instead exceed `max_regression` plus twice the holdout's relative noise.
    No sequential correction: this is one test per kept candidate, and a false alarm costs
    one good change while a miss lets an overfit change in.
    """
    if not candidate or not champion:
        return False, "held-out benchmark not measured"
    change = _relative_change(candidate, champion)
    worse = change if direction == "lower" else -change
    cand_g, champ_g = _gains(candidate, direction), _gains(champion, direction)
    shift = max_regression * abs(statistics.median(champ_g))
    p_worse, _ = rank_test([v - shift for v in champ_g], cand_g)
    reachable = 1 / math.comb(len(candidate) + len(champion), len(candidate)) <= 0.05
    if worse > max_regression:
        if reachable and p_worse <= 0.05:
            return True, (f"held-out benchmark {worse:.1%} worse (allowed {max_regression:.1%}, "
                          f"p={p_worse:.3g})")
        allowed = max_regression + 2 * (noise or 0.0)
        if not reachable and worse > allowed:
            return True, f"held-out benchmark {worse:.1%} worse (allowed {allowed:.1%})"
    return False, f"held-out benchmark {-worse:+.1%}"


def transfer_shortfall(held: Sequence[float], reference: Sequence[float], *, main_change: float,
                       direction: str, min_transfer: float, noise: float | None,
                       paired: bool = False) -> tuple[bool, str]:
    """The hard-coded-answer check: did at least `min_transfer` of the main gain carry over
    to the held-out benchmark?

    `main_change` is the candidate's relative change of the main metric (on the metric's
    own scale, -0.99 for 99% faster with `lower`). The held-out benchmark must improve by
    `min_transfer` times the main gain; falling short counts only beyond noise, by the same
    test as `regressed` (a rank test at 0.05 against the reference shifted by the required
    gain, or twice the holdout's noise when the samples are too few for it), so an honest
    change whose held-out gain is merely noisy is not called overfit. `paired`: held[i] and
    reference[i] are interleaved pairs, tested as `held_out_regression` does (one look).
    """
    main_gain = -main_change if direction == "lower" else main_change
    if min_transfer <= 0 or main_gain <= 0 or not held or not reference:
        return False, ""
    required = min_transfer * main_gain
    if paired:
        short = held_out_regression(held, reference, direction=direction,
                                    max_regression=-required, noise=noise).outcome == "overfit"
        held_change = paired_change(held, reference)
    else:
        short, _ = regressed(held, reference, direction=direction, max_regression=-required,
                             noise=noise)
        held_change = _relative_change(held, reference)
    held_gain = -held_change if direction == "lower" else held_change
    share = max(0.0, held_gain / main_gain)
    why = (f"main {main_change:+.1%}, held-out {held_change:+.1%}: {share:.0%} of the gain "
           f"transfers (at least {min_transfer:.0%} wanted)")
    return short, why


# --- the held-out check on interleaved pairs ---------------------------------------------------

HOLDOUT_ALPHA = 0.05
"""The held-out check's chance of calling an honest change overfit (one whose held-out
benchmark is exactly `max_regression` worse), over all its looks together."""

HeldOutOutcome = Literal["overfit", "pass", "more"]


@dataclass(frozen=True)
class HeldOutDecision:
    outcome: HeldOutOutcome
    reason: str
    change: float
    """The held-out benchmark's relative change, pair by pair (the median of the pairs'
    ratios, on the metric's own scale: +0.32 for 32% slower with `lower`)."""
    p_value: float
    """One-sided p-value of "worse by more than max_regression" (the blocked rank test)."""


def paired_change(candidate: Sequence[float], champion: Sequence[float]) -> float:
    """The relative change of interleaved runs, pair by pair: the median of the pairs'
    ratios less 1 (a burst that slows both runs of a pair by one factor leaves its ratio
    alone); the change of the medians when a value is not positive."""
    if not candidate or len(candidate) != len(champion) or \
            not all(v > 0 for v in [*candidate, *champion]):
        return _relative_change(candidate, champion)
    return math.exp(statistics.median(
        [math.log(c / h) for c, h in zip(candidate, champion)])) - 1


def _regression_pairs(candidate: Sequence[float], champion: Sequence[float], direction: str,
                      allowed: float) -> tuple[list[float], list[float]]:
    """Champion and candidate runs for the blocked test of "the champion is better than a
    candidate `allowed` worse" (so a small p says the candidate is worse by more than
    `allowed`): log values on the higher-is-better scale when every value is positive and
    `allowed` has a log there, else the values, the candidate's raised by `allowed` of the
    champion's median. `allowed` < 0 asks for a gain (transfer_shortfall)."""
    champ_log, cand_log = _log_gains(champion, direction), _log_gains(candidate, direction)
    factor = 1 + allowed if direction == "lower" else 1 - allowed
    if champ_log is not None and cand_log is not None and factor > 0:
        lift = math.log(factor) if direction == "lower" else -math.log(factor)
        return champ_log, [v + lift for v in cand_log]
    champ_g, cand_g = _gains(champion, direction), _gains(candidate, direction)
    lift = allowed * abs(statistics.median(champ_g))
    return champ_g, [v + lift for v in cand_g]


def held_out_regression(candidate: Sequence[float], champion: Sequence[float], *,
                        direction: str, max_regression: float, noise: float | None,
                        look: int = 1, max_looks: int = 1) -> HeldOutDecision:
    """The held-out check on interleaved pairs: candidate[i] and champion[i] ran next to
    each other, in the order `champion_first` gives (as the main rule's interleaved runs).

    Worse beyond noise means: the pairs' median ratio (`paired_change`) is worse than
    `max_regression`, and the blocked rank test of the main interleaved rule
    (`blocked_rank_test`: runs ranked only within their block of adjacent pairs, so a burst
    of load that covers a block cancels) says the candidate is worse by more than
    `max_regression`, at a level that holds HOLDOUT_ALPHA over all the looks (the Pocock
    level of the main rule's interleaved looks, `_paired_level`, one more pair per look).

    "more" when the answer is unclear: worse than allowed, not yet credibly, with looks
    left, and either worse by more than `max_regression` plus twice the holdout's noise or
    heading for it (the standardized statistic above the main rule's futility bound; two of
    five champion runs slowed by a burst can pull it below while the pairs' median ratio
    still says +29%). A change whose held-out figure did not get worse never asks for more.
    When the pairs are too few for the test to reach its level at the last look, the move
    must instead exceed `max_regression` plus twice the holdout's relative noise.
    """
    n = len(candidate)
    if not n or len(champion) != n:
        return HeldOutDecision("pass", "held-out benchmark not measured", 0.0, 1.0)
    change = paired_change(candidate, champion)
    worse = change if direction == "lower" else -change
    p, z = blocked_rank_test(*_regression_pairs(candidate, champion, direction,
                                                max_regression))
    counted = f"{n} pair{'s' if n != 1 else ''}"
    if worse > max_regression:  # (the level's simulation is only run when it is needed)
        level = _paired_level(max(1, n - (look - 1)), max_looks, HOLDOUT_ALPHA)
        if smallest_interleaved_p(n) <= level and p <= level:
            return HeldOutDecision("overfit", (
                f"held-out benchmark {worse:.1%} worse (allowed {max_regression:.1%}, "
                f"p={p:.3g} on {counted})"), change, p)
        allowed = max_regression + 2 * (noise or 0.0)
        if look < max_looks and (worse > allowed or z > _futility_bound(look, max_looks)):
            return HeldOutDecision("more", f"held-out benchmark {worse:.1%} worse, unclear "
                                           f"on {counted}: measuring again", change, p)
        if smallest_interleaved_p(n) > level and worse > allowed:
            return HeldOutDecision("overfit", f"held-out benchmark {worse:.1%} worse "
                                              f"(allowed {allowed:.1%})", change, p)
    return HeldOutDecision("pass", f"held-out benchmark {change:+.1%} (on {counted})", change,
                           p)


def drifted(old: Sequence[float], new: Sequence[float], *, noise: float | None) -> bool:
    """Did a re-measurement of the unchanged champion move beyond the noise?

    Both: the medians moved by more than twice the noise (relative MAD, or the pooled MAD of
    these samples when larger), and a two-sided rank test at 0.05 says the samples differ
    (or, with too few samples for that, the move exceeds four times the noise). A false
    alarm only costs fresh champion samples; a missed drift biases every later decision.
    """
    if not old or not new:
        return False
    a, b = statistics.median(old), statistics.median(new)
    if a == b:
        return False
    scale = abs(a) * (noise or 0.0)
    pooled = statistics.median([abs(v - a) for v in old] + [abs(v - b) for v in new])
    scale = max(scale, pooled)
    if abs(b - a) <= 2 * scale:
        return False
    if 2 / math.comb(len(old) + len(new), len(new)) > 0.05:
        return abs(b - a) > 4 * scale
    up, _ = rank_test(new, old)
    down, _ = rank_test(old, new)
    return 2 * min(up, down) <= 0.05
