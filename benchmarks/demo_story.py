"""Does the demo tell the same story every run? Plays the headless demo several times.

Run: `python benchmarks/demo_story.py [--plays N] [--dir D]` (each play takes 2-5 minutes:
the real binary's `demo --headless`, into D/play-<i>). For each play it prints every
experiment's status, how many held-out runs (champion and candidate) and how many runs in
all each experiment took, and experiment #6's reason and held-out samples: patch 6 is built
to overfit (faster on the benchmark, ~30% slower on the held-out one), and tests/test_demo.py
expects `overfit`. Run it with another checkout's code by starting it from that checkout
(`cd old && python /path/to/benchmarks/demo_story.py`): the demo runs `python -m app` from
the current folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import arguments


def play(target: Path) -> str:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "app", "demo", "--headless", "--dir",
                           str(target)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "NO_COLOR": "1"})
    took = time.monotonic() - started
    if done.returncode != 0:
        return f"failed (exit {done.returncode}): {done.stderr[-500:]}"
    [log] = (target / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl")
    experiments = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "experiment":
            experiments[int(record["n"])] = record
    runs = next((target / ".git").rglob("runs"))
    held = {n: len(list((runs / str(n)).glob("holdout-*.log"))) for n in experiments}
    every = {n: len(list((runs / str(n)).glob("*.log"))) for n in experiments}
    six = experiments.get(6, {})
    return "\n".join([
        f"{took:.0f} s, load {os.getloadavg()[0]:.1f}: "
        + " ".join(f"#{n} {experiments[n]['status']}" for n in sorted(experiments)),
        f"  held-out runs per experiment {held}",
        f"  runs per experiment {every}, {sum(every.values())} in all",
        f"  #6 {six.get('status')}: {six.get('reason')}",
        f"  #6 held-out: candidate {six.get('holdout_samples')}, "
        f"champion {six.get('holdout_champion_samples')}"])


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--plays", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="demo-story-"))
    for i in range(args.plays):
        print(f"play {i + 1}: {play(base / f'play-{i + 1}')}", flush=True)


if __name__ == "__main__":
    main()
