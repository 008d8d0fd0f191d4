"""What does a big `[session] setup` output cost each experiment, ignored or not?

Run: `python benchmarks/setup_outputs_scan.py [--files N] [--patches P]` (under a minute).

A small project (the tests' benchmark: sums nums/*.txt, 2 calibration runs, 2 pairs per
candidate, no sandbox) whose setup writes N files (default 20,000) into `node_modules/`,
measured three ways: without that setup; with `.gitignore` naming `node_modules/` (git
skips the folder); and with a `.gitignore` that does not name it (`*.js` only, or nothing:
a folder made only in the measurement tree is easy to leave out). The scan after every run
(`MeasurementTree.reset`) walked such a folder file by file, though the reset spares the
setup's outputs; they now wait beside the tree while it is scanned.

Prints, per way: the median seconds per experiment (its `duration_s`, the baseline left
out) and the harness's own CPU time per experiment (this process, not the commands; from
the baseline's decision to the last one, so the session's start is left out).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import arguments

from app.engine.controller import LoopController
from app.engine.events import Event, ExperimentDecided
from app.engine.launch import LaunchOptions
from app.engine.session import open_session
from tests.conftest import BENCH_PY, CHECK_PY, GIT_ENV, Project, init_repo

MAKE_OUTPUTS = '''\
import os, sys
files = int(sys.argv[1])
for d in range(max(1, files // 100)):
    folder = f"node_modules/pkg{d}/lib"
    os.makedirs(folder, exist_ok=True)
    for f in range(100):
        open(f"{folder}/f{f}.js", "w").write("x")
'''

WAYS = {
    "no setup": None,
    "ignored as a folder": "node_modules/\n",
    "*.js ignored": "*.js\n",
    "not ignored": "",
}


def project(root: Path, gitignore: str | None, files: int, patches: int) -> None:
    init_repo(root)
    p = Project(root)
    p.write("bench.py", BENCH_PY)
    p.write("check.py", CHECK_PY)
    p.write("nums/a.txt", "50\n")
    p.write("src/lib.py", "def f():\n    return 1\n")
    p.write("autoresearch.md", "# Goal\nA lower score.\n")
    p.write("make_outputs.py", MAKE_OUTPUTS)
    p.write(".gitignore", gitignore or "")
    session = '[session]\nsandbox = "none"\n'
    if gitignore is not None:
        session += f'setup = "python3 make_outputs.py {files}"\n'
    p.config(session, calibration_runs=2, repeats=2, max_repeats=2)
    (root / "patches").mkdir()
    p.commit("initial")
    for i in range(patches):
        p.patch(f"{i:04d}.patch", {f"nums/c{i}.txt": f"{i % 3 - 1}\n"}, f"change {i}")
    p.commit("patches")


def on_event(event: Event, decided: list[float]) -> None:
    """The harness's CPU time when each experiment is decided."""
    if isinstance(event, ExperimentDecided):
        decided.append(time.process_time())


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--files", type=int, default=20_000, help="files setup writes")
    parser.add_argument("--patches", type=int, default=6, help="experiments per way")
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    os.environ.pop("ANTHROPIC_API_KEY", None)
    work = Path(tempfile.mkdtemp(prefix="setup-outputs-scan-"))
    print(f"{args.files} files of setup outputs, {args.patches} experiments per way")
    print(f"{'way':<22} {'s / experiment':>15} {'harness CPU ms / experiment':>28}")
    for i, (way, gitignore) in enumerate(WAYS.items()):
        root = work / f"way{i}"
        project(root, gitignore, args.files, args.patches)
        os.chdir(root)
        decided: list[float] = []
        engine = open_session(LaunchOptions(cwd=root))
        try:
            status = engine.run(lambda event, decided=decided: on_event(event, decided),
                                LoopController())
        finally:
            engine.close()
        assert status == 0, status
        durations = [e.duration_s for e in engine.experiments if e.n > 0]
        cpu_ms = 1000 * (decided[-1] - decided[0]) / (len(decided) - 1)
        print(f"{way:<22} {statistics.median(durations):>15.2f} {cpu_ms:>28.0f}", flush=True)
    print(f"(repositories left in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
