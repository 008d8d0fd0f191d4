"""finalize on real repositories: grouping, building, verifying, refusing, dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.errors import UsageError
from app.finalize import VerificationFailed, finalize, plan_groups
from tests.conftest import Project
from tests.finalize_fixtures import (
    Change,
    make_session,
    refs_and_worktrees,
    tree_files,
    use_shell_commands,
)


def _branches(project: Project) -> list[str]:
    out = project.git("for-each-ref", "--format=%(refname:short)", "refs/heads/autoresearch-final")
    return out.split()


def test_two_independent_groups_become_two_verified_branches(project: Project,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    make_session(project, [Change("shrink a", {"nums/a.txt": "10\n"}),
                           Change("add a negative c", {"nums/c.txt": "-10\n"})])
    before_status = project.git("status", "--porcelain")

    assert main(["finalize"]) == 0

    out = capsys.readouterr().out
    branches = _branches(project)
    assert branches == ["autoresearch-final/s1/1-shrink-a",
                        "autoresearch-final/s1/2-add-a-negative-c"]
    one, two = (tree_files(project, b) for b in branches)
    assert one["nums/a.txt"] == "10\n" and "nums/c.txt" not in one
    assert two["nums/a.txt"] == "50\n" and two["nums/c.txt"] == "-10\n"
    # Each branch starts at the base, one commit per kept change, its message states gains.
    base = project.git("rev-parse", "main").strip()
    assert project.git("rev-parse", f"{branches[0]}~1").strip() == base
    message = project.git("log", "-1", "--format=%B", branches[0])
    assert "Kept as experiment #1 of autoresearch session s1: score 50 -> 10" in message
    assert "this branch alone is 80.0% better than base" in message
    assert "checks pass" in message
    # Progress lines carry the elapsed time; no scratch worktree is left behind.
    assert "s] group 1 (experiment #1): running the checks" in out
    assert project.git("worktree", "list").count("\n") == 1
    assert not (project.root / ".autoresearch" / "scratch").exists()
    assert project.git("status", "--porcelain") == before_status
    state = project.root / ".git" / "autoresearch" / "sessions" / "s1"
    data = json.loads((state / "attribution.json").read_text())
    assert [g["experiments"] for g in data["groups"]] == [[1], [2]]
    report = (state / "report.md").read_text()
    assert "## Attribution" in report and "autoresearch-final/s1/1-shrink-a" in report


def test_overlapping_files_make_one_group_with_changes_in_order(project: Project) -> None:
    make_session(project, [Change("shrink a", {"nums/a.txt": "30\n"}),
                           Change("grow b", {"nums/b.txt": "1\n"}),
                           Change("shrink a more, touch lib", {"nums/a.txt": "5\n",
                                                               "src/lib.py": "X = 1\n"}),
                           Change("lib only", {"src/lib.py": "X = 2\n"})])

    plan = plan_groups()

    assert [g.numbers for g in plan.groups] == [[1, 3, 4], [2]]
    assert plan.groups[0].paths == ["nums/a.txt", "src/lib.py"]
    finalize(plan, progress=lambda line: None)
    first = _branches(project)[0]
    log = project.git("log", "--format=%s", f"main..{first}").splitlines()
    assert log == ["lib only", "shrink a more, touch lib", "shrink a"]
    files = tree_files(project, first)
    assert files["nums/a.txt"] == "5\n" and files["src/lib.py"] == "X = 2\n"
    assert files["nums/b.txt"] == "0\n"


def test_renamed_and_deleted_files(project: Project) -> None:
    make_session(project, [
        Change("rename a", {}, renames=(("nums/a.txt", "nums/renamed.txt"),)),
        Change("delete lib", {"src/lib.py": None}),
        Change("shrink the renamed file", {"nums/renamed.txt": "20\n"})])

    plan = plan_groups()
    # The rename links the old and the new name: #1 and #3 belong together.
    assert [g.numbers for g in plan.groups] == [[1, 3], [2]]
    assert "nums/a.txt" in plan.groups[0].paths and "nums/renamed.txt" in plan.groups[0].paths
    result = finalize(plan, progress=lambda line: None, include_unverified=True)

    # Deleting src/lib.py changes nothing the benchmark sees: no credible gain alone, so that
    # branch is made only as unverified (tests/test_reward_hacks_log.py has the rule).
    assert [why.startswith("alone it is") for _, why in result.unverified] == [True]
    renamed = tree_files(project, result.branches[0])
    deleted = tree_files(project, "autoresearch-final/s1/unverified/2-delete-lib")
    assert "nums/a.txt" not in renamed and renamed["nums/renamed.txt"] == "20\n"
    assert "src/lib.py" in renamed
    assert "src/lib.py" not in deleted and deleted["nums/a.txt"] == "50\n"
    # Rename detection in the branch itself: git sees a rename, not a delete and an add.
    first_commit = project.git("rev-list", "--reverse", f"main..{result.branches[0]}").split()[0]
    assert "R100\tnums/a.txt\tnums/renamed.txt" in project.git(
        "show", "--name-status", "-M", "--format=", first_commit)


def test_a_group_that_fails_the_checks_alone_creates_nothing(project: Project) -> None:
    make_session(project, [Change("needs b", {"need_b": "1\n", "nums/a.txt": "10\n"}),
                           Change("provide b", {"b_impl": "1\n"})])
    before = refs_and_worktrees(project)

    with pytest.raises(VerificationFailed) as info:
        finalize(plan_groups(), progress=lambda line: None)

    assert "autoresearch-final/s1/1-needs-b (experiment #1) fails the checks on its own" in \
        str(info.value)
    assert "need_b without b_impl" in str(info.value)
    assert refs_and_worktrees(project) == before
    assert not (project.root / ".autoresearch" / "scratch").exists()
    assert not (project.root / ".git" / "autoresearch" / "sessions" / "s1" /
                "attribution.json").exists()
    assert info.value.exit_status == 3
    # Put together on purpose, the two changes make one branch that passes.
    plan = plan_groups(together=[[1, 2]])
    assert [g.numbers for g in plan.groups] == [[1, 2]]
    assert finalize(plan, progress=lambda line: None).branches == [
        "autoresearch-final/s1/1-needs-b-and-1-more"], "named after all its members"


def test_an_existing_branch_is_never_overwritten(project: Project,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    make_session(project, [Change("shrink a", {"nums/a.txt": "10\n"})])
    project.git("branch", "autoresearch-final/s1/1-shrink-a", "main")
    before = refs_and_worktrees(project)

    assert main(["finalize"]) == 2

    err = capsys.readouterr().err
    assert "branch autoresearch-final/s1/1-shrink-a already exists" in err
    assert "git branch -D autoresearch-final/s1/1-shrink-a" in err
    assert refs_and_worktrees(project) == before


def test_a_failed_ref_creation_deletes_the_branches_already_made(project: Project) -> None:
    make_session(project, [Change("shrink a", {"nums/a.txt": "10\n"}),
                           Change("add c", {"nums/c.txt": "-1\n"})])
    # A branch *below* the second name makes creating that name fail (a file/folder clash
    # in refs/heads), after the first branch was made.
    project.git("branch", "autoresearch-final/s1/2-add-c/old", "main")

    with pytest.raises(VerificationFailed, match="2-add-c"):
        finalize(plan_groups(), progress=lambda line: None)

    assert _branches(project) == ["autoresearch-final/s1/2-add-c/old"]


def test_dry_run_shows_the_grouping_and_changes_nothing(project: Project,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    make_session(project, [Change("shrink a", {"nums/a.txt": "10\n"}),
                           Change("lib", {"src/lib.py": "X = 1\n"}),
                           Change("shrink a again", {"nums/a.txt": "5\n"})])
    before = refs_and_worktrees(project)
    state = project.root / ".git" / "autoresearch" / "sessions" / "s1"
    files_before = sorted(p.name for p in state.iterdir())

    assert main(["finalize", "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "3 kept experiments" in out and "-> 2 branches" in out
    assert "autoresearch-final/s1/1-shrink-a-and-1-more\n" in out, "a group of two"
    assert "#1" in out and "#3" in out and "score 50 -> 10" in out
    assert "dry run: nothing was created" in out
    assert refs_and_worktrees(project) == before
    assert sorted(p.name for p in state.iterdir()) == files_before


def test_no_session_and_no_keeps(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["finalize"]) == 2
    assert "has no autoresearch sessions yet" in capsys.readouterr().err
    make_session(project, [])
    assert main(["finalize"]) == 0
    assert "session s1 kept no experiments: there is nothing to finalize" in \
        capsys.readouterr().out


def test_selected_experiments_only(project: Project) -> None:
    make_session(project, [Change("shrink a", {"nums/a.txt": "10\n"}),
                           Change("add c", {"nums/c.txt": "-1\n"})])
    plan = plan_groups(selected=[2])
    assert [g.numbers for g in plan.groups] == [[2]] and not plan.complete
    with pytest.raises(UsageError, match="#7"):
        plan_groups(selected=[7])


def test_finalize_after_a_real_session(project: Project, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """Through the real loop and log: two scripted keeps, a discard, then finalize."""
    project.patch("01-a.patch", {"nums/a.txt": "10\n"}, "shrink a by 40")
    project.patch("02-grow.patch", {"nums/b.txt": "5\n"}, "grow b")
    project.patch("03-c.patch", {"nums/c.txt": "-10\n"}, "add c, minus 10")
    project.commit("patches")
    use_shell_commands(project)
    assert main(["run", "--headless"]) == 0
    capsys.readouterr()

    assert main(["finalize"]) == 0

    out = capsys.readouterr().out
    assert "2 branches ready for review" in out
    branches = _branches(project)
    assert len(branches) == 2 and branches[0].endswith("/1-shrink-a-by-40")
    state = next((project.root / ".git" / "autoresearch" / "sessions").iterdir())
    groups = json.loads((state / "attribution.json").read_text())["groups"]
    assert [g["experiments"] for g in groups] == [[1], [3]]
    assert groups[0]["alone_gain"] == pytest.approx(0.8)
    assert groups[1]["alone_gain"] == pytest.approx(0.2)
    assert not Path(project.root / ".autoresearch" / "scratch").exists()
