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
0.25), and a rejection there is confirmed on 3 fresh champion runs, as the loop does.

Columns: `kept` = share of decisions the keep rule kept; `rej ...` = share of those kept
ones the outside clock rejected (for honest changes: false rejections, goal < 1%; for the
lie: detections), for the rule as shipped (3 standard errors, CPU stretched by the
process's wall/CPU share: `3se s`), a tighter margin (`2se s`) and no stretch (`3se`). The
wall and CPU columns show the median change of the process's time next to the median
reported change, in ms. `--pools FILE` saves the runs (or loads them) to simulate again.
"""

from __future__ import annotations

import argparse
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.demo import create_sample_repo  # noqa: E402
from app.engine.decide import evaluate  # noqa: E402
from app.engine.measure import parse_metrics, run_command  # noqa: E402
from app.engine.outside_clock import SIGMAS, Run, judge  # noqa: E402

CALIBRATION_RUNS, REPEATS, MAX_REPEATS, ALPHA, FRACTION = 5, 3, 10, 0.05, 0.25
CONFIRM_RUNS = 3
RULES = ((SIGMAS, True), (2.0, True), (SIGMAS, False))
"""(margin in standard errors, CPU stretched by wall/CPU): as shipped first, then a
tighter margin, then no stretch, for comparison."""

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


def decide_once(rng: random.Random, champ_pool: list[Run], cand_pool: list[Run]
                ) -> tuple[bool, list[bool]]:
    """(kept by the keep rule, rejected by the outside clock under each of RULES)."""
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
        return False, [False] * len(RULES)
    fresh = [rng.choice(champ_pool) for _ in range(CONFIRM_RUNS)]
    return True, [not judge(champion, candidate, FRACTION, sigmas, stretch).ok
                  and not judge(fresh, candidate, FRACTION, sigmas, stretch).ok
                  for sigmas, stretch in RULES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=24, help="real runs of each variant")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20)
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
            load = saved["load"]
        else:
            print(f"collecting {args.runs} runs of {len(demo) + len(setup)} variants...",
                  file=sys.stderr)
            collect(demo + setup, args.runs)
            load = os.getloadavg()[0]
            if args.pools:
                Path(args.pools).write_text(json.dumps({"load": load, "runs": {
                    f"{v.bench} {v.name}": [[r.reported_s, r.wall_s, r.cpu_s] for r in v.runs]
                    for v in demo + setup}}))
    pairs = [(demo[0], demo[1]), (demo[1], demo[2]), (demo[2], demo[3]), (demo[0], demo[4]),
             (setup[0], setup[1]), (setup[0], setup[2]), (setup[0], setup[3])]
    rng = random.Random(args.seed)
    med = statistics.median
    print(f"load average {load:.1f} on {os.cpu_count()} cores at the end of collecting")
    heads = "".join(f"{f'rej {k:g}se' + (' s' if st else ''):>12}" for k, st in RULES)
    print(f"{'benchmark':<9} {'change':<22} {'reported':>9} {'wall':>9} {'cpu':>9} "
          f"{'kept':>6}{heads}")
    honest_kept = 0
    honest_rejected = [0] * len(RULES)
    per_bench: dict[str, list[int]] = {}
    for champ, cand in pairs:
        kept = 0
        rejected = [0] * len(RULES)
        for _ in range(args.decisions):
            k, r = decide_once(rng, champ.runs, cand.runs)
            kept += k
            rejected = [a + b for a, b in zip(rejected, r)]
        change = f"{champ.name} -> {cand.name}"
        deltas = [1000 * (med([getattr(x, f) for x in cand.runs])
                          - med([getattr(x, f) for x in champ.runs]))
                  for f in ("reported_s", "wall_s", "cpu_s")]
        shares = "".join(f"{(r / kept if kept else 0.0):>12.2%}" for r in rejected)
        print(f"{champ.bench:<9} {change:<22} {deltas[0]:>+8.1f}  {deltas[1]:>+8.1f} "
              f"{deltas[2]:>+8.1f}  {kept / args.decisions:>5.0%}{shares}")
        if cand.name != "lie":
            honest_kept += kept
            honest_rejected = [a + b for a, b in zip(honest_rejected, rejected)]
            tally = per_bench.setdefault(champ.bench, [0, 0])
            tally[0] += kept
            tally[1] += rejected[0]
    for (sigmas, stretch), bad in zip(RULES, honest_rejected):
        rate = bad / honest_kept if honest_kept else 0.0
        print(f"\nfalse rejections of honest kept changes, {sigmas:g} standard errors, "
              f"CPU {'stretched' if stretch else 'as measured'}"
              f"{' (shipped)' if (sigmas, stretch) == RULES[0] else ''}: {bad} of "
              f"{honest_kept} ({rate:.2%}); goal < 1%: {'met' if rate < 0.01 else 'NOT met'}",
              end="")
    for bench, (kept, bad) in per_bench.items():
        rate = bad / kept if kept else 0.0
        print(f"\n{bench}: false rejections as shipped {bad} of {kept} honest kept changes "
              f"({rate:.2%}); goal < 1%: {'met' if rate < 0.01 else 'NOT met'}", end="")
    print(f"\n({time.monotonic() - started:.0f} s; wall, cpu, reported: median change of the "
          "process's wall and CPU time and of the reported time, ms)")


if __name__ == "__main__":
    main()
