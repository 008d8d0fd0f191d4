"""`autoresearch-tui init` as a new user meets it: small real repos in Python, Node and Go.

The command runs as the installed binary without a terminal, so it takes flags. A tool
that a test needs (node, go) may be missing on a laptop: the test skips there, but fails
under CI=true, where `.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.config import load_config
from app.errors import UsageError
from app.onboard import (
    InitAnswers,
    detect_project,
    guess_unit,
    render_config,
    render_program,
    trial_run,
    validate_answers,
    validate_metric_name,
    write_and_commit,
)
from tests.conftest import PYTEST_CHECKS, init_repo

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "autoresearch-tui"
PY_BENCH = ("import time\nfrom mod import work\nstart = time.perf_counter()\nwork()\n"
            "print('warming up')\n"
            "print(f'METRIC time_ms={(time.perf_counter() - start) * 1000:.3f}')\n"
            "print('METRIC peak_kb=12')\n")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is required under CI (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def make_repo(path: Path, files: dict[str, str]) -> Path:
    init_repo(path)
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def python_repo(path: Path) -> Path:
    return make_repo(path, {
        "mod.py": "def work():\n    return sum(i * i for i in range(20000))\n",
        "tests/test_mod.py": "from mod import work\n\n\ndef test_work():\n"
                             "    assert work() > 0\n",
        "bench.py": PY_BENCH,
    })


def node_repo(path: Path) -> Path:
    return make_repo(path, {
        "package.json": json.dumps({"name": "demo", "version": "1.0.0",
                                    "scripts": {"test": "node test.js"}}),
        "lib.js": "exports.work = () => { let s = 0; for (let i = 0; i < 1e5; i++) s += i; "
                  "return s; };\n",
        "test.js": "const assert = require('assert');\nassert.ok(require('./lib').work() > 0);\n",
        "bench.js": "const { work } = require('./lib');\nconst t = Date.now();\nwork();\n"
                    "console.log('running');\nconsole.log(`${1000 / (Date.now() - t + 1)} "
                    "ops/s`);\n",
    })


def go_repo(path: Path) -> Path:
    return make_repo(path, {
        "go.mod": "module example.com/demo\n\ngo 1.18\n",
        "demo.go": "package demo\n\nfunc Work() int {\n\ts := 0\n\tfor i := 0; i < 100000; "
                   "i++ {\n\t\ts += i\n\t}\n\treturn s\n}\n",
        "demo_test.go": "package demo\n\nimport \"testing\"\n\nfunc TestWork(t *testing.T) "
                        "{\n\tif Work() <= 0 {\n\t\tt.Fatal(\"no work\")\n\t}\n}\n",
        "bench/main.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"time\"\n\n\t"
                         "\"example.com/demo\"\n)\n\nfunc main() {\n\tstart := time.Now()\n"
                         "\tdemo.Work()\n\tfmt.Printf(\"METRIC time_us=%d\\n\", "
                         "time.Since(start).Microseconds())\n}\n",
    })


def init(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "init", *args], cwd=repo, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)


def run_one(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "run", "--headless", "--max-experiments", "1"],
                          cwd=repo, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=600)


def assert_committed(repo: Path) -> None:
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == ["autoresearch.md", "autoresearch.toml"]
    assert "autoresearch" not in git(repo, "status", "--porcelain")


def assert_untouched(repo: Path, head: str) -> None:
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert not (repo / "autoresearch.toml").exists()
    assert not (repo / "autoresearch.md").exists()
    assert not [p for p in repo.iterdir() if p.name.endswith(".tmp")]
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # the scratch one is gone


# ---------------------------------------------------------------------------------------
# Detection


@pytest.mark.parametrize(("files", "language", "checks"), [
    ({"tests/test_x.py": ""}, "python", "python3 -m pytest -q"),
    ({"pyproject.toml": "[tool.pytest.ini_options]\n"}, "python", "python3 -m pytest -q"),
    ({"package.json": '{"scripts": {"test": "jest"}}'}, "node", "npm test"),
    ({"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'},
     "node", None),
    ({"Cargo.toml": "[package]\n"}, "rust", "cargo test"),
    ({"go.mod": "module x\n"}, "go", "go test ./..."),
    ({"Makefile": "build:\n\ttrue\ntest: build\n\ttrue\n"}, "make", "make test"),
    ({"Makefile": "build:\n\ttrue\n"}, None, None),
    ({"README": "hi"}, None, None),
    # Tests deeper down, where pytest at the root finds them too.
    ({"test/test_x.py": ""}, "python", "python3 -m pytest -q"),
    ({"src/pkg/tests/test_x.py": "", "src/pkg/x.py": ""}, "python", "python3 -m pytest -q"),
    ({"pkg/a/tests/x_test.py": "", "bench.py": ""}, "python", "python3 -m pytest -q"),
    # Not tests: vendored or hidden folders, and a Node project's helper script.
    ({"node_modules/x/test_x.py": "", "bench.py": ""}, "python", None),
    ({"package.json": '{"scripts": {"test": "jest"}}', "scripts/test_x.py": ""}, "node",
     "npm test"),
])
def test_detects_language_and_test_command(tmp_path: Path, files: dict[str, str],
                                           language: str | None, checks: str | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    detection = detect_project(tmp_path)
    assert (detection.language, detection.checks) == (language, checks)


def test_detects_a_venv_and_links_dependencies(tmp_path: Path) -> None:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "conftest.py").write_text("")
    detection = detect_project(tmp_path)
    assert detection.checks == ".venv/bin/python -m pytest -q"
    assert detection.link == [".venv", "node_modules"]


def test_validation_names_the_field() -> None:
    assert validate_metric_name("time_ms") is None
    assert validate_metric_name("time ms") and validate_metric_name("9lives")
    errors = validate_answers(InitAnswers(bench="", metric="bad name", direction="sideways",
                                          agent="command"))
    assert set(errors) == {"bench", "metric", "direction", "agent"}
    assert guess_unit("time_ms") == "ms" and guess_unit("size_kb") == "KB"
    assert guess_unit("ms") == "" and guess_unit("score") == ""


# ---------------------------------------------------------------------------------------
# init with flags, per language


def test_python_repo_init_with_flags(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    (repo / "notes.txt").write_text("mine")
    git(repo, "add", "notes.txt")  # the user's staged change must stay staged, uncommitted
    done = init(repo, "--bench", "python3 bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 0, done.stderr
    assert "time_ms = " in done.stdout and "peak_kb=12" in done.stdout
    assert_committed(repo)
    assert git(repo, "status", "--porcelain").splitlines() == ["A  notes.txt"]
    config = load_config(repo / "autoresearch.toml")
    assert (config.metric.command, config.metric.name, config.metric.unit,
            config.metric.direction) == ("python3 bench.py", "time_ms", "ms", "lower")
    assert config.checks.command == "python3 -m pytest -q"  # detected from tests/
    assert config.agent.kind == "anthropic"
    program = (repo / "autoresearch.md").read_text()
    for heading in ("# Goal", "## Scope", "## Constraints", "## Ideas"):
        assert heading in program


def test_node_repo_init_with_flags(tmp_path: Path) -> None:
    need("node")
    repo = node_repo(tmp_path / "node")
    done = init(repo, "--bench", "node bench.js", "--direction", "higher", "--metric", "ops",
                "--agent", "scripted", "--yes")
    assert done.returncode == 0, done.stderr
    assert_committed(repo)
    config = load_config(repo / "autoresearch.toml")
    assert config.checks.command == "npm test"
    assert (config.metric.name, config.metric.unit, config.metric.direction) == (
        "ops", "ops/s", "higher")  # the unit after the bare number
    assert config.agent.kind == "scripted"


def test_go_repo_init_with_flags(tmp_path: Path) -> None:
    need("go")
    repo = go_repo(tmp_path / "go")
    done = init(repo, "--bench", "go run ./bench", "--direction", "lower", "--agent",
                "scripted", "--yes")
    assert done.returncode == 0, done.stderr
    assert_committed(repo)
    config = load_config(repo / "autoresearch.toml")
    assert config.checks.command == "go test ./..."
    assert (config.metric.name, config.metric.unit) == ("time_us", "us")


@pytest.mark.parametrize("language", [
    "python",
    # The same path with another toolchain (npm, go build: tens of seconds): test-slow.
    pytest.param("node", marks=pytest.mark.slow), pytest.param("go", marks=pytest.mark.slow)])
def test_initialised_repo_runs_headless(tmp_path: Path, language: str) -> None:
    """The config init writes is one a session accepts: baseline, then the loop."""
    if language == "python":
        repo = python_repo(tmp_path / "py")
        flags = ["--bench", "python3 bench.py", "--checks", PYTEST_CHECKS]
    elif language == "node":
        need("node")
        need("npm")
        repo = node_repo(tmp_path / "node")
        flags = ["--bench", "node bench.js", "--metric", "ops"]
    else:
        need("go")
        repo = go_repo(tmp_path / "go")
        flags = ["--bench", "go run ./bench"]
    direction = "higher" if language == "node" else "lower"
    done = init(repo, *flags, "--direction", direction, "--agent", "scripted", "--yes")
    assert done.returncode == 0, done.stderr
    add_patch(repo, {"python": "mod.py", "node": "lib.js", "go": "demo.go"}[language])
    ran = run_one(repo)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "#0 baseline" in ran.stdout and "#1 " in ran.stdout


def add_patch(repo: Path, source: str) -> None:
    """One scripted proposal (a comment), made with git diff and committed in patches/."""
    path = repo / source
    original = path.read_text()
    mark = "#" if source.endswith(".py") else "//"
    path.write_text(f"{mark} A comment that changes nothing.\n" + original)
    diff = git(repo, "diff", "--", source)
    path.write_text(original)
    (repo / "patches").mkdir()
    (repo / "patches" / "01-comment.patch").write_text(diff)
    git(repo, "add", "patches")
    git(repo, "commit", "-q", "-m", "a scripted proposal")


# ---------------------------------------------------------------------------------------
# Bad answers: exit 2, the output's last lines, nothing written or committed


def test_failing_benchmark_is_refused_with_its_last_lines(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    (repo / "fail.py").write_text("print('setting up')\nraise SystemExit('boom: no data')\n")
    git(repo, "add", "fail.py")
    git(repo, "commit", "-q", "-m", "failing bench")
    head = git(repo, "rev-parse", "HEAD").strip()
    done = init(repo, "--bench", "python3 fail.py", "--direction", "lower", "--yes")
    assert done.returncode == 2
    assert "failed (exit status 1)" in done.stderr and "boom: no data" in done.stderr
    assert_untouched(repo, head)


def test_benchmark_without_a_number_is_refused(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    head = git(repo, "rev-parse", "HEAD").strip()
    done = init(repo, "--bench", "echo all good, no numbers", "--direction", "lower", "--yes")
    assert done.returncode == 2
    assert "printed no usable number" in done.stderr
    assert "all good, no numbers" in done.stderr
    assert_untouched(repo, head)


def test_uncommitted_benchmark_is_named(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    (repo / "new_bench.py").write_text("print(1)\n")
    head = git(repo, "rev-parse", "HEAD").strip()
    done = init(repo, "--bench", "python3 new_bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 2
    assert "new_bench.py is not committed" in done.stderr
    assert_untouched(repo, head)


@pytest.mark.slow
def test_init_in_a_subfolder_says_commands_run_at_the_root(tmp_path: Path) -> None:
    # A monorepo: the user is in the package's folder, where `python3 bench.py` works; the
    # trial (like a session) runs at the repository's root, where it cannot. The error must
    # say so and give the command that works, and nothing may be written.
    repo = make_repo(tmp_path / "mono", {"README": "root", "pkgs/fast lib/mod.py": "x = 1\n",
                                         "pkgs/fast lib/bench.py": "print(3)\n"})
    head = git(repo, "rev-parse", "HEAD").strip()
    sub = repo / "pkgs" / "fast lib"
    done = init(sub, "--bench", "python3 bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"Commands run at the repository's root, {repo}, not in pkgs/fast lib/" in done.stdout
    assert ("not in pkgs/fast lib/ where you are: to run it there, give "
            "`cd 'pkgs/fast lib' && python3 bench.py`") in done.stderr
    assert "Traceback" not in done.stderr
    assert_untouched(repo, head)
    # The command it suggests works.
    done = init(sub, "--bench", "cd 'pkgs/fast lib' && python3 bench.py", "--direction",
                "lower", "--yes")
    assert done.returncode == 0, done.stderr
    assert_committed(repo)
    assert load_config(repo / "autoresearch.toml").metric.command == \
        "cd 'pkgs/fast lib' && python3 bench.py"


def test_checks_dash_means_none_as_on_a_terminal(tmp_path: Path) -> None:
    # `--checks -` wrote `command = "-"`: a checks command that fails on the baseline.
    repo = python_repo(tmp_path / "py")
    done = init(repo, "--bench", "python3 bench.py", "--checks", "-", "--direction", "lower",
                "--yes")
    assert done.returncode == 0, done.stderr
    assert load_config(repo / "autoresearch.toml").checks.command is None
    assert_committed(repo)


@pytest.mark.slow
def test_init_on_a_detached_head_says_its_commit_is_on_no_branch(tmp_path: Path) -> None:
    # The commit went onto a detached HEAD without a word: `git checkout main` afterwards
    # left the config behind, and the next launch said there was no autoresearch.toml.
    repo = python_repo(tmp_path / "py")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    done = init(repo, "--bench", "python3 bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 0, done.stderr
    head = git(repo, "rev-parse", "--short", "HEAD").strip()
    assert (f"Note: HEAD is detached, so that commit ({head}) is on no branch; keep it with "
            "`git switch -c NAME`") in done.stdout
    assert_committed(repo)
    # On a branch, no such note.
    other = python_repo(tmp_path / "on-a-branch")
    done = init(other, "--bench", "python3 bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 0 and "detached" not in done.stdout


def test_missing_flags_without_a_terminal_are_named(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    done = init(repo, "--bench", "python3 bench.py")
    assert done.returncode == 2
    assert "--direction lower|higher and --yes" in done.stderr
    assert "--bench" not in done.stderr


def test_refuses_to_overwrite_a_config(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    (repo / "autoresearch.toml").write_text("# mine\n")
    done = init(repo, "--bench", "python3 bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 2 and "already exists" in done.stderr
    assert (repo / "autoresearch.toml").read_text() == "# mine\n"


def test_refuses_outside_a_repo_or_without_commits(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = init(plain, "--bench", "true", "--direction", "lower", "--yes")
    assert done.returncode == 2 and "not inside a git repository" in done.stderr
    git(plain, "init", "-q")
    done = init(plain, "--bench", "true", "--direction", "lower", "--yes")
    assert done.returncode == 2 and "no commits" in done.stderr


def test_bad_metric_name_is_refused(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    done = init(repo, "--bench", "python3 bench.py", "--direction", "lower", "--metric",
                "time ms", "--yes")
    assert done.returncode == 2 and "metric name" in done.stderr


# ---------------------------------------------------------------------------------------
# The helpers the form shares


def test_trial_run_reports_a_missing_metric_name(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    trial = trial_run(repo, "python3 bench.py", metric="latency")
    assert not trial.ok and trial.metrics == {"time_ms": pytest.approx(trial.metrics["time_ms"]),
                                              "peak_kb": 12.0}
    assert "no METRIC line named 'latency'" in (trial.error or "")
    good = trial_run(repo, "python3 bench.py")
    assert good.ok and good.metric == "time_ms" and good.unit == "ms"
    assert "peak_kb=12" in good.summary()


def test_failed_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    answers = InitAnswers(bench="python3 bench.py", metric="time_ms")
    with pytest.raises(UsageError, match="refused to commit autoresearch.toml and "
                       "autoresearch.md .*hook says no.*a commit hook or commit signing"):
        write_and_commit(repo, render_config(answers), render_program(answers))
    assert not (repo / "autoresearch.toml").exists()
    assert not (repo / "autoresearch.md").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_a_machine_without_a_git_identity_gets_the_commands_that_set_one(
        tmp_path: Path) -> None:
    # A new container or CI image has no user.name/user.email: init's commit failed with
    # "`git commit` failed: Omit --global to set the identity only in this repository.
    # fatal: unable to auto-detect email address (got 'root@vm.(none)')".
    repo = python_repo(tmp_path / "py")
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) and k != "EMAIL"}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    head = git(repo, "rev-parse", "HEAD").strip()
    done = subprocess.run([str(EXE), "init", "--bench", "python3 bench.py", "--direction",
                           "lower", "--yes"], cwd=repo, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        "autoresearch-tui: git has no name and email to commit with; set them with `git "
        "config --global user.name \"Your Name\"` and `git config --global user.email "
        "you@example.com`, then run init again (nothing was written).\n")
    assert_untouched(repo, head)
    assert git(repo, "status", "--porcelain") == ""


def test_invalid_config_is_never_written(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    with pytest.raises(UsageError):
        write_and_commit(repo, "[metric]\ncommand = ''\n", "# program\n")
    assert sorted(p.name for p in repo.iterdir()) == [".git", "bench.py", "mod.py", "tests"]


def test_existing_program_file_is_kept(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    (repo / "autoresearch.md").write_text("# my own program\n")
    answers = InitAnswers(bench="python3 bench.py", checks="python3 -m pytest -q")
    path = write_and_commit(repo, render_config(answers), render_program(answers))
    assert load_config(path).checks.command == "python3 -m pytest -q"
    assert (repo / "autoresearch.md").read_text() == "# my own program\n"
    assert_committed(repo)


# ---------------------------------------------------------------------------------------
# The questions on a terminal


class Terminal:
    """The binary on a pseudo-terminal: wait for a prompt, type an answer."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        import pty

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                     close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 60) -> None:
        import select
        import time

        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows:\n{self.seen[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    data = b""
                assert data, f"exited before {text!r}:\n{self.seen[-2000:]}"
                self.seen += data.decode("utf-8", errors="replace")
        self.seen = self.seen[self.seen.index(text) + len(text):]

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.master, text.encode() + b"\n")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=60)
        finally:
            os.close(self.master)


def test_questions_on_a_terminal(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    (repo / "fail.py").write_text("raise SystemExit('boom: no data')\n")
    git(repo, "add", "fail.py")
    git(repo, "commit", "-q", "-m", "a failing bench")
    term = Terminal([str(EXE), "init"], repo)
    try:
        term.answer("Checks command", "")  # the detected default
        term.answer("Setup command", "")
        term.answer("Benchmark command", "python3 fail.py")
        term.expect("boom: no data")  # refused, with its last lines, and asked again
        term.answer("Benchmark command", "python3 bench.py")
        term.expect("Parsed: time_ms = ")
        term.answer("Metric name [time_ms]", "")
        term.answer("lower or higher [lower]", "sideways")
        term.answer("Answer lower or higher.", "lower")
        term.answer("Unit [ms]", "")
        term.answer("Files the agent may change", "mod.py")
        term.answer("Extra files it must not change", "data/*.csv")
        term.answer("Agent kind", "scripted")
        term.answer("Goal", "Make work() fast.")
        term.answer("and commit them? [Y/n]", "")
        term.expect("Wrote and committed")
    finally:
        status = term.close()
    assert status == 0
    assert_committed(repo)
    config = load_config(repo / "autoresearch.toml")
    assert config.guard.protected == ["data/*.csv"]
    assert config.agent.kind == "scripted"
    assert config.checks.command == "python3 -m pytest -q"
    program = (repo / "autoresearch.md").read_text()
    assert "Make work() fast." in program and "- `mod.py`" in program


def test_end_of_input_on_a_terminal_writes_nothing(tmp_path: Path) -> None:
    repo = python_repo(tmp_path / "py")
    head = git(repo, "rev-parse", "HEAD").strip()
    term = Terminal([str(EXE), "init"], repo)
    try:
        term.expect("Checks command")
        os.write(term.master, b"\x04")  # Ctrl-D
        term.expect("nothing was written")
    finally:
        status = term.close()
    assert status == 2
    assert_untouched(repo, head)


def test_no_benchmark_yet_offers_a_template_that_works(tmp_path: Path) -> None:
    from app.engine.measure import parse_metrics
    from app.engine.process import run_command

    repo = make_repo(tmp_path / "py", {"mod.py": "X = 1\n", "tests/test_mod.py": ""})
    term = Terminal([str(EXE), "init"], repo)
    try:
        term.answer("Checks command", "")
        term.answer("Setup command", "")
        term.answer("Benchmark command", "")
        term.answer("Write a template benchmark at bench.py? [Y/n]", "")
        term.expect("commit it, then run `autoresearch-tui init` again")
    finally:
        status = term.close()
    assert status == 0
    assert not (repo / "autoresearch.toml").exists()
    ran = run_command("python3 bench.py", repo, 60)
    assert ran.ok and parse_metrics(ran.stdout, None).metrics.keys() == {"time_ms"}


def test_init_shows_the_data_the_benchmark_reads_and_protects_it(tmp_path: Path) -> None:
    # issue #12: a benchmark's data file, not named on its command line, is found by a
    # traced run (strace) and written into [guard] protected.
    need("strace")
    repo = python_repo(tmp_path / "py")
    (repo / "data").mkdir()
    (repo / "data" / "corpus.txt").write_text("a b c\n")
    (repo / "bench.py").write_text(
        "words = open('data/corpus.txt').read().split()\nprint(f'METRIC time_ms={len(words)}')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a benchmark that reads data")
    done = init(repo, "--bench", "python3 bench.py", "--direction", "lower", "--yes")
    assert done.returncode == 0, done.stderr
    assert "It reads data/corpus.txt: protected" in done.stdout
    config = load_config(repo / "autoresearch.toml")
    assert config.guard.protected == ["data/corpus.txt"]
