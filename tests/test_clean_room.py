"""Clean-room measurement, attacked: each test is a candidate that tries to get a wrong
change kept (files outside the commit, state carried between runs, writes while being
measured or outside the tree, processes that outlive the command, secrets), driven through
the real loop with the scripted agent, and asserts the status and reason it gets instead.

Every attack runs with bubblewrap and with `sandbox = "none"` when the clean measurement
tree and the after-run hashing alone stop it; attacks only the sandbox stops run with
bwrap only (docs/safety.md says what remains possible without it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from app.engine.events import SessionStarted
from app.engine.history import read_log
from app.report import build_report
from tests.conftest import PYTEST_CHECKS, Project, require_tool, run_session

# The benchmark (protected) sums nums/*.txt and lets src/lib.py (the code under study,
# not protected) turn the total into the score; lower is better.
BENCH = '''\
import os, sys
sys.path.insert(0, "src")
import lib
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={lib.score(total)}")
'''
LIB = "def score(total):\n    return total\n"
TEST_LIB = '''\
import sys
sys.path.insert(0, "src")
import lib


def test_score_is_the_total():
    assert lib.score(3.0) == 3.0
'''

BOTH = ["bwrap", pytest.param("none", marks=pytest.mark.slow)]
"""Both isolation paths. The bwrap path runs in `make test`; the fallback's runs, the same
attacks again, in `make test-slow` (CI runs both), to keep `make test` under 10 minutes."""


def _need(kind: str) -> None:
    if kind == "bwrap":
        require_tool("bwrap")
        from app.engine.sandbox import bwrap_problem

        if bwrap_problem():
            pytest.skip(bwrap_problem())


def setup_project(project: Project, sandbox: str, *, checks: bool = False,
                  extra: str = "") -> None:
    _need(sandbox)
    project.write("bench.py", BENCH)
    project.write("src/lib.py", LIB)
    project.write("tests/test_lib.py", TEST_LIB)
    write_config(project, sandbox, checks=checks, extra=extra)
    project.commit("clean-room project")


def write_config(project: Project, sandbox: str, *, checks: bool, extra: str = "",
                 repeats: int = 3, max_repeats: int = 5) -> None:
    """The clean-room projects' autoresearch.toml: the sandbox, a benchmark of `repeats`
    runs (as many to calibrate, up to `max_repeats`), the scripted agent's patches, and
    pytest as the checks when `checks`."""
    checks_line = f'[checks]\ncommand = "{PYTEST_CHECKS} tests"\n' if checks else ""
    (project.root / "autoresearch.toml").write_text(textwrap.dedent(f'''\
        [session]
        sandbox = "{sandbox}"
        {extra}

        [metric]
        command = "python3 bench.py"
        name = "score"
        calibration_runs = {repeats}
        repeats = {repeats}
        max_repeats = {max_repeats}
        timeout_s = 30

        {checks_line}
        [agent]
        kind = "scripted"

        [agent.scripted]
        patches = "patches"
        '''))


def forced_patch(project: Project, name: str, changes: dict[str, str], subject: str) -> None:
    """A patch that also creates files .gitignore ignores (as an agent can: `git apply`
    writes them; the snapshot does not hold them)."""
    for rel, text in changes.items():
        path = project.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project.git("add", "-f", "-A", "--", *changes)
    diff = project.git("diff", "--cached", "--binary")
    project.git("reset", "-q", "--hard", "HEAD")
    tracked = set(project.git("ls-files").split())
    for rel in changes:  # ignored files survive a hard reset
        if rel not in tracked:
            (project.root / rel).unlink(missing_ok=True)
    (project.root / "patches" / name).write_text(f"Subject: [PATCH] {subject}\n\n" + diff)


def run(project: Project, **kwargs: object):  # type: ignore[no-untyped-def]
    _, events, engine = run_session(project, **kwargs)
    return engine, events


def decided(engine) -> dict[int, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {e.n: (str(e.status), e.reason) for e in engine.experiments if e.n > 0}


def assert_not_kept(engine, n: int, status: str, reason: str = "") -> None:  # type: ignore
    got = decided(engine)[n]
    assert got[0] == status, got
    assert reason in got[1], got
    kept = [e for e in engine.experiments if str(e.status) == "keep"]
    assert not kept, [(e.n, e.description) for e in kept]


# -- files outside the commit -------------------------------------------------------------


@pytest.mark.parametrize("sandbox", BOTH)
def test_an_ignored_skip_all_conftest_does_not_hide_a_failing_test(
        project: Project, sandbox: str) -> None:
    setup_project(project, sandbox, checks=True)
    forced_patch(project, "01.patch", {
        ".gitignore": "*.pyc\n__pycache__/\nignored/\nconftest.py\n",
        "conftest.py": "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n"
                       "    for item in items:\n"
                       "        item.add_marker(pytest.mark.skip('skipped'))\n",
        "src/lib.py": "def score(total):\n    return total / 100\n"}, "faster score")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "checks_failed", "checks failed")
    tree = project.git("ls-tree", "-r", "--name-only", engine.setup.git.candidate(1) or "")
    assert "conftest.py" not in tree.split(), "the kept commit could not reproduce it anyway"


@pytest.mark.parametrize("sandbox", BOTH)
def test_a_stale_ignored_file_from_an_earlier_experiment_takes_no_part(
        project: Project, sandbox: str) -> None:
    setup_project(project, sandbox)
    forced_patch(project, "01.patch", {"ignored/answer": "0.01\n",
                                       "src/notes.txt": "planting\n"}, "plant a file")
    forced_patch(project, "02.patch", {"src/lib.py": textwrap.dedent('''\
        import os


        def score(total):
            if os.path.exists("ignored/answer"):
                return float(open("ignored/answer").read())
            return total
        ''')}, "read the planted answer")
    project.commit("patches")
    engine, _ = run(project)
    assert decided(engine)[1][0] == "discard"
    assert_not_kept(engine, 2, "discard")
    assert engine.experiments[-1].samples == [50.0] * len(engine.experiments[-1].samples)


def _unchecked_pyc(module: str, source: str) -> tuple[str, bytes]:
    """(the file name `python3` looks for under `__pycache__/` for `<module>.py`, the bytes
    of `source` compiled as an unchecked hash-based pyc: imported without a look at the
    .py file)."""
    script = textwrap.dedent(f'''\
        import importlib.util, os, py_compile, sys, tempfile
        src = os.path.join(tempfile.mkdtemp(), "{module}.py")
        open(src, "w").write(sys.stdin.read())
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        out = py_compile.compile(src, doraise=True, invalidation_mode=mode)
        print(os.path.basename(importlib.util.cache_from_source(src)))
        sys.stdout.flush()
        sys.stdout.buffer.write(open(out, "rb").read())
        ''')
    done = subprocess.run(["python3", "-c", script], input=source.encode(),
                          capture_output=True, check=True)
    name, _, data = done.stdout.partition(b"\n")
    return name.decode(), data


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", BOTH)
def test_a_stale_pyc_under_an_ignored_pycache_takes_no_part(
        project: Project, sandbox: str) -> None:
    """The issue's stale `.pyc`: a patch adds `src/helper.py` (the honest score) and plants
    `src/__pycache__/helper.*.pyc` (ignored, so never in the commit), compiled from a 100x
    "faster" helper as an unchecked hash-based pyc, which Python imports without comparing
    it with helper.py. Measured where the agent worked, it was kept; in the measurement
    tree it is absent: `discard` on the honest samples."""
    setup_project(project, sandbox)
    name, pyc = _unchecked_pyc("helper", "def score(total):\n    return total / 100\n")
    pyc_path = project.root / "src" / "__pycache__" / name
    pyc_path.parent.mkdir(parents=True, exist_ok=True)
    pyc_path.write_bytes(pyc)
    project.write("src/helper.py", "def score(total):\n    return total\n")
    project.write("src/lib.py", "from helper import score  # noqa: F401\n")
    project.git("add", "-f", "-A", "--", "src")
    diff = project.git("diff", "--cached", "--binary")
    project.git("reset", "-q", "--hard", "HEAD")
    (project.root / "patches" / "01.patch").write_text(
        "Subject: [PATCH] the score in a helper module\n\n" + diff)
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "discard", "")
    samples = next(e.samples for e in engine.experiments if e.n == 1)
    assert samples and set(samples) == {50.0}, samples
    candidate = engine.setup.git.candidate(1) or ""
    assert name not in project.git("ls-tree", "-r", "--name-only", candidate)


# -- state carried between runs -------------------------------------------------------------

CACHE_LIB = '''\
import os


def score(total):
    path = {where}
    if os.path.exists(path):
        return total / 1000  # "100x faster" once the cache is warm
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    open(path, "w").write("warm")
    return total
'''

CACHES = {
    # in the tree, untracked
    "tree": '"score-cache.txt"',
    # TMPDIR (private per run in both modes)
    "tmpdir": '__import__("tempfile").gettempdir() + "/score-cache"',
    # $HOME (private per run in both modes)
    "home": 'os.path.expanduser("~/.cache/score-cache")',
    # in the tree, in a folder .gitignore ignores (the reset removes ignored files too)
    "ignored-folder": '"ignored/deep/score-cache"',
}


@pytest.mark.parametrize("sandbox", BOTH)
@pytest.mark.parametrize("where", sorted(CACHES))
def test_a_cache_that_makes_repeats_fast_does_not_carry_over(
        project: Project, sandbox: str, where: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    user_home = tmp_path / "user-home"  # were the attack to work, it lands here
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    setup_project(project, sandbox)
    assert_cache_is_cold(project, CACHES[where])
    assert not any(user_home.rglob("*"))


def assert_cache_is_cold(project: Project, where: str):  # type: ignore[no-untyped-def]
    """#1's code keeps a cache at `where` (a Python expression) that makes runs 2..n
    "1000x faster": every sample must be the cold one, a `discard`. Returns the engine."""
    project.patch("01.patch", {"src/lib.py": CACHE_LIB.format(where=where)},
                  "cache the score")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "discard")
    samples = next(e.samples for e in engine.experiments if e.n == 1)
    assert samples and set(samples) == {50.0}, samples
    return engine


SPEED = "FAST = 0\n"
SELF_REWRITE_LIB = '''\
import os
import speed


def score(total):
    # Run 1 turns FAST = 0 into FAST = 1 in src/speed.py, a file the champion holds too
    # (checked out long before, so git's stat cache vouches for it): the same size, and
    # the old modification time put back, so a check by size and mtime sees no change.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "speed.py")
    st = os.stat(path)
    text = open(path).read()
    if "FAST = 0" in text:
        with open(path, "w") as handle:
            handle.write(text.replace("FAST = 0", "FAST = 1", 1))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return total / 1000 if speed.FAST else total
'''


@pytest.mark.parametrize("sandbox", BOTH)
def test_a_file_rewritten_keeping_size_and_mtime_does_not_carry_over(
        project: Project, sandbox: str) -> None:
    """Attack on the measurement tree's reset, which trusts git's stat cache: during run 1
    the code under test rewrites src/speed.py (unchanged by the candidate) with the same
    size and its old mtime, so that runs 2..n import the "faster" version. Stopped by: the
    reset's scan compares the change time too (which no process can set back), finds the
    file modified and restores it."""
    setup_project(project, sandbox)
    project.write("src/speed.py", SPEED)
    project.commit("a module the candidate imports")
    project.patch("01.patch", {"src/lib.py": SELF_REWRITE_LIB}, "rewrite speed.py")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "discard")
    samples = next(e.samples for e in engine.experiments if e.n == 1)
    assert samples and set(samples) == {50.0}, samples

def test_a_cache_in_the_hosts_tmp_does_not_carry_over_under_bwrap(project: Project) -> None:
    """Without bwrap a hard-coded /tmp path is shared (docs/safety.md); with it, /tmp is
    private to each run."""
    where = repr(f"/tmp/score-cache-{uuid.uuid4().hex}")
    setup_project(project, "bwrap")
    project.patch("01.patch", {"src/lib.py": CACHE_LIB.format(where=where)}, "cache in /tmp")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "discard")
    assert not Path(eval(where)).exists()


# -- writes while being measured -------------------------------------------------------------


@pytest.mark.parametrize("sandbox", BOTH)
@pytest.mark.parametrize("target", ["tests/test_lib.py", "bench.py"])
def test_a_protected_file_rewritten_during_the_benchmark_is_rejected(
        project: Project, sandbox: str, target: str) -> None:
    setup_project(project, sandbox)
    project.patch("01.patch", {"src/lib.py": textwrap.dedent(f'''\
        def score(total):
            with open({target!r}, "a") as handle:
                handle.write("\\n# rewritten while measured\\n")
            return total / 2
        ''')}, "rewrite a protected file")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "rejected", f"changed protected files: {target}")


@pytest.mark.parametrize("sandbox", BOTH)
def test_a_conftest_written_into_the_tests_during_a_run_is_rejected(
        project: Project, sandbox: str) -> None:
    setup_project(project, sandbox)
    project.patch("01.patch", {"src/lib.py": textwrap.dedent('''\
        def score(total):
            open("tests/conftest.py", "w").write("collect_ignore_glob = ['*']\\n")
            return total / 2
        ''')}, "write a conftest")
    project.commit("patches")
    engine, _ = run(project)
    assert_not_kept(engine, 1, "rejected", "tests/conftest.py")


# -- writes outside the tree --------------------------------------------------------------

USERCUSTOMIZE = '''\
import os, site


def score(total):
    folder = site.getusersitepackages()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "usercustomize.py"), "w") as handle:
        handle.write("import sys, types\\n"
                     "fake = types.ModuleType('lib')\\n"
                     "fake.score = lambda total: total / 100\\n"
                     "sys.modules['lib'] = fake\\n")
    raise SystemExit("crash after planting")
'''


def crash_then_an_empty_change(project: Project, sandbox: str, lib: str, subject: str,
                               **kwargs: object):  # type: ignore[no-untyped-def]
    """Experiment 1 replaces src/lib.py by `lib`, which plants something and crashes;
    experiment 2 is an empty change, which a planted file must not get kept. Returns the
    engine after asserting that 1 crashed."""
    setup_project(project, sandbox)
    project.patch("01.patch", {"src/lib.py": lib}, subject)
    project.patch("02.patch", {"src/notes.txt": "nothing\n"}, "an empty change")
    project.commit("patches")
    engine, _ = run(project, **kwargs)
    assert decided(engine)[1][0] == "crash"
    return engine


@pytest.mark.parametrize("sandbox", BOTH)
def test_a_usercustomize_planted_by_a_crash_fools_no_later_run(
        project: Project, sandbox: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    user_home = tmp_path / "user-home"  # were the attack to work, it lands here
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    engine = crash_then_an_empty_change(project, sandbox, USERCUSTOMIZE, "plant usercustomize")
    assert_not_kept(engine, 2, "discard")
    assert not any(user_home.rglob("*"))


FORGER = '''\
import glob, json, os


def score(total):
    for log in glob.glob("../../../.git/autoresearch/sessions/*/log.jsonl"):
        with open(log, "a") as handle:
            handle.write(json.dumps({"type": "champion_samples", "n": 999,
                                     "samples": [1e9, 1e9, 1e9],
                                     "timestamp": "2030-01-01T00:00:00Z"}) + "\\n")
    raise SystemExit("crash after forging")
'''


def test_a_forged_log_record_cannot_be_written_from_the_benchmark(project: Project) -> None:
    """The session's state is not in a bwrap sandbox's view (without bwrap: docs/safety.md)."""
    engine = crash_then_an_empty_change(project, "bwrap", FORGER, "forge the log",
                                        max_experiments=1)
    log = (engine.state_dir / "log.jsonl").read_text()
    assert "1000000000" not in log and "1e+09" not in log
    engine2, _ = run(project)
    assert_not_kept(engine2, 2, "discard")


@pytest.mark.slow
def test_a_log_record_forged_from_the_benchmark_without_bwrap_stops_the_next_launch(
        project: Project) -> None:
    """Without bwrap the benchmark can reach the git dir (docs/safety.md says so), and the
    forged record lands in the log. What stops it then is the log's hash chain (issue #12):
    this launch never reads it back (experiment 2 is still `discard` on the real samples),
    and the next launch refuses the log, naming the forged line."""
    from app.errors import UsageError

    engine = crash_then_an_empty_change(project, "none", FORGER, "forge the log")
    assert_not_kept(engine, 2, "discard")
    lines = (engine.state_dir / "log.jsonl").read_text().splitlines()
    forged = [i for i, line in enumerate(lines, 1) if "1000000000" in line or "1e+09" in line]
    assert forged, "without bwrap the benchmark reaches the log (the test's premise)"
    with pytest.raises(UsageError, match=f"line {forged[0]} "):
        run(project, tag=engine.tag)


# -- processes that outlive the command ------------------------------------------------------

DAEMON_LIB = '''\
import os, subprocess, sys


def score(total):
    if not os.path.exists("nums/zero.txt"):
        subprocess.Popen([sys.executable, "-c",
                          "import os, time\\n"
                          "for _ in range(600):\\n"
                          "    open('nums/zero.txt', 'w').write('-50')\\n"
                          "    time.sleep(0.05)\\n", "{marker}"],
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return total
'''


@pytest.mark.parametrize("sandbox", BOTH)
def test_a_child_in_a_new_session_does_not_outlive_its_run(
        project: Project, sandbox: str) -> None:
    marker = f"daemon-{uuid.uuid4().hex}"
    setup_project(project, sandbox)
    project.patch("01.patch", {"src/lib.py": DAEMON_LIB.replace("{marker}", marker)},
                  "a helper process")
    project.commit("patches")
    try:
        engine, _ = run(project)
        assert_not_kept(engine, 1, "discard")
        samples = next(e.samples for e in engine.experiments if e.n == 1)
        assert set(samples) == {50.0}, samples
        time.sleep(0.2)
        alive = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
        assert alive.stdout.strip() == "", "the child outlived the benchmark"
    finally:
        subprocess.run(["pkill", "-f", marker], check=False)


# -- secrets -------------------------------------------------------------------------------

SECRETS = {"OPENAI_KEY": "s3cr3t-openai", "DB_PASS": "s3cr3t-dbpass",
           "GITHUB_PAT": "s3cr3t-pat", "DATABASE_URL": "postgres://u:s3cr3t-db@h/d",
           "STRIPE_SK": "s3cr3t-stripe", "SLACK_WEBHOOK_URL": "https://hooks/s3cr3t-slack"}


@pytest.mark.parametrize("sandbox", BOTH)
def test_secret_names_reach_neither_the_benchmark_nor_the_log(
        project: Project, sandbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_project(project, sandbox, extra='env = ["VISIBLE_SETTING"]')
    project.patch("01.patch", {"src/lib.py": textwrap.dedent('''\
        import os


        def score(total):
            for name, value in sorted(os.environ.items()):
                print(f"{name}={value}")
            raise SystemExit(1)
        ''')}, "print the environment")
    project.commit("patches")
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("VISIBLE_SETTING", "plain-value-7")
    engine, events = run(project)
    assert decided(engine)[1][0] == "crash"
    stored = [p for p in engine.state_dir.rglob("*") if p.is_file()]
    texts = {p: p.read_text(errors="replace") for p in stored}
    assert any("plain-value-7" in t for t in texts.values()), "the env was printed and stored"
    for path, text in texts.items():
        for key, value in SECRETS.items():
            assert value not in text, f"{key} reached {path}"
    for event in events:
        for key, value in SECRETS.items():
            assert value not in repr(event), f"{key} reached a {type(event).__name__}"


# -- which isolation was in force -----------------------------------------------------------


@pytest.mark.parametrize("sandbox", BOTH)
def test_the_isolation_in_force_is_recorded_and_announced(
        project: Project, sandbox: str) -> None:
    setup_project(project, sandbox)
    engine, events = run(project)
    started = next(e for e in events if isinstance(e, SessionStarted))
    assert started.isolation.startswith(sandbox)
    first = json.loads((engine.state_dir / "log.jsonl").read_text().splitlines()[0])
    assert first["type"] == "session_start" and first["isolation"] == started.isolation
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless"],
                          cwd=project.root, capture_output=True, text=True, timeout=120)
    opening = done.stdout.splitlines()[:3]
    assert any(line.startswith(f"sandbox: {sandbox}") for line in opening), \
        done.stdout + done.stderr
    log = read_log(engine.state_dir / "log.jsonl")
    text = build_report(engine.state_dir, log.experiments, first, engine.state_dir / "r.md",
                        records=log.records, png=False).read_text()
    assert f"| Sandbox | {started.isolation}" in text, text


# -- the command agent --------------------------------------------------------------------

AGENT_SH = """\
n="$AUTORESEARCH_EXPERIMENT"
if [ "$n" -gt 1 ]; then echo "nothing left"; exit 1; fi
cat holdout.py > peek.txt 2>&1 || echo unreadable > peek.txt
setsid sleep {marker} >/dev/null 2>&1 &
echo -1 > nums/x1.txt
echo "DESCRIPTION: peek at the holdout"
"""


def command_agent_project(project: Project, sandbox: str, script: Path, *,
                          calibration_runs: int, agent_timeout_s: int = 30) -> None:
    """A command agent running `script` (for at most `agent_timeout_s` a turn), and a
    held-out benchmark `holdout.py` (which the test writes), in `sandbox`."""
    (project.root / "autoresearch.toml").write_text(textwrap.dedent(f'''\
        [session]
        sandbox = "{sandbox}"

        [metric]
        command = "python3 bench.py"
        name = "score"
        calibration_runs = {calibration_runs}
        repeats = 2
        timeout_s = 30

        [holdout]
        command = "python3 holdout.py"

        [agent]
        kind = "command"
        max_consecutive_errors = 1

        [agent.command]
        command = "sh {script} {{prompt_file}}"
        timeout_s = {agent_timeout_s}
        '''))


@pytest.mark.parametrize("sandbox", BOTH)
def test_the_command_agent_leaves_no_process_and_under_bwrap_cannot_read_the_holdout(
        project: Project, sandbox: str, tmp_path: Path) -> None:
    marker = f"300.{uuid.uuid4().int % 10**9}"
    _need(sandbox)
    script = tmp_path / "agent.sh"
    script.write_text(AGENT_SH.replace("{marker}", marker))
    project.write("holdout.py", "# HOLDOUT-SECRET-DATA\nprint(1)\n")
    command_agent_project(project, sandbox, script, calibration_runs=3)
    project.commit("a command agent and a held-out benchmark")
    try:
        engine, _ = run(project)
        candidate = engine.setup.git.candidate(1)
        assert candidate, decided(engine)
        peek = project.git("show", f"{candidate}:peek.txt")
        if sandbox == "bwrap":
            assert "HOLDOUT-SECRET-DATA" not in peek, peek
        time.sleep(0.2)
        alive = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True,
                               text=True)
        assert alive.stdout.strip() == "", "the agent's background job outlived it"
    finally:
        subprocess.run(["pkill", "-f", f"sleep {marker}"], check=False)


# -- data only the held-out benchmark reads --------------------------------------------------

HOLDOUT_READS_DATA = '''\
text = open("held/corpus.txt").read()
print(f"METRIC score={len(text)}")
'''

PEEK_SH = """\
n="$AUTORESEARCH_EXPERIMENT"
if [ "$n" -gt 1 ]; then echo "nothing left"; exit 1; fi
cat held/corpus.txt > peek.txt 2>&1 || echo unreadable > peek.txt
echo -1 > nums/x1.txt
echo "DESCRIPTION: peek at the held-out data"
"""


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", BOTH)
def test_data_only_the_holdout_reads_is_hidden_from_the_agent(
        project: Project, sandbox: str, tmp_path: Path) -> None:
    """Attack: the held-out benchmark's data (`held/corpus.txt`, opened by holdout.py, not
    named on its command line) is read by a command agent, which can then special-case it.
    Stopped by: the traced first run finds the files only the holdout reads; they are hidden
    like the holdout's own files (the file tools refuse them; under bwrap the agent's
    commands see an empty file). Without bwrap a command agent still reads them
    (docs/safety.md)."""
    require_tool("strace")
    _need(sandbox)
    script = tmp_path / "agent.sh"
    script.write_text(PEEK_SH)
    project.write("held/corpus.txt", "HELD-OUT-SECRET-CORPUS\n")
    project.write("holdout.py", HOLDOUT_READS_DATA)
    command_agent_project(project, sandbox, script, calibration_runs=2)
    project.commit("a held-out benchmark that reads its own data")
    engine, _ = run(project)
    first = json.loads((engine.state_dir / "log.jsonl").read_text().splitlines()[0])
    assert first["holdout_data_files"] == ["held/corpus.txt"], first
    assert "held/corpus.txt" in first["data_files"]
    assert "nums/a.txt" not in first["holdout_data_files"], "the benchmark's data stays"
    from app.engine.agents.tools import Sandbox, ToolError

    tools = Sandbox(engine.setup.git.paths.worktree, is_hidden=engine.setup.guard.is_hidden)
    with pytest.raises(ToolError):
        tools.read_file("held/corpus.txt")
    candidate = engine.setup.git.candidate(1)
    assert candidate, decided(engine)
    peek = project.git("show", f"{candidate}:peek.txt")
    if sandbox == "bwrap":
        assert "HELD-OUT-SECRET-CORPUS" not in peek, peek
    else:
        assert "HELD-OUT-SECRET-CORPUS" in peek, "docs/safety.md says it stays readable"
