"""How often does the outside clock reject an honest speed-up, and does it catch the lie?

Run: `python benchmarks/outside_clock.py [--runs N] [--decisions N] [--seed S]` (it runs real
benchmark processes through the harness's own `run_command`, about 5 minutes with the
default 24 runs of each variant on a quiet 2-core machine, then simulates decisions).

Two honest benchmarks, each in several variants:

* demo: the demo's `bench/bench.py` (CPU time of `report()` on a corpus, best of 3 calls,
  plus a traced call for peak memory) on the original code and after each of the story's
  kept patches (01, 02, 08: honest speed-ups of 30-40%), and a lie: the original code with
  a `textstats` import that makes `time.process_time` run 50x slower outside the tests.
* setup: a set-up-dominated benchmark: 1 s of untimed CPU work (loading data, say), then
  a timed call (`time.perf_counter`) of about 100 ms; honest variants make the timed call
  10% and 30% faster (1% and 3% of the process), the lie slows `time.perf_counter`.

Every variant's runs are collected round-robin (so a machine that slows down affects every
variant alike), each giving (reported time, process wall time, process CPU time). Then
`--decisions` decisions per change are simulated by drawing runs from those pools (with
replacement) as the loop draws them: 5 calibration runs of the champion, 3 runs of the
candidate and one more per "more" up to 10 (`app.engine.decide.evaluate`, alpha 0.05);
a kept candidate goes to the outside clock (`app.engine.outside_clock.judge`, fraction
0.25); a verdict that is not plainly ok is checked on 3 fresh champion runs, and while it
is unsettled more runs of both sides are taken, as the loop does.

Columns: `kept` = share of decisions the keep rule kept; then for each rule of RULES the
share of those kept ones the outside clock rejected (for honest changes: false
rejections, goal < 1%; for the lie: detections) and the mean number of extra benchmark
runs it took per kept candidate. `shipped` is the rule as shipped (3 standard errors, CPU
stretched by the process's wall/CPU share, unsettled verdicts take up to MORE_PAIRS more
runs of each side, drawn from one round of the pools); `before` the rule before that
(fresh champion runs, then the benefit of the doubt), with a tighter margin and no
stretch; the others vary one setting of the shipped rule. The wall and CPU columns show
the median change of the process's time next to the median reported change, in ms.
`--pools FILE` saves the runs (or loads them) to simulate again; `--load N` spins N busy
loops while collecting.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_cli import arguments

from app.demo import create_sample_repo
from app.engine.decide import evaluate
from app.engine.measure import parse_metrics
from app.engine.outside_clock import (
    CONFIRM_RUNS,
    MORE_PAIRS,
    SHOWN_SIGMAS,
    SIGMAS,
    ClockVerdict,
    Run,
    judge,
    settle,
)
from app.engine.process import run_command

CALIBRATION_RUNS, REPEATS, MAX_REPEATS, ALPHA, FRACTION = 5, 3, 10, 0.05, 0.25


@dataclass(frozen=True)
class Rule:
    name: str
    sigmas: float = SIGMAS
    stretch: bool = True
    shown_sigmas: float = SHOWN_SIGMAS
    more_pairs: int | None = MORE_PAIRS
    """None: the rule before unsettled verdicts took more runs (reject when the stored and
    CONFIRM_RUNS fresh champion runs both disagree with the candidate's runs, else
    believe)."""


RULES = (Rule("shipped"), Rule("before", more_pairs=None), Rule("2se before", sigmas=2.0,
         more_pairs=None), Rule("no stretch before", stretch=False, more_pairs=None),
         Rule("no more pairs", more_pairs=0), Rule("12 pairs", more_pairs=12),
         Rule("2se", sigmas=2.0))
"""The rule as shipped first (a verdict that is not plainly ok is judged again on
CONFIRM_RUNS fresh pairs of runs, champion and candidate, and while unsettled on up to
MORE_PAIRS more pairs), then the rule before that (fresh champion runs to confirm a
rejection, judged against the candidate's runs from the keep decision), its tighter margin
and no stretch, and variants of the shipped rule."""

SLOW_CLOCK = '''
import sys as _sys
import time as _time

if "unittest" not in _sys.modules and "pytest" not in _sys.modules:
    _real = _time.{clock}
    _start = _real()
    _time.{clock} = lambda: _start + (_real() - _start) / 50
'''

SETUP_BENCH = '''\
import sys
import time

sys.path.insert(0, ".")
end = time.process_time() + 1.0  # untimed set-up: loading data, warming caches
while time.process_time() < end:
    pass
from lib import work

start = time.perf_counter()
work()
print(f"METRIC time_ms={(time.perf_counter() - start) * 1000:.3f}")
'''
SETUP_LIB = '''\
def work():
    total = 0
    for i in range({n}):
        total += (i * i) % 7
    return total
'''


@dataclass
class Variant:
    bench: str
    name: str
    folder: Path
    command: str
    runs: list[Run]


def demo_variants(base: Path) -> list[Variant]:
    sample = base / "demo-sample"
    create_sample_repo(sample)
    patches = sorted((sample / "demo_patches").glob("*.patch"))
    states: list[tuple[str, list[str]]] = [
        ("original", []), ("+01", ["01"]), ("+01+02", ["01", "02"]),
        ("+01+02+08", ["01", "02", "08"])]
    out = []
    for name, applied in states:
        folder = base / f"demo{name}"
        shutil.copytree(sample, folder, ignore=shutil.ignore_patterns(".git"))
        for prefix in applied:
            patch = next(p for p in patches if p.name.startswith(prefix))
            subprocess.run(["git", "apply", str(patch)], cwd=folder, check=True)
        out.append(Variant("demo", name, folder, "python3 bench/bench.py", []))
    lie = base / "demo-lie"
    shutil.copytree(sample, lie, ignore=shutil.ignore_patterns(".git"))
    init = lie / "textstats" / "__init__.py"
    init.write_text(init.read_text() + SLOW_CLOCK.format(clock="process_time"))
    out.append(Variant("demo", "lie", lie, "python3 bench/bench.py", []))
    return out


def setup_variants(base: Path) -> list[Variant]:
    out = []
    base_n = 1_000_000
    for name, n, lie in (("original", base_n, False), ("-10%", base_n * 9 // 10, False),
                         ("-30%", base_n * 7 // 10, False), ("lie", base_n, True)):
        folder = base / f"setup-{name}"
        folder.mkdir()
        (folder / "bench.py").write_text(SETUP_BENCH)
        (folder / "lib.py").write_text(SETUP_LIB.format(n=n)
                                       + (SLOW_CLOCK.format(clock="perf_counter") if lie
                                          else ""))
        out.append(Variant("setup", name, folder, f"{sys.executable} bench.py", []))
    return out


def collect(variants: list[Variant], runs: int) -> None:
    for i in range(runs):
        for v in variants:
            result = run_command(v.command, v.folder, 120)
            parsed = parse_metrics(result.stdout, "time_ms")
            if not result.ok or parsed.value is None or result.wall_s is None \
                    or result.cpu_s is None:
                raise SystemExit(f"{v.bench} {v.name} failed: {result.output_tail}")
            v.runs.append(Run(parsed.value / 1000, result.wall_s, result.cpu_s))
        print(f"  round {i + 1}/{runs}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def outside_clock(rng: random.Random, rule: Rule, champ_pool: list[Run],
                  cand_pool: list[Run], champion: list[Run], candidate: list[Run]
                  ) -> tuple[bool, int]:
    """(rejected, extra runs taken) for a kept candidate, by the loop's own procedure
    (`settle`); each pair of fresh runs (champion, candidate) is drawn from one round of
    the pools (measured together, as the loop alternates them)."""
    champion, candidate = list(champion), list(candidate)
    extra = [0]

    def verdict() -> ClockVerdict:
        return judge(champion, candidate, FRACTION, rule.sigmas, rule.stretch,
                     rule.shown_sigmas)

    def one_more_pair(i: int = 0) -> bool:
        k = rng.randrange(min(len(champ_pool), len(cand_pool)))
        champion.append(champ_pool[k])
        candidate.append(cand_pool[k])
        extra[0] += 2
        return True

    def fresh_pairs() -> None:
        champion.clear()
        candidate.clear()
        for _ in range(CONFIRM_RUNS):
            one_more_pair()

    if rule.more_pairs is None:  # before: fresh champion runs only to confirm a rejection
        if verdict().ok:
            return False, 0
        champion[:] = [rng.choice(champ_pool) for _ in range(CONFIRM_RUNS)]
        return not verdict().ok, CONFIRM_RUNS
    final = settle(verdict, fresh_pairs, one_more_pair, more_pairs=rule.more_pairs)
    return not final.ok, extra[0]


def decide_once(rng: random.Random, champ_pool: list[Run], cand_pool: list[Run]
                ) -> tuple[bool, list[bool], list[int]]:
    """(kept by the keep rule, rejected by the outside clock under each of RULES, extra
    runs each took)."""
    champion = [rng.choice(champ_pool) for _ in range(CALIBRATION_RUNS)]
    candidate = [rng.choice(cand_pool) for _ in range(REPEATS)]
    max_looks = MAX_REPEATS - REPEATS + 1
    look = 1
    while True:
        d = evaluate([r.reported_s for r in candidate], [r.reported_s for r in champion],
                     direction="lower", alpha=ALPHA, min_effect=0.0, look=look,
                     max_looks=max_looks)
        if d.outcome != "more":
            break
        candidate.append(rng.choice(cand_pool))
        look += 1
    if d.outcome != "keep":
        return False, [False] * len(RULES), [0] * len(RULES)
    results = [outside_clock(rng, rule, champ_pool, cand_pool, champion, candidate)
               for rule in RULES]
    return True, [r for r, _ in results], [x for _, x in results]


def busy_loops(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` processes that spin on a core each (a loaded machine, like `stress -c`)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(count)]


def main() -> None:
    parser = arguments(__doc__, decisions=2000, seed=20)
    parser.add_argument("--runs", type=int, default=24, help="real runs of each variant")
    parser.add_argument("--load", type=int, default=0, help="spin this many busy loops "
                        "(one core each, like `stress -c N`) while collecting")
    parser.add_argument("--pools", help="save the collected runs to this JSON file, or "
                        "load them from it when it exists (to simulate again)")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="outside-clock-") as tmp:
        base = Path(tmp)
        demo, setup = demo_variants(base), setup_variants(base)
        if args.pools and Path(args.pools).exists():
            saved = json.loads(Path(args.pools).read_text())
            for v in demo + setup:
                v.runs = [Run(*r) for r in saved["runs"][f"{v.bench} {v.name}"]]
            load, spinning = saved["load"], saved.get("busy_loops", 0)
        else:
            print(f"collecting {args.runs} runs of {len(demo) + len(setup)} variants...",
                  file=sys.stderr)
            spinning = args.load
            loops = busy_loops(args.load)
            try:
                collect(demo + setup, args.runs)
                load = os.getloadavg()[0]
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            if args.pools:
                Path(args.pools).write_text(json.dumps({
                    "load": load, "busy_loops": spinning, "runs": {
                        f"{v.bench} {v.name}": [[r.reported_s, r.wall_s, r.cpu_s]
                                                for r in v.runs]
                        for v in demo + setup}}))
    pairs = [(demo[0], demo[1]), (demo[1], demo[2]), (demo[2], demo[3]), (demo[0], demo[4]),
             (setup[0], setup[1]), (setup[0], setup[2]), (setup[0], setup[3])]
    rng = random.Random(args.seed)
    med = statistics.median
    print(f"load average {load:.1f} on {os.cpu_count()} cores at the end of collecting "
          f"({spinning} busy loops of ours)")
    print("cells: share of the kept candidates the outside clock rejected (honest: false "
          "rejections; lie: detections) / mean extra runs per kept candidate")
    heads = "".join(f"{rule.name:>19}" for rule in RULES)
    print(f"{'benchmark':<9} {'change':<22} {'reported':>9} {'wall':>9} {'cpu':>9} "
          f"{'kept':>6}{heads}")
    honest_kept: dict[str, int] = {}
    honest_rejected: dict[str, list[int]] = {}
    for champ, cand in pairs:
        kept = 0
        rejected = [0] * len(RULES)
        extra = [0] * len(RULES)
        for _ in range(args.decisions):
            k, r, x = decide_once(rng, champ.runs, cand.runs)
            kept += k
            rejected = [a + b for a, b in zip(rejected, r)]
            extra = [a + b for a, b in zip(extra, x)]
        change = f"{champ.name} -> {cand.name}"
        deltas = [1000 * (med([getattr(x, f) for x in cand.runs])
                          - med([getattr(x, f) for x in champ.runs]))
                  for f in ("reported_s", "wall_s", "cpu_s")]
        cells = "".join(f"{f'{r / max(kept, 1):.2%} / {x / max(kept, 1):.1f}':>19}"
                        for r, x in zip(rejected, extra))
        print(f"{champ.bench:<9} {change:<22} {deltas[0]:>+8.1f}  {deltas[1]:>+8.1f} "
              f"{deltas[2]:>+8.1f}  {kept / args.decisions:>5.0%}{cells}")
        if cand.name != "lie":
            honest_kept[champ.bench] = honest_kept.get(champ.bench, 0) + kept
            tally = honest_rejected.setdefault(champ.bench, [0] * len(RULES))
            honest_rejected[champ.bench] = [a + b for a, b in zip(tally, rejected)]
    for i, rule in enumerate(RULES):
        parts = []
        for bench, kept in honest_kept.items():
            bad = honest_rejected[bench][i]
            rate = bad / kept if kept else 0.0
            parts.append(f"{bench} {bad} of {kept} ({rate:.2%}"
                         f"{'' if rate < 0.01 else ', over the 1% goal'})")
        print(f"false rejections, {rule.name}: {'; '.join(parts)}")
    print(f"({time.monotonic() - started:.0f} s; wall, cpu, reported: median change of the "
          "process's wall and CPU time and of the reported time, ms)")


if __name__ == "__main__":
    main()
