"""The agent's worktree goes back to the champion by the one reset routine it shares with
the measurement tree (gitops: `tree_paths_between`, `restore_paths`, `undo_status`): when a
snapshot scan found it to be exactly the candidate and nothing that could write it ran
since, only the two trees' difference is undone; otherwise one status scan lists what to
undo. The shortcut must leave exactly what the full reset leaves, and must not be taken
when anything may have written the worktree (a command, the agent's own file tools, the
user during a pause).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from app.engine.agents.base import AgentContext, AgentError, AgentsExhausted, Proposal
from app.engine.gitops import SessionGit
from app.engine.process import run_command
from app.engine.sandbox import Isolation
from app.engine.session import find_repo
from tests.conftest import Project, git, run_session
from tests.test_clean_room import _need, write_config
from tests.test_measurement_tree import _history, _listing


def _session(root: Path, tag: str, start: str) -> SessionGit:
    repo = find_repo(root)
    sg = SessionGit(repo, repo.session(tag))
    sg.create_branch(start)
    sg.ensure_worktree()
    return sg


def _propose(sg: SessionGit, commit: str) -> None:
    """The worktree's files become `commit`'s, HEAD stays at the champion (an agent's
    edits)."""
    git(sg.paths.worktree, "read-tree", "-u", "--reset", commit)


def test_the_shortcut_leaves_exactly_what_a_full_reset_leaves(repo: Path) -> None:
    commits = _history(repo)
    fast, full = _session(repo, "fast", commits[0]), _session(repo, "full", commits[0])
    for n, (champion, candidate) in enumerate(itertools.permutations(commits, 2), 1):
        for sg in (fast, full):
            sg.forget_clean()
            sg.reset_to(champion)
            _propose(sg, candidate)
            assert sg.snapshot(n, f"#{n}").commit is not None
        full.forget_clean()  # the whole scan
        fast.reset_to(champion)  # the difference of the two trees only
        full.reset_to(champion)
        assert fast._clean is not None
        assert _listing(fast.paths.worktree) == _listing(full.paths.worktree), (n,)
        assert fast.wt.status(untracked_files="all") == {}, n
        assert full.wt.status(untracked_files="all") == {}, n


def test_a_command_that_can_write_the_worktree_makes_the_reset_scan_it(repo: Path) -> None:
    """Attack on the shortcut: between the snapshot and the reset, a command that can write
    the worktree (any command without bwrap) leaves a file and edits a tracked one."""
    commits = _history(repo)
    sg = _session(repo, "t", commits[0])
    _propose(sg, commits[1])
    assert sg.snapshot(1, "#1").commit is not None
    done = run_command("echo cached > planted.txt && echo -9 > a.txt", sg.paths.worktree,
                       30, isolation=Isolation("none"))
    assert done.ok
    sg.reset_to(commits[0])
    assert not (sg.paths.worktree / "planted.txt").exists()
    assert (sg.paths.worktree / "a.txt").read_text() == "a1\n"
    assert sg.wt.status(untracked_files="all") == {}


class WritesThenFails:
    """An agent whose own file tools (no command: nothing the writers count sees) leave a
    file and an edit in the worktree, then fail: the experiment is `agent_error`."""

    name = "writes-then-fails"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def propose(self, ctx: AgentContext) -> Proposal:
        src = ctx.worktree / "src"
        self.seen.append(",".join(sorted(p.name for p in src.iterdir()))
                         + ":" + (src / "lib.py").read_text())
        if ctx.n == 1:
            (src / "extra.py").write_text("X = 1\n")
            (src / "lib.py").write_text("def f():\n    return 2\n")
            return Proposal("an honest no-op")
        if ctx.n == 2:
            (src / "half.py").write_text("Y = 1\n")
            (src / "lib.py").write_text("def f():\n    return 3\n")
            raise AgentError("the model gave up half-way")
        if ctx.n == 3:
            return Proposal("look only")
        raise AgentsExhausted("done")


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_what_a_failed_agent_left_is_gone_before_the_next_experiment(
        project: Project, sandbox: str) -> None:
    """#1 is measured and discarded (the shortcut's reset, under bwrap); #2's agent writes
    with its own tools and fails: #2 and #3 must start from the champion exactly, whatever
    the writers count says."""
    _need(sandbox)
    write_config(project, sandbox, checks=False, repeats=2, max_repeats=2)
    project.commit("config")
    agent = WritesThenFails()
    _, _, engine = run_session(project, agent=agent)
    statuses = [(e.n, str(e.status)) for e in engine.experiments]
    assert statuses[:3] == [(0, "baseline"), (1, "discard"), (2, "agent_error")], statuses
    clean = "lib.py:def f():\n    return 1\n"
    assert agent.seen[:3] == [clean] * 3, agent.seen
