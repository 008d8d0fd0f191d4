"""A finished session made directly in a real repo: the session branch with kept commits
and a log as the engine writes it (LogWriter, Experiment records), so finalize tests can set
up renames, deletions and overlaps that scripted patches cannot express, in milliseconds.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.engine.gitops import result_message
from app.engine.history import LogWriter
from app.engine.records import Experiment, Status
from tests.conftest import Project


@dataclass
class Change:
    description: str
    files: dict[str, str | None]
    """path -> new text (None deletes)."""
    renames: tuple[tuple[str, str], ...] = ()
    """(old, new) pairs applied with `git mv` before `files`."""


BENCH_SH = """\
cat nums/*.txt | awk '{ s += $1 } END { printf "METRIC score=%g\\n", s }'
"""
CHECK_SH = """\
if [ -e broken ]; then echo "test_thing ... FAIL"; exit 1; fi
if [ -e need_b ] && [ ! -e b_impl ]; then echo "test_b ... FAIL: need_b without b_impl"; exit 1; fi
if [ -e x_on ] && [ -e y_on ] && [ ! -e z_fix ]; then echo "test_xy ... FAIL"; exit 1; fi
echo "all good"
"""


def use_shell_commands(project: Project) -> None:
    """The same benchmark and checks as the fixture's Python scripts, in sh and awk: on a
    loaded machine a Python start costs 0.3 s and finalize runs the benchmark dozens of
    times."""
    project.write("bench.sh", BENCH_SH)
    project.write("check.sh", CHECK_SH)
    text = (project.root / "autoresearch.toml").read_text()
    text = text.replace('command = "python3 bench.py"', 'command = "sh bench.sh"')
    text = text.replace('command = "python3 check.py"', 'command = "sh check.sh"')
    (project.root / "autoresearch.toml").write_text(text)
    project.commit("shell benchmark and checks")


def score(root: Path) -> float:
    """The fixture benchmark's value for a checkout (the sum of nums/*.txt)."""
    return sum(float(p.read_text()) for p in sorted((root / "nums").glob("*.txt")))


def make_session(project: Project, changes: list[Change], tag: str = "s1") -> list[str]:
    """Branch `autoresearch/<tag>` from HEAD with one kept commit per change, and its log.

    Returns the kept commit ids. The user's checkout ends on main, clean. The benchmark and
    checks become the shell versions first (`use_shell_commands`).
    """
    if not (project.root / "bench.sh").exists():
        use_shell_commands(project)
    root = project.root
    base = project.git("rev-parse", "HEAD").strip()
    base_score = score(root)
    project.git("checkout", "-q", "-b", f"autoresearch/{tag}")
    state = root / ".git" / "autoresearch" / "sessions" / tag
    state.mkdir(parents=True)
    writer = LogWriter(state / "log.jsonl")
    writer.append({"type": "session_start", "tag": tag, "branch": f"autoresearch/{tag}",
                   "base_commit": base, "champion": base, "metric_name": "score", "unit": "",
                   "direction": "lower", "agent": "scripted", "goal": "lower the score"})
    writer.append_experiment(Experiment(n=0, status=Status.BASELINE, metric=base_score,
                                        samples=[base_score] * 3, commit=base))
    commits = []
    champion = base_score
    try:
        for n, change in enumerate(changes, start=1):
            for old, new in change.renames:
                (root / new).parent.mkdir(parents=True, exist_ok=True)
                project.git("mv", old, new)
            for rel, text in change.files.items():
                path = root / rel
                if text is None:
                    project.git("rm", "-q", rel)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                    project.git("add", rel)
            value = score(root)
            project.git("commit", "-q", "-m", result_message(change.description,
                                                             {"n": n, "score": value}))
            commit = project.git("rev-parse", "HEAD").strip()
            commits.append(commit)
            writer.append_experiment(Experiment(
                n=n, status=Status.KEEP, metric=value, samples=[value] * 3,
                champion_samples=[champion] * 3, champion_metric=champion, commit=commit,
                candidate=commit, description=change.description, confidence=100.0,
                p_value=0.01))
            champion = value
    finally:
        project.git("checkout", "-q", "main")
        writer.close()
    return commits


def refs_and_worktrees(project: Project) -> tuple[str, str]:
    """Every ref with its target, and the worktree list: what finalize may not leave changed."""
    return (project.git("for-each-ref", "--format=%(refname) %(objectname)"),
            project.git("worktree", "list", "--porcelain"))


def tree_files(project: Project, rev: str) -> dict[str, str]:
    """path -> content of every file in `rev`."""
    names = project.git("ls-tree", "-r", "--name-only", rev).split()
    return {name: project.git("show", f"{rev}:{name}") for name in names}


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it, in `root`."""
    import sys

    return subprocess.run([sys.executable, "-m", "app", *args], cwd=root, capture_output=True,
                          text=True, env={**os.environ}, check=False,
                          timeout=300)
