"""The scan after every run (`MeasurementTree.reset`) and `[session] setup`'s outputs.

The outputs are kept across resets, so the scan has nothing to do in them; but git walks
every file of an output folder that no ignore rule names as a folder (a `deps/` the user
never had to ignore, since only the measurement tree has it): 20,000 files cost about half
a second a run (benchmarks/setup_outputs_scan.py). The outputs now wait beside the tree
while it is scanned, and they are the paths setup made, not the top-level folders holding
them: a tracked folder that setup wrote into is reset like any other.

Attacks: a cache planted beside the outputs, in a tracked folder, or in an ignored folder,
must not carry over to the next run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
import pytest

from tests.conftest import Project
from tests.test_clean_room import BOTH, assert_cache_is_cold, run, setup_project

pytestmark = pytest.mark.slow  # real sessions, 5 to 10 s each

SETUP = 'setup = "mkdir -p sub/deps && echo 1 > sub/deps/marker && mkdir -p deps && touch deps/a"'
"""Outputs in a tracked folder (`sub/deps`) and at the top (`deps`), neither ignored."""

PLANTED = {
    # beside the outputs, in the tracked folder that holds them
    "beside-outputs": '"sub/score-cache"',
    # in a folder .gitignore ignores, while the outputs wait beside the tree
    "ignored-folder": '"ignored/deep/score-cache"',
}


def _project_with_outputs(project: Project, sandbox: str) -> None:
    setup_project(project, sandbox, extra=SETUP)
    project.write("sub/README", "a tracked folder that setup also writes into\n")
    project.commit("a tracked folder")


@pytest.mark.parametrize("sandbox", BOTH)
@pytest.mark.parametrize("where", sorted(PLANTED))
def test_a_cache_planted_beside_setup_outputs_does_not_carry_over(
        project: Project, sandbox: str, where: str) -> None:
    """Run 1 of the candidate writes a cache, runs 2..n are "1000x faster" if it is still
    there. Beside the outputs (in `sub/`, which setup wrote `sub/deps` into) it was kept:
    the whole of `sub/` was spared by every reset (with bwrap, `sub/` was read-only and the
    honest write crashed); in an ignored folder it must be removed while the outputs wait
    beside the tree."""
    _project_with_outputs(project, sandbox)
    tree = assert_cache_is_cold(project, PLANTED[where]).setup.tree
    assert tree.kept == {"sub/deps", "deps"}
    assert (tree.path / "sub" / "deps" / "marker").read_text() == "1\n"
    assert (tree.path / "deps" / "a").is_file()


def test_the_scan_after_a_run_does_not_walk_the_setup_outputs(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every full scan of the measurement tree after setup ran happens while the outputs
    wait beside it (they were walked file by file when no ignore rule named them); they are
    back for every run."""
    _project_with_outputs(project, "none")
    project.patch("01.patch", {"src/lib.py": "def score(total):\n    return total / 2\n"},
                  "halve the score")
    project.commit("patches")
    seen: list[tuple[bool, bool]] = []
    status = pygit2.Repository.status

    def spy(repo: pygit2.Repository, *args: Any, **kwargs: Any) -> Any:
        workdir = Path(repo.workdir)
        if "measure" in workdir.parts and kwargs.get("untracked_files") == "all":
            seen.append(((workdir / "deps").exists(), (workdir / "sub" / "deps").exists()))
        return status(repo, *args, **kwargs)

    monkeypatch.setattr(pygit2.Repository, "status", spy)
    engine, _ = run(project)
    assert [str(e.status) for e in engine.experiments] == ["baseline", "keep"]
    assert len(seen) > 6, seen  # a scan after each of the runs
    assert all(s == (False, False) for s in seen), seen
    runs = [r.read_text() for r in engine.state_dir.glob("runs/*/bench-*.log")]
    assert runs and all("METRIC score=" in r for r in runs)
    assert (engine.setup.tree.path / "sub" / "deps" / "marker").is_file()
