"""What measuring through Ray costs per decision, against running the same commands here.

Run: `python benchmarks/ray_overhead.py [--files N] [--rounds R]` (needs the [ray] extra;
defaults: the demo project and a 10,000-file repository, 5 rounds; about a minute).

What is measured. One decision's job: champion and candidate, one run each of a no-op
command (`true`), so what is left is the executor's own cost. Three ways:
- "direct": `measure.run_command` twice in a clean tree here (the local path's command
  cost, without its tree resets);
- "local executor": the node's part in this process (bundle made, fetched into the node
  cache, tree reset, two runs): `app/engine/executors/local.py`;
- "ray": the same job as a Ray task on a private single-node Ray (`address = "local"`,
  2 CPUs), after the worker is warm.
For the local executor and Ray, three cases: the first job (full bundle, tree made),
a repeat of the same commits (nothing to send), and a new candidate (only its commit).
Bundle sizes are printed. Goals (issue #15): under 300 ms per decision on the demo and a
cached repeat under 100 ms.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_cli import ROOT, arguments

from app.config import ExecutorConfig
from app.engine.executors.base import MeasureJob, RunSpec
from app.engine.executors.local import LocalExecutor
from app.engine.process import run_command

DEMO = ROOT / "app" / "demo_project"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_repo(where: Path, files: int) -> Path:
    root = where / ("demo" if not files else f"repo{files}")
    if files:
        for i in range(files):
            path = root / "src" / f"d{i % 50}" / f"e{i % 7}" / f"f{i}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"X = {i}\n" + "# filler line\n" * 20)
    else:
        shutil.copytree(DEMO, root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "champion")
    return root


COUNTER = [0]


def candidate(root: Path) -> str:
    COUNTER[0] += 1
    i = COUNTER[0]
    (root / f"change{i}.txt").write_text(f"{i}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"candidate {i}")
    return git(root, "rev-parse", "HEAD")


def job(key: str, champion: str, cand: str) -> MeasureJob:
    return MeasureJob(key, (RunSpec("champion", champion, "true", 30),
                            RunSpec("candidate", cand, "true", 30)), sandbox="none")


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def measure(name: str, root: Path, executor, rounds: int, key: str) -> None:  # type: ignore[no-untyped-def]
    common = root / ".git"
    champion = git(root, "rev-list", "--max-parents=0", "HEAD")
    first_ms, first = timed(lambda: executor.measure(job(key, champion, champion),
                                                     common_dir=common))
    repeat, delta, sizes = [], [], []
    for _ in range(rounds):
        cand = candidate(root)
        ms, result = timed(lambda c=cand: executor.measure(job(key, champion, c),
                                                           common_dir=common))
        delta.append(ms)
        sizes.append(result.bundle_bytes)
        ms, again = timed(lambda c=cand: executor.measure(job(key, champion, c),
                                                          common_dir=common))
        repeat.append(ms)
        assert again.status == "ok", again.reason
    print(f"  {name:15} first {first_ms:7.0f} ms (bundle {first.bundle_bytes / 1024:,.0f} KiB)"
          f" | new candidate {statistics.median(delta):6.0f} ms (bundle "
          f"{statistics.median(sizes) / 1024:,.1f} KiB) | cached repeat "
          f"{statistics.median(repeat):6.0f} ms")


def decision_shapes(root: Path, executor, rounds: int, key: str) -> None:  # type: ignore[no-untyped-def]
    """One decision of 5 interleaved pairs of `true` (a new candidate each round), alternating
    in rounds: 10 runs here; 10 one-run Ray tasks (the loop before: one task per run); one
    10-run task (now: one task per decision, streamed)."""
    common = root / ".git"
    champion = git(root, "rev-list", "--max-parents=0", "HEAD")
    shapes: dict[str, list[float]] = {"here": [], "task per run": [], "task per decision": []}
    for _ in range(rounds):
        cand = candidate(root)
        runs = tuple(RunSpec(role, commit, "true", 30, f"{role}-{i}") for i in range(5)
                     for role, commit in (("champion", champion), ("candidate", cand)))
        ms, _ = timed(lambda runs=runs: [run_command("true", root, 30) for _ in runs])
        shapes["here"].append(ms)
        ms, _ = timed(lambda runs=runs: [executor.measure(
            MeasureJob(key, (r,), sandbox="none"), common_dir=common) for r in runs])
        shapes["task per run"].append(ms)
        ms, result = timed(lambda runs=runs: executor.measure(
            MeasureJob(key, runs, sandbox="none"), common_dir=common))
        assert result.status == "ok" and len(result.runs) == 10, result.reason
        shapes["task per decision"].append(ms)
    print("  one decision, 5 pairs of `true` (median of "
          f"{rounds}): " + "; ".join(f"{k} {statistics.median(v):.0f} ms"
                                     for k, v in shapes.items()))


def direct(root: Path, rounds: int) -> None:
    times = []
    for _ in range(rounds):
        ms, _ = timed(lambda: [run_command("true", root, 30) for _ in range(2)])
        times.append(ms)
    print(f"  {'direct':15} two runs of `true` here: {statistics.median(times):6.0f} ms")


TRIVIAL_BENCH = "import random\nprint(f'METRIC time_ms={1 + random.random():f}')\n"


def loop_repo(where: Path, kind: str, decisions: int, cache: Path) -> Path:
    """The demo's files with a trivial benchmark (what is left is the harness's and the
    executor's cost), `decisions` patches that each add a file, no checks, no holdout."""
    root = where / f"loop-{kind}"
    shutil.copytree(DEMO, root)
    (root / "loop_bench.py").write_text(TRIVIAL_BENCH)
    patches = root / "loop_patches"
    patches.mkdir()
    for i in range(decisions):
        (patches / f"{i:04d}.patch").write_text(
            f"Subject: [PATCH] extra {i}\n\n--- /dev/null\n+++ b/extra{i}.txt\n"
            f"@@ -0,0 +1 @@\n+{i}\n")
    executor = ('kind = "ray"\naddress = "local"\n\n[executor.runtime_env.env_vars]\n'
                f'AUTORESEARCH_NODE_CACHE = "{cache}"\n') if kind == "ray" else 'kind = "local"\n'
    (root / "autoresearch.toml").write_text(f"""[session]
sandbox = "none"

[metric]
command = "python3 loop_bench.py"
name = "time_ms"
repeats = 5
max_repeats = 5
calibration_runs = 5
interleave = true

[agent]
kind = "scripted"

[agent.scripted]
patches = "loop_patches"

[executor]
{executor}""")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "champion")
    return root


def loop_decisions(where: Path, decisions: int, rounds: int) -> None:
    """Whole decisions through the real loop (5 champion and 5 candidate runs each,
    interleaved), here and on a private Ray, sessions alternating (`rounds` of each, so a
    machine under load slows both): time per decision, min and median."""
    from app.engine.controller import LoopController
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    times: dict[str, list[float]] = {"local": [], "ray": []}
    tasks: list[float] = []
    for r in range(rounds):
        for kind in ("local", "ray"):
            root = loop_repo(where / str(r), kind, decisions, where / "loop-cache")
            engine = open_session(LaunchOptions(cwd=root))
            try:
                engine.run(lambda event: None, LoopController())
            finally:
                engine.close()
            exps = [e for e in engine.experiments if e.n > 0]
            assert len(exps) == decisions, [(e.status, e.reason) for e in engine.experiments]
            times[kind].extend(e.duration_s * 1000 for e in exps)
            if engine.setup.remote is not None:
                executor = engine.setup.remote.executor
                tasks.append(getattr(executor, "tasks", float("nan")) / (decisions + 1))
    for kind, values in times.items():
        print(f"  {kind:6} per decision: min {min(values):6.0f} ms, median "
              f"{statistics.median(values):6.0f} ms ({len(values)} decisions)"
              + (f"; {statistics.median(tasks):.1f} Ray tasks per decision" if kind == "ray"
                 else ""))
    print(f"  ray overhead per decision: {min(times['ray']) - min(times['local']):.0f} ms "
          f"(mins), {statistics.median(times['ray']) - statistics.median(times['local']):.0f}"
          " ms (medians)")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=6,
                        help="decisions through the real loop on the demo (0: skip)")
    args = parser.parse_args()
    if args.decisions:
        with tempfile.TemporaryDirectory(prefix="ray-loop-") as scratch:
            print("decisions through the loop (demo files, trivial benchmark, "
                  "5 interleaved pairs each):")
            loop_decisions(Path(scratch), args.decisions, args.rounds)
    from app.engine.executors.ray_exec import RayExecutor, connect, shutdown

    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as scratch:
        os.environ["AUTORESEARCH_NODE_CACHE"] = str(Path(scratch) / "cache")
        config = ExecutorConfig(kind="ray", address="local")
        connect(config, num_cpus=2)
        ray_executor = RayExecutor(config)
        try:
            for files in dict.fromkeys((0, args.files)):  # --files 0: the demo only
                root = make_repo(Path(scratch), files)
                print(f"{'demo' if not files else f'{files:,}-file repo'}:")
                direct(root, args.rounds)
                measure("local executor", root, LocalExecutor(), args.rounds, f"l{files}")
                measure("ray (local)", root, ray_executor, args.rounds, f"r{files}")
                if not files:
                    decision_shapes(root, ray_executor, args.rounds, f"d{files}")
        finally:
            shutdown()


if __name__ == "__main__":
    main()
