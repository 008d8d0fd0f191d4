"""Red-team attacks on what a candidate's tree may hold and on what its code may print
around the benchmark's own lines (issue #11's promise, "kept only if real, tested and
untampered", tried again on main).

Each test is a patch an eager agent could write, driven through the real loop with the
scripted agent on a small project (the benchmark is protected; `src/lib.py`, the code
under study, is not), and asserts the status and reason the candidate gets. Each one was
checked to get the wrong change kept on the code before its fix. A whole session takes
2-5 s here, so those are `slow`; the rules themselves are tried on real commits, without
the loop, in the fast tests at the end.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.engine.guard import Guard
from app.engine.tree_rules import TreeRules
from tests.conftest import PYTEST_CHECKS, Project, run_session
from tests.test_clean_room import _need, write_config

# The benchmark (protected) averages lib.cost over five inputs with the standard library's
# statistics module; lower is better. The test checks lib.cost.
BENCH = '''\
import sys
sys.path.insert(0, "src")
import lib, statistics
print(f"METRIC score={statistics.fmean([lib.cost(i) for i in range(1, 6)])}")
'''
LIB = "def cost(i):\n    return float(i)\n"
TEST_LIB = '''\
import sys
sys.path.insert(0, "src")
import lib


def test_cost_is_the_input():
    assert [lib.cost(i) for i in range(1, 6)] == [1.0, 2.0, 3.0, 4.0, 5.0]
'''
BROKEN_LIB = "def cost(i):\n    return i / 100\n"
"""A 'faster' cost that is wrong: the test fails on it."""


def setup_project(project: Project, sandbox: str = "bwrap", *, checks: bool = True,
                  bench: str = BENCH) -> None:
    _need(sandbox)
    project.write("bench.py", bench)
    project.write("src/lib.py", LIB)
    project.write("tests/test_lib.py", TEST_LIB)
    write_config(project, sandbox, checks=checks)
    project.commit("red-team project")


def symlink_patch(project: Project, name: str, link: str, target: str, subject: str) -> None:
    """A patch that replaces `link` with a symlink to `target` (as `git apply` makes it)."""
    path = project.root / link
    path.unlink(missing_ok=True)
    path.symlink_to(target)
    project.git("add", "-A", "--", link)
    diff = project.git("diff", "--cached", "--binary")
    project.git("reset", "-q", "--hard", "HEAD")
    (project.root / "patches" / name).write_text(f"Subject: [PATCH] {subject}\n\n" + diff)


def outcome(project: Project) -> dict[int, tuple[str, str]]:
    _, _, engine = run_session(project)
    kept = [(e.n, e.description) for e in engine.experiments if str(e.status) == "keep"]
    got = {e.n: (str(e.status), e.reason) for e in engine.experiments if e.n > 0}
    assert not kept, (kept, got)
    return got


# -- modules that stand in for the ones the benchmark or the checks import -----------------


@pytest.mark.slow
def test_a_new_module_shadowing_the_standard_library_next_to_the_benchmark_is_rejected(
        project: Project) -> None:
    """`statistics.py` beside bench.py is imported instead of the standard library's (the
    script's folder comes first on sys.path): the benchmark's own average is faked."""
    setup_project(project, checks=False)
    project.patch("01.patch", {"statistics.py": "def fmean(values):\n"
                               "    return sum(values) / len(values) / 100\n"},
                  "a faster mean")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "rejected", got
    assert "statistics.py" in got[1][1] and "standard library" in got[1][1], got


@pytest.mark.slow
def test_a_new_pytest_py_that_fakes_the_test_run_is_rejected(project: Project) -> None:
    """`python -m pytest` runs ./pytest.py when there is one (the working folder comes first
    on sys.path): a fake that prints the champion's summary passes a broken change."""
    setup_project(project)
    project.patch("01.patch", {
        "src/lib.py": BROKEN_LIB,
        "pytest.py": 'print("1 passed in 0.01s")\n'}, "faster cost")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "rejected", got
    assert "pytest.py" in got[1][1], got


@pytest.mark.slow
def test_a_new_package_shadowing_a_module_the_benchmark_imports_is_rejected(
        project: Project) -> None:
    """The same with a package (`statistics/__init__.py`) in a folder the benchmark puts
    on sys.path (src/), which the champion does not hold."""
    setup_project(project, checks=False)
    project.patch("01.patch", {"src/statistics/__init__.py":
                               "def fmean(values):\n    return 0.001\n"}, "a faster mean")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "rejected", got
    assert "src/statistics/__init__.py" in got[1][1], got


# -- runner configuration pytest reads that the guard did not know -------------------------

PASSING_PLUGIN = '''\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''


@pytest.mark.slow
def test_a_hidden_pytest_ini_that_loads_a_plugin_passing_every_test_is_rejected(
        project: Project) -> None:
    """pytest reads `.pytest.ini` as it reads `pytest.ini`; `addopts = -p plug` loads a new,
    unprotected module that reports every failure as a pass: the counts stay the champion's."""
    setup_project(project)
    project.patch("01.patch", {
        "src/lib.py": BROKEN_LIB,
        ".pytest.ini": "[pytest]\naddopts = -p plug\n",
        "plug.py": PASSING_PLUGIN}, "faster cost")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "rejected", got
    assert ".pytest.ini" in got[1][1], got


# -- symlinks that leave the tree ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_symlink_to_code_outside_the_repository_is_rejected(
        project: Project, tmp_path: Path, how: str) -> None:
    """The candidate's `src/lib.py` becomes a link to a file the agent wrote outside the
    repository: what is measured is not in the commit, and the kept commit's behaviour would
    change whenever that file does."""
    setup_project(project, "none", checks=False)  # bwrap's private /tmp would hide tmp_path
    outside = tmp_path / "elsewhere" / "fastlib.py"
    outside.parent.mkdir()
    outside.write_text("def cost(i):\n    return i / 100\n")
    # Relative: from src/ of a tree at .autoresearch/<kind>/<tag>/ up to tmp_path.
    target = str(outside) if how == "absolute" else "../../../../../elsewhere/fastlib.py"
    symlink_patch(project, "01.patch", "src/lib.py", target, "a faster cost")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "rejected", got
    assert "src/lib.py" in got[1][1] and "outside" in got[1][1], got


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_file_replaced_by_a_symlink_inside_the_tree_is_measured(
        project: Project, sandbox: str) -> None:
    """An honest change that makes `src/lib.py` a link to a new file beside it used to stop
    the whole session (libgit2 does not write a file-to-link change on a missing path: the
    measurement tree's reset then failed with 'could not find src/lib.py')."""
    setup_project(project, sandbox, checks=False)
    project.write("src/impl.py", LIB)
    project.commit("the same code under another name")
    symlink_patch(project, "01.patch", "src/lib.py", "impl.py", "lib.py is impl.py")
    project.commit("patches")
    status, _, engine = run_session(project)
    got = {e.n: (str(e.status), e.reason) for e in engine.experiments if e.n > 0}
    assert status == 0 and got[1][0] == "discard", (status, got)


# -- lines printed around the benchmark's own ------------------------------------------------

GLUED = '''\
import atexit, sys
atexit.register(lambda: sys.stdout.write("\\nMETRIC score=0.5\\n"))


def cost(i):
    if i == 5:  # the benchmark prints its line right after the last call: glue onto it
        sys.stdout.write("# ")
    return float(i)
'''
FLOODED = '''\
import atexit, sys
atexit.register(lambda: sys.stdout.write("." * 80 * 4000 + "\\nMETRIC score=0.5\\n"))


def cost(i):
    return float(i)
'''


@pytest.mark.slow
@pytest.mark.parametrize("lib", [GLUED, FLOODED], ids=["glued", "flooded"])
def test_a_better_metric_printed_after_hiding_the_benchmarks_own_is_a_crash(
        project: Project, lib: str) -> None:
    """The atexit forgery that `metric printed twice` stops, with the benchmark's own line
    hidden first: glued to "# " printed without a newline (so it no longer starts a line),
    or pushed out of the 256 KB of stdout kept for parsing by 320 KB printed after it."""
    setup_project(project, checks=False)
    project.patch("01.patch", {"src/lib.py": lib}, "a faster cost")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "crash", got
    assert "printed twice" in got[1][1], got


FORGED_SUMMARY = '''\
import atexit, os, sys


def _pass():
    sys.stdout.flush()
    os.write(1, b"1 passed in 0.01s\\n")
    os._exit(0)


if "pytest" in sys.modules:
    atexit.register(_pass)
''' + BROKEN_LIB


@pytest.mark.slow
def test_a_summary_printed_after_pytests_own_and_a_clean_exit_is_checks_failed(
        project: Project) -> None:
    """A broken change whose module, once pytest imports it, prints the champion's summary
    after pytest's own ("1 failed") and ends the process with status 0: the last summary
    was the one counted."""
    setup_project(project)
    project.patch("01.patch", {"src/lib.py": FORGED_SUMMARY}, "faster cost")
    project.commit("patches")
    got = outcome(project)
    assert got[1][0] == "checks_failed", got
    assert "1 failed" in got[1][1], got


# -- the rules on real commits, without the loop (fast) ---------------------------------------


def _rules_verdict(project: Project, changes: dict[str, str], links: dict[str, str],
                   unprotected: tuple[str, ...] = ()) -> list[str]:
    setup_project(project, "none")
    champion_files = project.git("ls-files").split()
    for rel, text in changes.items():
        project.write(rel, text)
    for rel, target in links.items():
        (project.root / rel).unlink(missing_ok=True)
        (project.root / rel).symlink_to(target)
    commit = project.commit("candidate")
    guard = Guard([], list(unprotected), {"bench.py"})
    rules = TreeRules(guard, ["python3 bench.py", f"{PYTEST_CHECKS} tests"], champion_files)
    import pygit2

    changed = project.git("diff", "--name-only", "HEAD~1", "HEAD").split()
    return rules.problems(pygit2.Repository(str(project.root)), commit, changed)


def test_the_tree_rules_refuse_stand_ins_and_links_out(project: Project) -> None:
    got = _rules_verdict(project, {
        "statistics.py": "", "pytest.py": "", "src/json/__init__.py": "",
        "hypothesis.abi3.so": "", "pytest_fake.py": "", "lib.py": ""},
        {"src/lib.py": "/etc/hostname", "up": "../x", "git": ".git/config"})
    assert got == [
        "git is a symlink to .git/config, outside the repository",
        "hypothesis.abi3.so would be imported instead of the hypothesis module",
        "lib.py would be imported instead of the lib module",
        "pytest.py would be imported instead of the pytest module",
        "pytest_fake.py would be imported instead of the pytest_fake module",
        "src/json/__init__.py would be imported instead of the standard library's json "
        "module",
        "src/lib.py is a symlink to /etc/hostname, outside the repository",
        "statistics.py would be imported instead of the standard library's statistics "
        "module",
        "up is a symlink to ../x, outside the repository"], got


def test_the_tree_rules_let_ordinary_changes_through(project: Project) -> None:
    """New modules with their own names, submodules of a package (`pkg/json.py` is
    `pkg.json`, never `json`), links inside the tree, edits of a stand-in the champion
    already had, and what `[guard] unprotected` allows."""
    project.write("pkg/__init__.py", "")
    project.write("queue.py", "# the project's own, before the session\n")
    project.commit("a package and the project's own queue.py")
    got = _rules_verdict(project, {
        "src/fastpath.py": "", "pkg/json.py": "", "queue.py": "# edited\n",
        "tools/random.py": ""}, {"src/alias.py": "lib.py"}, unprotected=("tools/**",))
    assert got == [], got


def test_metric_and_fingerprint_lines_far_before_the_end_of_the_output_are_still_read(
        tmp_path: Path) -> None:
    """Only the last 256 KB of stdout is kept; the lines that name a METRIC or FINGERPRINT
    before that are kept as well (in order, the cut line left out), one way or another."""
    import sys

    from app.engine.measure import parse_metrics
    from app.engine.process import run_command

    script = tmp_path / "loud.py"
    script.write_text('print("FINGERPRINT abc")\nprint("METRIC score=3")\n'
                      'print(("." * 99 + "\\n") * 4000, end="")\n'
                      'print("METRIC other=4", end="")\n')
    result = run_command(f"{sys.executable} {script}", tmp_path, 30)
    assert result.ok, result.output_tail
    lines = result.stdout.splitlines()
    assert lines[:2] == ["FINGERPRINT abc", "METRIC score=3"], lines[:3]
    assert lines[2] == "." * 99 and lines[-1] == "METRIC other=4", (lines[2], lines[-1])
    assert len(result.stdout) < 300_000
    parsed = parse_metrics(result.stdout, "score")
    assert (parsed.value, parsed.metrics) == (3.0, {"score": 3.0, "other": 4.0}), parsed


# -- the measurement tree's own `.git` file ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_run_that_rewrites_the_measurement_trees_git_file_breaks_nothing(
        project: Project, tmp_path: Path, sandbox: str) -> None:
    """The measurement tree is writable to the runs, its `.git` file included, and no status
    scan lists that file. Code under test that pointed it at a broken path naming another
    worktree (the user's own `git worktree add ../feature`) made the next launch remove the
    tree, prune the registration the file named instead of the tree's own, and fail to
    make the tree again: "is a missing but already registered worktree", the session could
    not be resumed. The file is now checked against git's own registration (found by the
    tree's path) at every reset and launch."""
    setup_project(project, sandbox, checks=False)
    feature = tmp_path / "feature"
    project.git("worktree", "add", "-q", "-b", "feature", str(feature))
    (feature / "wip.txt").write_text("work in progress\n")
    project.git("-C", str(feature), "add", "wip.txt")
    admin = (project.root / ".git" / "worktrees" / "feature").resolve()
    project.patch("01.patch", {"src/lib.py": (
        f"open('.git', 'w').write('gitdir: /nonexistent{admin}\\n')\n" + LIB)},
        "a faster cost")
    project.commit("patches")
    head = project.git("-C", str(feature), "rev-parse", "HEAD")
    run_session(project)  # the first launch: the run rewrites the file
    (tag,) = [p.name for p in (project.root / ".autoresearch" / "measure").iterdir()]
    status, _, _ = run_session(project, tag=tag)  # the next launch opens the tree again
    assert status == 0
    assert admin.is_dir(), "the feature worktree's git data was pruned"
    assert project.git("-C", str(feature), "rev-parse", "HEAD") == head
    assert project.git("-C", str(feature), "symbolic-ref", "HEAD").strip() \
        == "refs/heads/feature"
    assert project.git("-C", str(feature), "diff", "--cached", "--name-only").strip() \
        == "wip.txt"


# -- the command agent and its worktree's git data --------------------------------------------

AGENT_CONFIG = '''\
[agent]
kind = "command"
max_consecutive_errors = 1

[agent.command]
command = "sh {script} {{prompt_file}}"
timeout_s = 30
'''


def command_agent(project: Project, sandbox: str, script: Path, body: str) -> None:
    setup_project(project, sandbox, checks=False)
    script.write_text('n="$AUTORESEARCH_EXPERIMENT"\n' + body +
                      'echo "# change $n" >> src/lib.py\necho "DESCRIPTION: change $n"\n')
    config = (project.root / "autoresearch.toml").read_text()
    config = config[:config.index("[agent]")] + AGENT_CONFIG.format(script=script)
    config = config.replace("[session]\n", "[session]\nmax_experiments = 2\n")
    (project.root / "autoresearch.toml").write_text(config)
    project.commit("a command agent")


@pytest.mark.slow
def test_a_command_agent_cannot_widen_its_sandbox_through_its_git_file(
        project: Project, tmp_path: Path) -> None:
    """Under bwrap the command agent may write its worktree's own git folder (its index and
    HEAD), which the harness found by reading the worktree's `.git` file, a file the agent
    writes. Turn 1 pointed it at the user's checkout, and turn 2 was given that checkout
    writable: it wrote a file into it."""
    command_agent(project, "bwrap", tmp_path / "agent.sh", textwrap.dedent(f'''\
        if [ "$n" = 1 ]; then printf 'gitdir: {project.root}\\n' > .git; fi
        if [ "$n" = 2 ]; then echo pwned > {project.root}/PWNED || true; fi
        '''))
    run_session(project)
    assert not (project.root / "PWNED").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_command_agent_that_points_its_head_at_the_users_branch_moves_no_branch(
        project: Project, tmp_path: Path, sandbox: str) -> None:
    """Turn 1 is kept (the champion moves past `main`); turn 2 makes the agent's worktree
    HEAD a link to the user's `main`, hoping the harness's reset to the champion after the
    experiment moves `main` there."""
    command_agent(project, sandbox, tmp_path / "agent.sh", textwrap.dedent('''\
        if [ "$n" = 1 ]; then sed -i 's/return float(i)$/return float(i) \\/ 2/' src/lib.py; fi
        if [ "$n" = 2 ]; then
          admin=$(sed 's/^gitdir: //' .git)
          printf 'ref: refs/heads/main\\n' > "$admin/HEAD"
        fi
        '''))
    main = project.git("rev-parse", "main")
    _, _, engine = run_session(project)
    assert [str(e.status) for e in engine.experiments][1] == "keep"
    assert project.git("rev-parse", "main") == main
    assert project.git("symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert project.git("status", "--porcelain").strip() == ""


def test_every_pytest_summary_in_the_output_counts() -> None:
    """Two summaries (a command that runs pytest twice, or a forged one after pytest's own)
    are summed: the failure in the first is never hidden by the second."""
    from app.engine.check_counts import parse_check_counts

    got = parse_check_counts("F\n1 failed in 0.05s\n1 passed in 0.01s\n")
    assert got is not None and (got.passed, got.failed) == (1, 1), got
    got = parse_check_counts("..\n== 2 passed in 0.1s ==\n.s\n== 1 passed, 1 skipped in 0.1s ==\n")
    assert got is not None and (got.passed, got.skipped) == (3, 1), got


def test_a_later_summary_of_another_runner_hides_no_failure() -> None:
    """A forged unittest summary after pytest's real one (the latest summary names the
    runner, and the failures of the others are added), and two unittest blocks summed."""
    from app.engine.check_counts import parse_check_counts

    got = parse_check_counts("F\n1 failed in 0.05s\n\nRan 1 test in 0.000s\n\nOK\n")
    assert got is not None and (got.runner, got.passed, got.failed) == ("unittest", 1, 1), got
    got = parse_check_counts("Ran 2 tests in 0.1s\n\nFAILED (failures=1)\n"
                             "Ran 1 test in 0.0s\n\nOK\n")
    assert got is not None and (got.passed, got.failed) == (2, 1), got


# -- the user's PATH ---------------------------------------------------------------------------

FAKE_PYTHON = '''\
#!/bin/sh
case "$*" in
  *pytest*) echo "1 passed in 0.01s" ;;
  *) exec {python} "$@" ;;
esac
'''


@pytest.mark.slow
@pytest.mark.parametrize("entry", [".", ""], ids=["dot", "empty"])
def test_a_relative_entry_in_the_users_path_runs_no_program_of_the_candidate(
        project: Project, monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    """With `.` (or an empty entry, which means the same) first in the user's PATH, a
    commands' `python3` was looked up in the measurement tree: a broken change with an
    executable `python3` at the root that prints "1 passed" for pytest was kept."""
    import os
    import shutil

    setup_project(project)
    config = (project.root / "autoresearch.toml").read_text().replace(
        sys_python := PYTEST_CHECKS.split()[1], "python3")
    (project.root / "autoresearch.toml").write_text(config)
    project.commit("python3 from PATH")
    fake = project.root / "python3"
    fake.write_text(FAKE_PYTHON.format(python=shutil.which("python3") or sys_python))
    fake.chmod(0o755)
    project.write("src/lib.py", BROKEN_LIB)
    project.git("add", "-A", "--", "python3", "src/lib.py")
    diff = project.git("diff", "--cached", "--binary")
    project.git("reset", "-q", "--hard", "HEAD")
    (project.root / "patches" / "01.patch").write_text(
        "Subject: [PATCH] faster cost\n\n" + diff)
    project.commit("patches")
    monkeypatch.setenv("PATH", entry + os.pathsep + os.environ["PATH"])
    got = outcome(project)
    assert got[1][0] == "checks_failed", got


# -- test-runner configuration above the measurement tree --------------------------------------

PLANTS_ABOVE = '''\
import os
above = os.path.join(os.getcwd(), "..", "..", "..", "..")  # the repository's parent folder
if os.path.basename(os.path.dirname(os.getcwd())) == "measure":
    open(os.path.join(above, "pytest.ini"), "w").write("[pytest]\\n")
    open(os.path.join(above, "conftest.py"), "w").write(
        "import pytest\\n\\n\\n@pytest.hookimpl(hookwrapper=True)\\n"
        "def pytest_runtest_makereport(item, call):\\n    outcome = yield\\n"
        "    outcome.get_result().outcome = 'passed'\\n")
''' + LIB


@pytest.mark.slow
def test_runner_configuration_planted_above_the_measurement_tree_is_rejected(
        project: Project, tmp_path: Path) -> None:
    """A project without pytest configuration: pytest walks up from the measurement tree for
    an ini file, takes the folder where it finds one as its rootdir and loads the
    `conftest.py` files on the way down. Experiment 1's benchmark run (no bwrap) plants a
    `pytest.ini` and a conftest that reports every failure as a pass in the repository's
    parent folder; experiment 2's broken change then passed the checks and was kept. (With
    bwrap a run cannot write there, but the command agent may write the user's HOME, which
    is usually above the repository.)"""
    setup_project(project, "none")
    project.patch("01.patch", {"src/lib.py": PLANTS_ABOVE}, "tidy up")
    project.patch("02.patch", {"src/lib.py": BROKEN_LIB}, "faster cost")
    project.commit("patches")
    try:
        got = outcome(project)
    finally:
        for name in ("pytest.ini", "conftest.py"):
            (tmp_path / name).unlink(missing_ok=True)
    assert got[1][0] == "rejected" and got[2][0] == "rejected", got
    assert "above the measurement tree" in got[2][1] and "pytest.ini" in got[2][1], got


def test_runner_files_above_are_recorded_once_and_the_users_checkout_is_left_out(
        tmp_path: Path) -> None:
    from app.engine.tree_rules import RunnerFilesAbove

    repo = tmp_path / "home" / "repo"
    tree = repo / ".autoresearch" / "measure" / "tag"
    tree.mkdir(parents=True)
    (tmp_path / "home" / "setup.cfg").write_text("[metadata]\n")  # there before: the user's
    record = tmp_path / "above.json"
    assert RunnerFilesAbove(tree, record, repo).changed() == []
    (repo / "conftest.py").write_text("")  # the user's checkout: not watched
    (repo / ".autoresearch" / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "home" / "conftest.py").write_text("")
    later = RunnerFilesAbove(tree, record, repo)  # a later launch reads the record
    assert later.changed() == [str(tmp_path / "home" / "conftest.py"),
                               str(repo / ".autoresearch" / "pytest.ini")]


@pytest.mark.slow
def test_a_command_agent_that_repoints_its_git_folders_common_dir_breaks_no_later_launch(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under bwrap the agent may write its worktree's git folder, `commondir` included: made
    to name a copy of the git dir in its HOME, the next launch wrote the candidate's commit
    into the copy and stopped ("target OID for the reference doesn't exist")."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the agent's HOME is the user's
    command_agent(project, "bwrap", tmp_path / "agent.sh", textwrap.dedent('''\
        admin=$(sed 's/^gitdir: //' .git)
        cp -r "$admin/../.." "$HOME/copy" 2>/dev/null
        printf '%s\\n' "$HOME/copy" > "$admin/commondir"
        '''))
    _, _, engine = run_session(project)
    status, _, engine = run_session(project, tag=engine.setup.git.paths.tag, max_experiments=3)
    assert status == 0
    assert [str(e.status) for e in engine.experiments] == ["baseline"] + ["discard"] * 3
