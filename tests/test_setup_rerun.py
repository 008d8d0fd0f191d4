"""`[session] setup` runs again, in the measurement tree, for a commit whose setup inputs
differ (app/engine/setup_outputs.py): a candidate is measured with the outputs its own
dependency files give, never with the champion's stale ones.
"""

from __future__ import annotations

import pytest

from tests.conftest import Project
from tests.test_clean_room import BOTH, assert_not_kept, decided, run, setup_project

# `setup` "installs" the version requirements.txt names: deps/speed.py, whose FACTOR
# multiplies the benchmark's score (a slower dependency: a higher score; lower is better).
INSTALL = '''\
import os
version = open("requirements.txt").read().split("==")[1].strip()
os.makedirs("deps", exist_ok=True)
open("deps/speed.py", "w").write(f"FACTOR = {version}\\n")
'''
BENCH_WITH_DEPS = '''\
import os, sys
sys.path.insert(0, "src")
sys.path.insert(0, "deps")
import lib, speed
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={lib.score(total) * speed.FACTOR}")
'''


def _project_with_setup(project: Project, sandbox: str) -> None:
    setup_project(project, sandbox, extra='setup = "python3 install.py"')
    project.write(".gitignore", "*.pyc\n__pycache__/\nignored/\ndeps/\n")
    project.write("install.py", INSTALL)
    project.write("requirements.txt", "speed==1\n")
    project.write("bench.py", BENCH_WITH_DEPS)
    project.commit("a dependency installed by setup")


@pytest.mark.parametrize("sandbox", BOTH)
def test_a_candidate_that_changes_a_dependency_is_measured_with_its_own_setup(
        project: Project, sandbox: str) -> None:
    """Attack: #1 halves the code's score but pins a dependency 4x slower. Measured with the
    champion's stale `deps/` it looks 50% better and was kept; with `setup` run again on its
    requirements.txt it is 2x worse. #2 (the halving alone) is then measured on the
    champion's outputs again, brought back from the cache without a third setup run."""
    _project_with_setup(project, sandbox)
    project.patch("01.patch", {"src/lib.py": "def score(total):\n    return total * 0.5\n",
                               "requirements.txt": "speed==4\n"},
                  "halve the score (and a slower dependency)")
    project.patch("02.patch", {"src/lib.py": "def score(total):\n    return total * 0.5\n"},
                  "halve the score")
    project.commit("patches")
    engine, events = run(project)
    assert_not_kept_first = decided(engine)
    assert assert_not_kept_first[1][0] == "discard", assert_not_kept_first
    first = next(e for e in engine.experiments if e.n == 1)
    assert set(first.samples) == {100.0}, first.samples
    second = next(e for e in engine.experiments if e.n == 2)
    assert str(second.status) == "keep" and set(second.samples) == {25.0}, second
    baseline = next(e for e in engine.experiments if e.n == 0)
    assert set(baseline.samples) == {50.0}, baseline.samples
    outputs = engine.setup.tree.setup_outputs
    assert outputs is not None and outputs.reruns == 1, "once for #1's inputs, then cached"
    logs = sorted(p.name for p in engine.state_dir.glob("setup-measure-*.log"))
    assert len(logs) == 1, logs
    said = [line for e in events if getattr(e, "source", "") == "bench"
            for line in getattr(e, "lines", ())
            if "`session.setup` runs again" in line]
    assert said and "requirements.txt" in said[0], said


def test_a_setup_that_fails_on_a_candidates_inputs_makes_it_crash(project: Project) -> None:
    """#1's requirements.txt cannot be installed: its runs fail with the setup's output (a
    `crash`), and nothing of it is kept."""
    _project_with_setup(project, "bwrap")
    project.patch("01.patch", {"src/lib.py": "def score(total):\n    return total * 0.5\n",
                               "requirements.txt": "speed is broken\n"},
                  "a requirements.txt setup cannot read")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "crash")
    log = (engine.state_dir / "runs" / "1").glob("*.log")
    assert any("`session.setup` ran again for this commit" in p.read_text() for p in log)
