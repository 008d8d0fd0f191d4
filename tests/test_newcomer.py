"""A newcomer's mistakes and machines: the installed binary in real repositories, with the
environment a first-time user has (no git on PATH, output piped into `head`, ...).

Each answer must be one sentence naming the problem and the fix, exit status 2, no
traceback, and nothing left behind in the user's repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project, git

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "autoresearch-tui"


def cli(cwd: Path, *args: str, path: str | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(EXE), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=timeout)


def path_without_git(tmp_path: Path) -> str:
    """A PATH with python3 and the shell's tools, but no git."""
    folder = tmp_path / "bin-without-git"
    folder.mkdir(exist_ok=True)
    for tool in ("python3", "sh", "bwrap", "env", "cat", "sleep"):
        found = shutil.which(tool)
        if found and not (folder / tool).exists():
            (folder / tool).symlink_to(found)
    assert shutil.which("git", path=str(folder)) is None
    return str(folder)


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_run_without_git_says_git_is_missing(project: Project, tmp_path: Path) -> None:
    # It said "cannot write the session's files (No such file or directory: git); make
    # .git/autoresearch/sessions/TAG a writable folder": the wrong problem and a wrong fix.
    before = project.snapshot_user_state()
    done = cli(project.root, "run", "--headless", "--max-experiments", "1",
               path=path_without_git(tmp_path))
    assert done.returncode == 2
    assert one_sentence(done) == ("autoresearch-tui: git is not installed or not on PATH; "
                                  "install git and try again.")
    assert project.snapshot_user_state() == before
    assert not (project.root / ".git" / "autoresearch" / "sessions").exists()
    assert not (project.root / ".autoresearch").exists()


@pytest.mark.slow
def test_finalize_without_git_says_git_is_missing(project: Project, tmp_path: Path) -> None:
    project.patch("01.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.commit("a patch")
    done = cli(project.root, "run", "--headless", "--tag", "t1")
    assert done.returncode == 0, done.stderr
    branches = project.git("branch", "--list", "autoresearch-final/*")
    done = cli(project.root, "finalize", "--tag", "t1", path=path_without_git(tmp_path))
    assert done.returncode == 2
    assert one_sentence(done).endswith("git is not installed or not on PATH; install git "
                                       "and try again.")
    assert project.git("branch", "--list", "autoresearch-final/*") == branches
    # The dry run needs no git program, and still works.
    done = cli(project.root, "finalize", "--tag", "t1", "--dry-run",
               path=path_without_git(tmp_path))
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_output_piped_into_a_reader_that_has_gone_ends_quietly(project: Project) -> None:
    # `autoresearch-tui sessions | head -1`: once head has gone, the next write gets EPIPE
    # and Python printed a BrokenPipeError traceback. `true` reads nothing and exits at
    # once, long before the program has started up, so every write meets a closed pipe.
    done = cli(project.root, "history", "--import", str(ROOT / "tests" / "data" / "interop" /
                                                         "pi-log-shopify-liquid.jsonl"))
    assert done.returncode == 0, done.stderr
    for args in ("history", "sessions", "--help", "report --help"):
        shell = subprocess.run(f"{EXE} {args} | true; echo status=${{PIPESTATUS[0]}}",
                               shell=True, executable="/bin/bash", cwd=project.root,
                               capture_output=True, text=True, timeout=120)
        assert shell.stderr == "", f"{args}: {shell.stderr}"
        assert shell.stdout.strip() in ("status=0", "status=141"), shell.stdout


@pytest.mark.slow
def test_a_half_made_worktree_left_by_a_full_disk_does_not_stop_the_next_launch(
        project: Project) -> None:
    # On a full disk, `git worktree add` fails after making the worktree's admin folder
    # with an empty `gitdir` (seen on a 3 MB tmpfs). git does not list it, so the failed
    # launch's clean-up left it, and the next launch of that tag died with a traceback:
    # "failed to make directory '.git/worktrees/autoresearch-t1': directory exists".
    admin = project.root / ".git" / "worktrees" / "autoresearch-t1"
    admin.mkdir(parents=True)
    (admin / "commondir").write_text("../..\n")
    (admin / "gitdir").write_text("")
    before = project.snapshot_user_state()
    done = cli(project.root, "run", "--headless", "--tag", "t1")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "#0 baseline" in done.stdout
    assert project.snapshot_user_state() == before
    # And `prune` leaves no admin folder of the session behind.
    done = cli(project.root, "prune", "--tag", "t1", "--yes")
    assert done.returncode == 0, done.stderr
    assert not admin.exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (root only; CI runs as root): a disk that fills up for real."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:  # a permission of the machine, not an install step: skipped
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): "
                    f"{done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_kb: int) -> None:
    (disk / "filler").unlink(missing_ok=True)
    free_kb = shutil.disk_usage(disk).free // 1024
    with (disk / "filler").open("wb") as handle:
        try:
            handle.write(b"\0" * max(0, free_kb - leave_kb) * 1024)
        except OSError:
            pass


def clone_onto(project: Project, disk: Path) -> Path:
    """The project with one patch to try, cloned onto `disk` (the tiny one)."""
    project.patch("01.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.commit("a patch")
    repo = disk / "repo"
    git(project.root, "clone", "-q", str(project.root), str(repo))
    return repo


@pytest.mark.slow
def test_a_full_disk_at_launch_is_one_sentence_and_the_next_launch_works(
        project: Project, tiny_disk: Path) -> None:
    # It said "make .git/autoresearch/sessions/TAG a writable folder", the wrong fix for a
    # disk that is full, and its clean-up left a half-made worktree that broke the next
    # launch (the test above).
    repo = clone_onto(project, tiny_disk)
    before = (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"))
    for leave_kb in (60, 20, 4):
        fill(tiny_disk, leave_kb)
        done = cli(repo, "run", "--headless", "--tag", "t1")
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode != 0:
            assert done.returncode == 2, done.stderr
            assert "the disk is full" in one_sentence(done)
            assert not (repo / ".git" / "autoresearch" / "sessions" / "t1").exists()
    (tiny_disk / "filler").unlink()
    done = cli(repo, "run", "--headless", "--tag", "t1")
    assert done.returncode == 0, done.stderr
    assert "#0 baseline" in done.stdout
    assert (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")) == before


@pytest.mark.slow
def test_a_command_agent_without_its_program_file_is_refused(project: Project,
                                                             tmp_path: Path) -> None:
    # A typo in `[agent] program` (or the file never written) had the agent work with no
    # goal, scope or ideas, silently, for as long as the budget lasted.
    project.use_script_agent(tmp_path / "agent.sh", "echo 'DESCRIPTION: nothing'\n")
    text = (project.root / "autoresearch.toml").read_text()
    text = text.replace('[agent]\nkind = "command"',
                        '[agent]\nkind = "command"\nprogram = "autoresearch.MD"')
    (project.root / "autoresearch.toml").write_text(text)
    project.commit("a typo in the program's name")
    before = project.snapshot_user_state()
    done = cli(project.root, "run", "--headless", "--max-experiments", "1")
    assert done.returncode == 2
    assert one_sentence(done) == (
        "autoresearch-tui: `agent.program` is 'autoresearch.MD', which does not exist; write "
        "the agent's goal and ideas there (`autoresearch-tui init` writes one) or fix the "
        "path.")
    assert project.snapshot_user_state() == before
    assert not (project.root / ".git" / "autoresearch" / "sessions").exists()
    # Named right, the same agent runs.
    (project.root / "autoresearch.toml").write_text(text.replace("autoresearch.MD",
                                                                 "autoresearch.md"))
    project.commit("the program's name fixed")
    done = cli(project.root, "run", "--headless", "--max-experiments", "1")
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_disk_that_fills_during_a_session_stops_it_cleanly_and_it_resumes(
        project: Project, tiny_disk: Path, tmp_path: Path) -> None:
    # The night's disk fills up (the agent's build, a log elsewhere): pygit2 failed to write
    # the candidate's index and the session died with a GitError traceback, exit 1.
    filler, marker = tiny_disk / "filler", tiny_disk / "filled-once"
    project.use_script_agent(tmp_path / "agent.sh", (
        f"if [ ! -e {marker} ]; then touch {marker}; "
        f"head -c 20000000 /dev/zero > {filler} 2>/dev/null; fi\n"
        "echo 10 > nums/a.txt\necho 'DESCRIPTION: shrink a'\n"))
    text = (project.root / "autoresearch.toml").read_text()
    (project.root / "autoresearch.toml").write_text(text + '\n[session]\nsandbox = "none"\n')
    project.commit("no sandbox: the agent can fill the disk")
    repo = tiny_disk / "repo"
    git(project.root, "clone", "-q", str(project.root), str(repo))
    before = (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"))
    done = cli(repo, "run", "--headless", "--tag", "t1", "--max-experiments", "2")
    assert done.returncode == 3, done.stdout + done.stderr
    sentence = one_sentence(done)
    assert "No space left on device" in sentence and "launch again to resume" in sentence
    assert "#0 baseline" in done.stdout
    filler.unlink()
    done = cli(repo, "run", "--headless", "--tag", "t1", "--max-experiments", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    log = (repo / ".git" / "autoresearch" / "sessions" / "t1" / "log.jsonl").read_text()
    numbers = [json.loads(line)["n"] for line in log.splitlines()
               if json.loads(line).get("type") == "experiment"]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0, numbers
    assert (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")) == before


@pytest.mark.slow
def test_commands_that_write_on_a_read_only_or_full_disk_are_one_sentence(
        project: Project, tiny_disk: Path) -> None:
    # report, instruct, history --export and --import died with an OSError traceback on a
    # read-only file system (a checkout on a read-only mount, a backup being browsed).
    repo = clone_onto(project, tiny_disk)
    done = cli(repo, "run", "--headless", "--tag", "t1")
    assert done.returncode == 0, done.stderr
    state = repo / ".git" / "autoresearch" / "sessions" / "t1"
    before = sorted(p.name for p in state.iterdir())
    liquid = str(ROOT / "tests" / "data" / "interop" / "pi-log-shopify-liquid.jsonl")
    writers = [["report"], ["instruct", "--tag", "t1", "try the cache"],
               ["history", "--export", "r.tsv"], ["history", "--import", liquid]]
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    try:
        for args in writers:
            done = cli(repo, *args)
            assert done.returncode == 2, (args, done.stderr)
            sentence = one_sentence(done)
            assert "(Read-only file system); make it writable" in sentence, sentence
            assert ".tmp" not in sentence and "staging" not in sentence, sentence
        # Reading still works.
        assert cli(repo, "history").returncode == 0
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_disk)], check=True)
    fill(tiny_disk, 0)
    for args in writers[:1] + writers[2:]:
        done = cli(repo, *args)
        assert done.returncode == 2, (args, done.stderr)
        sentence = one_sentence(done)
        assert "the disk is full: cannot write" in sentence, sentence
        assert sentence.endswith("free some space on it and try again."), sentence
        if args[0] == "report":
            assert f"cannot write in {state};" in sentence, sentence
    # Nothing half-written: no temporary file, no staging folder, no new file.
    assert sorted(p.name for p in state.iterdir()) == before
    assert sorted(p.name for p in state.parent.iterdir()) == ["t1"]
    assert not (repo / "r.tsv").exists() and not list(repo.glob(".r.tsv*"))


@pytest.mark.slow
def test_a_baseline_that_times_out_names_the_timeout_to_raise(project: Project) -> None:
    # It said "fix `metric.command` so that it prints a number. Last output:" and nothing
    # after: the wrong fix for a benchmark that needs longer, and an output that seemed lost.
    project.write("hang", "")
    project.config(timeout_s=2)
    project.commit("a benchmark slower than its timeout")
    before = project.snapshot_user_state()
    done = cli(project.root, "run", "--headless", "--max-experiments", "1")
    assert done.returncode == 2, done.stderr
    assert one_sentence(done) == (
        "autoresearch-tui: the benchmark fails on the unchanged code (benchmark timed out "
        "after 2 s); fix `metric.timeout_s` (2 s), or make one run shorter. It printed "
        "nothing.")
    assert project.snapshot_user_state() == before
    sessions = project.root / ".git" / "autoresearch" / "sessions"
    assert not sessions.exists() or not any(sessions.iterdir()), list(sessions.rglob("*"))


@pytest.mark.slow
def test_shell_builtins_and_subshells_are_not_missing_programs(project: Project) -> None:
    # `exit 1` was "runs 'exit', which is not found on PATH", and `(cd src; make)` was
    # "runs '(cd'": both refused before the session started, though `sh -c` runs them.
    project.patch("01.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.config(command="ulimit -n 512; python3 bench.py")
    text = (project.root / "autoresearch.toml").read_text().replace(
        'command = "python3 check.py"', 'command = "(cd src; python3 ../check.py); exit $?"')
    (project.root / "autoresearch.toml").write_text(text)
    project.commit("commands with shell builtins and a subshell")
    done = cli(project.root, "run", "--headless", "--max-experiments", "1")
    assert done.returncode == 0, done.stderr
    assert "#0 baseline 50" in done.stdout and "checks pass" in done.stdout
    # A program that is really missing, in a subshell, is still named before anything starts.
    (project.root / "autoresearch.toml").write_text(
        text.replace("(cd src; python3 ../check.py)", "(nosuchprogram --check)"))
    project.commit("a missing program in a subshell")
    done = cli(project.root, "run", "--headless", "--new")
    assert done.returncode == 2
    assert one_sentence(done) == ("autoresearch-tui: `checks.command` runs 'nosuchprogram', "
                                  "which is not found on PATH; install it or fix the command.")


@pytest.mark.slow
def test_a_setup_that_fails_silently_says_it_printed_nothing(project: Project) -> None:
    text = (project.root / "autoresearch.toml").read_text()
    (project.root / "autoresearch.toml").write_text(text + '\n[session]\nsetup = "exit 3"\n')
    project.commit("a setup that fails without a word")
    done = cli(project.root, "run", "--headless")
    assert done.returncode == 2
    assert one_sentence(done) == ("autoresearch-tui: `session.setup` failed in the new "
                                  "worktree (exit status 3); fix the command. It printed "
                                  "nothing.")


@pytest.mark.slow
def test_checks_that_find_no_tests_say_so(project: Project) -> None:
    # The example config's `python3 -m pytest -q` in a repository without tests: pytest
    # exits 5 and the answer was "fix the tests or `checks.command`", with no tests to fix.
    project.git("rm", "-q", "-r", "tests")
    text = (project.root / "autoresearch.toml").read_text()
    (project.root / "autoresearch.toml").write_text(
        text.replace('command = "python3 check.py"',
                     'command = "python3 -m pytest -q -p no:cacheprovider"'))
    project.commit("no tests, the example's checks")
    done = cli(project.root, "run", "--headless")
    assert done.returncode == 2
    first = done.stderr.splitlines()[0]
    assert first == ("autoresearch-tui: the checks fail on the unchanged code (exit status 5); "
                     "`checks.command` found no tests: point it at them, or remove [checks] "
                     "to run none. Last output:")
    assert "no tests ran" in done.stderr and "Traceback" not in done.stderr
