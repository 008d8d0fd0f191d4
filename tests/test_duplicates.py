"""Duplicates are not measured again (app/engine/duplicates.py): attacks by an agent that
proposes the same change twice, with and without whitespace games."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from app.engine.duplicates import change_key, normalise
from app.engine.history import read_log
from app.engine.records import Status
from tests.conftest import Project, run_session


def open_engine(cwd: Path, **options: Any) -> Any:
    """The session on `cwd`, opened as the CLI opens it."""
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    return open_session(LaunchOptions(cwd=cwd, **options))


def test_the_same_patch_twice_is_a_duplicate_and_runs_no_benchmark(project: Project) -> None:
    project.patch("01-grow.patch", {"nums/b.txt": "30\n"}, "grow b")
    # The same change with trailing spaces, a blank line and a new description.
    project.patch("02-again.patch", {"nums/b.txt": "30   \n\n"}, "make b larger")
    shutil.copy(project.root / "patches" / "01-grow.patch",
                project.root / "patches" / "03-copy.patch")
    # A different change: an indentation change is meaning in Python.
    project.patch("04-indent.patch", {"src/lib.py": "def f():\n        return 1\n"},
                  "re-indent f")
    project.patch("05-keep.patch", {"nums/a.txt": "10\n"}, "shrink a")
    # The champion moved: the old idea is measured again on the new code.
    shutil.copy(project.root / "patches" / "01-grow.patch",
                project.root / "patches" / "06-retry.patch")
    project.commit("patches")

    status, _, engine = run_session(project)

    assert status == 0
    by_n = {e.n: e for e in engine.experiments}
    assert [(n, str(e.status)) for n, e in sorted(by_n.items())] == [
        (0, "baseline"), (1, "discard"), (2, "duplicate"), (3, "duplicate"), (4, "discard"),
        (5, "keep"), (6, "discard")]
    for n in (2, 3):
        assert by_n[n].duplicate_of == 1
        assert by_n[n].reason == ("the same change as #1 (discard), already measured "
                                  "against this champion: not measured again")
        assert by_n[n].metric is None and not by_n[n].samples
        assert not list((engine.state_dir / "runs" / str(n)).glob("bench-*.log"))
        assert by_n[n].candidate  # the change is stored like every candidate's
    assert list((engine.state_dir / "runs" / "6").glob("bench-*.log"))
    logged = {e.n: e for e in read_log(engine.state_dir / "log.jsonl").experiments}
    assert logged[2].status is Status.DUPLICATE and logged[2].duplicate_of == 1


def test_the_agent_is_told_its_change_was_a_duplicate(project: Project, tmp_path: Path
                                                       ) -> None:
    """A command agent that always makes the same change: the third prompt says #2 was a
    duplicate of #1, in the recent experiments and in the memory digest."""
    project.use_script_agent(
        tmp_path / "agent.sh",
        'echo 30 > nums/b.txt\necho "DESCRIPTION: grow b"\n')
    status, _, engine = run_session(project, max_experiments=3)
    assert status == 0
    assert [str(e.status) for e in engine.experiments] == [
        "baseline", "discard", "duplicate", "duplicate"]
    prompt = (engine.state_dir / "runs" / "3" / "agent-prompt.md").read_text()
    assert "- #2 duplicate — grow b" in prompt
    assert "reason: the same change as #1 (discard)" in prompt
    assert "2 variants of 'grow b' (#1-#2): 1 discard, 1 duplicate" in prompt


def test_whitespace_that_means_nothing_is_ignored_and_indentation_is_not() -> None:
    assert normalise(b"x = 1  \n\n\ny  =  2\r\n") == normalise(b"x = 1\ny = 2\n")
    assert normalise(b"if a:\n    b()\n") != normalise(b"if a:\nb()\n")
    assert normalise(b"\0\x01 \x02") == b"\0\x01 \x02"  # binary: byte for byte
    assert change_key([("a", b"1\n"), ("b", None)]) == change_key([("b", None),
                                                                     ("a", b"1  \n")])
    assert change_key([("a", b"1\n")]) != change_key([("a", None)])
    assert change_key([("a", b"1\n")]) != change_key([("b", b"1\n")])


def test_a_cherry_pick_of_a_discard_is_measured_again(project: Project) -> None:
    """The user asked for it: a cherry-pick is never a duplicate."""
    from app.engine.controller import LoopController

    project.patch("01-grow.patch", {"nums/b.txt": "30\n"}, "grow b")
    project.commit("patches")
    controller = LoopController()
    events: list[Any] = []

    def sink(event: Any) -> None:
        events.append(event)
        if type(event).__name__ == "ExperimentDecided" and event.experiment.n == 1:
            controller.cherry_pick(1)

    engine = open_engine(cwd=project.root, max_experiments=2)
    try:
        assert engine.run(sink, controller) == 0
    finally:
        engine.close()
    by_n = {e.n: e for e in engine.experiments}
    assert str(by_n[2].status) == "discard" and by_n[2].source == "cherry-pick:1"
