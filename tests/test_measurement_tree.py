"""The measurement tree's shortcut: when it is known clean, moving it to another commit
checks out only what differs between the two commits instead of scanning every file. It
must leave exactly what a full reset leaves (files, folders, links, modes), and it must
not be taken when something may have written into the tree since it was verified.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
from pathlib import Path

import pygit2
import pytest

from app.engine.gitops import MeasurementTree
from app.engine.process import run_command, writers_seen
from app.engine.sandbox import Isolation
from app.engine.session import find_repo
from tests.conftest import Project, git


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def _write(root: Path, rel: str, text: str, mode: int | None = None) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def _history(root: Path) -> list[str]:
    """Commits that differ in every way a tree can: edits, new and deleted files and
    folders, a file that becomes a folder and back, an executable bit, symlinks."""
    commits = []
    _write(root, "a.txt", "a1\n")
    _write(root, "src/deep/x.py", "x = 1\n")
    _write(root, "src/y.py", "y = 1\n")
    _write(root, "run.sh", "echo 1\n", 0o644)
    commits.append(_commit(root, "one"))
    _write(root, "a.txt", "a2\n")
    (root / "src/deep/x.py").unlink()  # the folder's last file
    _write(root, "new/dir/z.txt", "z\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("a.txt", root / "link")
    commits.append(_commit(root, "two"))
    shutil.rmtree(root / "src")
    _write(root, "src", "now a file\n")  # a folder becomes a file
    (root / "link").unlink()
    os.symlink("new", root / "link")
    commits.append(_commit(root, "three"))
    (root / "src").unlink()
    _write(root, "src/y.py", "y = 2\n")  # and a folder again
    for p in ("new/dir/z.txt",):
        (root / p).unlink()
    commits.append(_commit(root, "four"))
    return commits


def _listing(root: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + [f for f in filenames if f != ".git"]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", "")
            else:
                out[rel] = (oct(st.st_mode & 0o111), path.read_text())
    return out


@pytest.fixture
def history(repo: Path) -> tuple[Path, list[str]]:
    return repo, _history(repo)


def _tree(root: Path, tag: str) -> MeasurementTree:
    paths = find_repo(root)
    return MeasurementTree(paths, paths.session(tag))


def test_the_shortcut_leaves_exactly_what_a_full_reset_leaves(
        history: tuple[Path, list[str]]) -> None:
    root, commits = history
    fast, full = _tree(root, "fast"), _tree(root, "full")
    fast.ensure(commits[0])
    full.ensure(commits[0])
    for old, new in itertools.permutations(commits, 2):
        fast.reset(old)  # verified clean at `old` ...
        fast.prepare(new)  # ... so this takes the shortcut
        full.reset(old)
        full.commit = None
        full.reset(new)  # the whole checkout and scan
        assert str(fast.repo.head.target) == new
        assert _listing(fast.path) == _listing(full.path), (old, new)
        assert fast.repo.status(untracked_files="all", ignored=True) == {}, (old, new)
        assert fast.reset(new) == [], "a full scan after the shortcut finds nothing"


def test_a_file_written_by_any_command_that_can_reach_the_tree_is_removed_before_the_run(
        history: tuple[Path, list[str]]) -> None:
    """The attack on the shortcut: something writes into the clean tree between two runs
    (without bwrap, the command agent can reach it). The next `prepare` must remove it."""
    root, commits = history
    tree = _tree(root, "t")
    tree.ensure(commits[0])
    tree.reset(commits[0])
    before = writers_seen(tree.path)
    done = run_command("echo cached > src/cache.txt && echo -9 > a.txt", tree.path, 30,
                       isolation=Isolation("none"))
    assert done.ok and (tree.path / "src/cache.txt").exists()
    assert writers_seen(tree.path) > before
    tree.prepare(commits[1])
    assert not (tree.path / "src/cache.txt").exists()
    assert (tree.path / "a.txt").read_text() == "a2\n"
    assert tree.repo.status(untracked_files="all", ignored=True) == {}


SNEAKY_RUN = """\
set -e
chmod +x a.txt
rm src/y.py && ln -s ../a.txt src/y.py
python3 - <<'PY'
import os
st = os.stat("b.txt")
open("b.txt", "w").write("B2\\n")
os.utime("b.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
PY
mkdir -p ignored/deep && echo cached > ignored/deep/cache.txt
"""


def test_a_run_that_changes_files_in_ways_a_stat_cache_could_miss_is_undone(
        repo: Path) -> None:
    """Attack on the reset after a run (git's stat cache, and the index that the diff-based
    `prepare` writes once): the run makes a file executable, swaps a file for a symlink,
    rewrites a file keeping its size and mtime, and leaves a file in an ignored folder.
    The reset must list every one and put the commit's files back exactly."""
    _write(repo, ".gitignore", "ignored/\n")
    _write(repo, "a.txt", "a1\n")
    _write(repo, "b.txt", "B1\n")
    _write(repo, "src/y.py", "y = 1\n")
    one = _commit(repo, "one")
    _write(repo, "src/z.py", "z = 1\n")
    two = _commit(repo, "two")
    tree, full = _tree(repo, "t"), _tree(repo, "full")
    tree.ensure(one)
    full.ensure(two)
    tree.reset(one)
    tree.prepare(two)  # the diff-based switch: one index write
    done = run_command(SNEAKY_RUN, tree.path, 30, isolation=Isolation("none"))
    assert done.ok, done.output
    found = tree.reset(two)
    assert sorted(found) == ["a.txt", "b.txt", "ignored", "src/y.py"], found
    assert _listing(tree.path) == _listing(full.path)
    assert tree.repo.status(untracked_files="all", ignored=True) == {}


def test_only_commands_that_can_write_the_tree_count(tmp_path: Path) -> None:
    tree = tmp_path / "repo" / ".autoresearch" / "measure" / "t"
    tree.mkdir(parents=True)
    harness = tmp_path / "repo" / ".autoresearch"
    worktree = harness / "worktrees" / "t"
    worktree.mkdir(parents=True)
    assert Isolation("none").may_write(tree)
    assert Isolation("bwrap", mounts=(("rw", tree),)).may_write(tree)
    assert Isolation("bwrap", mounts=(("rw", harness.parent),)).may_write(tree)
    # The command agent: the repository read-only, `.autoresearch` masked, its worktree
    # writable again: the measurement tree is not reachable.
    agent = Isolation("bwrap", mounts=(("rw", tmp_path), ("ro", harness.parent),
                                       ("mask", harness), ("rw", worktree)))
    assert not agent.may_write(tree)
    assert agent.may_write(worktree)
    assert not Isolation("bwrap", mounts=(("rw", tree), ("ro", harness))).may_write(tree)


def test_the_agents_view_never_counts_as_a_writer_of_the_measurement_tree(
        repo: Path) -> None:
    from app.engine.sandbox import session_sandbox

    paths = find_repo(repo)
    session = paths.session("t")
    tree = _tree(repo, "t")
    tree.ensure(str(pygit2.Repository(str(repo)).head.target))
    sandbox = session_sandbox(wanted="bwrap", network=False, env=(), env_secrets=(),
                              agent_env=(), repo_root=paths.root,
                              common_dir=paths.common_dir, links=())
    session.worktree.mkdir(parents=True, exist_ok=True)
    agent = sandbox.agent(session.worktree)
    tool = sandbox.tool(session.worktree)
    measured = sandbox.measure(tree.path)
    if sandbox.kind == "bwrap":
        assert not agent.may_write(tree.path) and not tool.may_write(tree.path)
    assert measured.may_write(tree.path)


PLANTER = """\
n="$AUTORESEARCH_EXPERIMENT"
if [ "$n" -gt 1 ]; then echo "nothing left"; exit 1; fi
for tree in ../../measure/*/; do echo -1000 > "$tree/nums/zz.txt" 2>/dev/null; done
echo "# a comment" > src/notes.py
echo "DESCRIPTION: a comment (and a number planted in the measurement tree)"
"""


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_file_planted_in_the_measurement_tree_by_the_agent_takes_no_part(
        project: Project, sandbox: str, tmp_path: Path) -> None:
    """Between two measurements of the clean tree, a command agent (without bwrap it can
    reach `.autoresearch/measure/`) writes a number the benchmark sums: the shortcut must
    not skip the scan that removes it, so the comment-only change is discarded."""
    from tests.test_clean_room import assert_not_kept, run, setup_project

    script = tmp_path / "agent.sh"
    script.write_text(PLANTER)
    setup_project(project, sandbox)
    config = (project.root / "autoresearch.toml").read_text()
    config = config.replace('[agent]\nkind = "scripted"\n\n[agent.scripted]\npatches = "patches"',
                            '[agent]\nkind = "command"\nmax_consecutive_errors = 1\n\n'
                            f'[agent.command]\ncommand = "sh {script} {{prompt_file}}"\n'
                            'timeout_s = 30')
    assert 'kind = "command"' in config
    (project.root / "autoresearch.toml").write_text(config)
    project.commit("a command agent")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "discard")
    baseline = next(e for e in engine.experiments if e.n == 0)
    planted = next(e for e in engine.experiments if e.n == 1)
    assert set(planted.samples) == set(baseline.samples), planted.samples
