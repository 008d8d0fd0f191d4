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

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import ExecutorConfig  # noqa: E402
from app.engine.executors.base import MeasureJob, RunSpec  # noqa: E402
from app.engine.executors.local import LocalExecutor  # noqa: E402
from app.engine.process import run_command  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "app" / "demo_project"
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


def direct(root: Path, rounds: int) -> None:
    times = []
    for _ in range(rounds):
        ms, _ = timed(lambda: [run_command("true", root, 30) for _ in range(2)])
        times.append(ms)
    print(f"  {'direct':15} two runs of `true` here: {statistics.median(times):6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from app.engine.executors.ray_exec import RayExecutor, connect, shutdown

    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as scratch:
        os.environ["AUTORESEARCH_NODE_CACHE"] = str(Path(scratch) / "cache")
        config = ExecutorConfig(kind="ray", address="local")
        connect(config, num_cpus=2)
        ray_executor = RayExecutor(config)
        try:
            for files in (0, args.files):
                root = make_repo(Path(scratch), files)
                print(f"{'demo' if not files else f'{files:,}-file repo'}:")
                direct(root, args.rounds)
                measure("local executor", root, LocalExecutor(), args.rounds, f"l{files}")
                measure("ray (local)", root, ray_executor, args.rounds, f"r{files}")
        finally:
            shutdown()


if __name__ == "__main__":
    main()
