"""The demo's sample project: it is a working repo, and its patches tell the story they claim.

The story (DESIGN.md, issue 7): real speed-ups kept, one patch that breaks the tests, one
that is only noise, one that edits the benchmark, one that overfits, one that crashes, a
real speed-up kept at the end. Each scripted patch is applied to the champion as it stands
at its point of the story, so the kept ones apply cumulatively and every other one must
apply on top of the kept ones before it. The end-to-end run of the real loop is the
acceptance test, marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from app.command_options import DemoOptions
from app.config import load_config
from app.demo import STORY, create_sample_repo, run_demo, story_check
from app.engine.fingerprints import parse_fingerprint
from app.engine.guard import Guard
from app.engine.measure import parse_metrics
from app.engine.process import run_command
from app.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
PATCHES = "demo_patches"

# name prefix -> the status the loop should give it; "keep" patches become the champion.


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("demo") / "sample"
    create_sample_repo(repo)
    return repo


@pytest.fixture()
def scratch(sample: Path, tmp_path: Path) -> Path:
    """A throwaway clone of the sample, for tests that apply patches."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(sample), str(clone))
    git(clone, "config", "user.name", "Test")
    git(clone, "config", "user.email", "test@localhost")
    return clone


def patch_files(repo: Path) -> list[Path]:
    return sorted((repo / PATCHES).glob("*.patch"))


def apply(repo: Path, patch: Path) -> None:
    git(repo, "apply", "--index", str(patch))


def unittest_status(repo: Path) -> int:
    return subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=repo,
                          capture_output=True, text=True, timeout=60).returncode


# ---------------------------------------------------------------------------------------


def test_sample_repo_is_committed_clean_and_configured(sample: Path) -> None:
    assert git(sample, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(sample, "status", "--porcelain") == ""
    assert len(git(sample, "log", "--oneline").splitlines()) == 1
    tracked = git(sample, "ls-files").splitlines()
    assert "textstats/core.py" in tracked and "bench/holdout.py" in tracked
    assert not [p for p in tracked if "__pycache__" in p]
    config = load_config(sample / "autoresearch.toml")
    assert config.agent.kind == "scripted"
    assert config.agent.scripted.patches == PATCHES
    assert config.holdout.command and config.guard.metric
    assert (sample / config.agent.program).read_text().count("## Ideas") == 1
    assert [p.name[:2] for p in patch_files(sample)] == list(STORY)


def test_original_passes_its_unit_tests(sample: Path) -> None:
    assert unittest_status(sample) == 0


def test_bench_and_holdout_print_parseable_metrics(sample: Path) -> None:
    config = load_config(sample / "autoresearch.toml")
    bench = run_command(config.metric.command, sample, 60)
    assert bench.ok, bench.output_tail
    parsed = parse_metrics(bench.stdout, config.metric.name)
    assert parsed.error is None and parsed.value is not None and parsed.value > 0
    assert parsed.metrics["peak_kb"] > 0
    assert config.metric.fingerprint and parse_fingerprint(bench.stdout)
    assert config.holdout.command is not None
    held = run_command(config.holdout.command, sample, 60)
    assert held.ok, held.output_tail
    assert parse_metrics(held.stdout, config.metric.name).value is not None
    assert parse_fingerprint(held.stdout)


@pytest.mark.slow  # every demo patch through its benchmark (~7 s)
def test_patches_that_should_pass_keep_the_results_fingerprint(scratch: Path) -> None:
    """Only the patch that edits the benchmark changes what it computes; the overfit one
    (06) is caught by the held-out benchmark's time, not by its results."""
    def fingerprints() -> tuple[str | None, str | None]:
        return tuple(parse_fingerprint(run_command(f"python3 bench/{name}.py", scratch,
                                                   120).stdout)
                     for name in ("bench", "holdout"))  # type: ignore[return-value]

    reference = fingerprints()
    assert all(reference)
    for patch in patch_files(scratch):
        if STORY[patch.name[:2]] not in ("keep", "overfit"):
            continue
        apply(scratch, patch)
        assert fingerprints() == reference, patch.name
        if STORY[patch.name[:2]] == "keep":
            git(scratch, "commit", "-q", "-m", patch.name)
        else:
            git(scratch, "reset", "-q", "--hard")


def test_every_patch_applies_at_its_point_of_the_story(scratch: Path) -> None:
    for patch in patch_files(scratch):
        check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=scratch,
                               capture_output=True, text=True)
        assert check.returncode == 0, f"{patch.name} does not apply: {check.stderr}"
        if STORY[patch.name[:2]] == "keep":
            apply(scratch, patch)
            git(scratch, "commit", "-q", "-m", patch.name)
    # The final champion is still correct.
    assert unittest_status(scratch) == 0


def test_patches_a_noisy_machine_might_keep_do_not_block_the_story(scratch: Path) -> None:
    """The noise patch (04) or the overfit one (06) may be kept by bad luck on a busy
    machine; the later patches must still apply, so the story goes on."""
    later = [p for p in patch_files(scratch) if p.name[:2] in ("07", "08", "09")]
    for patch in patch_files(scratch):
        if patch.name[:2] in ("01", "02", "04", "06"):
            apply(scratch, patch)
    for patch in later:
        check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=scratch,
                               capture_output=True, text=True)
        assert check.returncode == 0, f"{patch.name} does not apply: {check.stderr}"
    assert unittest_status(scratch) == 0


def test_patches_have_subjects(sample: Path) -> None:
    for patch in patch_files(sample):
        subject = [line for line in patch.read_text().splitlines()
                   if line.startswith("Subject: ")]
        assert subject and len(subject[0]) > len("Subject: [PATCH] ") + 5, patch.name


def test_the_breaking_patch_fails_the_tests(scratch: Path) -> None:
    for prefix in ("01", "02"):
        apply(scratch, next(p for p in patch_files(scratch) if p.name.startswith(prefix)))
    apply(scratch, next(p for p in patch_files(scratch) if p.name.startswith("03")))
    assert unittest_status(scratch) != 0


def test_the_crashing_patch_passes_tests_but_crashes_the_benchmark(scratch: Path) -> None:
    apply(scratch, next(p for p in patch_files(scratch) if p.name.startswith("07")))
    assert unittest_status(scratch) == 0  # small inputs: the tests cannot see it
    bench = run_command("python3 bench/bench.py", scratch, 60)
    assert not bench.ok and "RecursionError" in bench.output


def test_the_benchmark_patch_touches_a_protected_file(sample: Path) -> None:
    config = load_config(sample / "autoresearch.toml")
    guard = Guard.from_config(config, sample, git(sample, "ls-files").splitlines())
    patch = next(p for p in patch_files(sample) if p.name.startswith("05"))
    touched = [line.split(" b/", 1)[1] for line in patch.read_text().splitlines()
               if line.startswith("diff --git ")]
    assert touched and guard.violations(touched) == touched
    others = [p for p in patch_files(sample) if not p.name.startswith("05")]
    for other in others:
        paths = [line.split(" b/", 1)[1] for line in other.read_text().splitlines()
                 if line.startswith("diff --git ")]
        assert guard.violations(paths) == [], other.name
    assert guard.is_hidden("bench/holdout.py")


def test_a_story_the_machine_bent_is_named(tmp_path: Path) -> None:
    from app.engine.history import LogWriter
    from app.engine.records import Experiment, Status

    writer = LogWriter(tmp_path / ".git" / "autoresearch" / "sessions" / "t" / "log.jsonl")
    writer.append_experiment(Experiment(0, Status.BASELINE, metric=100.0))
    writer.append_experiment(Experiment(1, Status.KEEP, source="01-count-words.patch",
                                        description="Count words in one pass"))
    assert story_check(tmp_path) == ""
    # What the user decided is no machine noise: a vetoed patch (and an interrupted one).
    writer.append_experiment(Experiment(4, Status.VETOED, source="04-clearer-names.patch",
                                        description="Clearer names in top_words"))
    writer.append_experiment(Experiment(2, Status.INTERRUPTED, source="02-dedupe.patch"))
    assert story_check(tmp_path) == ""
    writer.append_experiment(Experiment(6, Status.KEEP, source="06-fast-path.patch",
                                        description="Look up the most common words"))
    writer.close()
    note = story_check(tmp_path)
    assert "too noisy" in note
    assert "#6 (Look up the most common words) came out keep where the story expects " \
        "overfit" in note


def test_the_hint_after_a_finished_demo_browses_it(tmp_path: Path) -> None:
    from app.demo import next_steps
    from app.engine.history import LogWriter

    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    writer = LogWriter(tmp_path / ".git" / "autoresearch" / "sessions" / "nov29" / "log.jsonl")
    writer.append({"type": "session_start", "tag": "nov29"})
    assert "# the TUI, resuming the session" in next_steps(tmp_path)
    writer.append({"type": "session_end", "finished": True})
    writer.close()
    assert "--tag nov29  # the TUI on the finished session, to browse it" in \
        next_steps(tmp_path)


def test_anthropic_variant_drops_the_patches(tmp_path: Path) -> None:
    repo = tmp_path / "claude"
    create_sample_repo(repo, agent="anthropic")
    config = load_config(repo / "autoresearch.toml")
    assert config.agent.kind == "anthropic"
    assert not (repo / PATCHES).exists()
    assert git(repo, "status", "--porcelain") == ""


def test_anthropic_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    args = DemoOptions(agent="anthropic", dir=str(tmp_path / "x"), headless=True)
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        run_demo(args)
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    args = DemoOptions(agent="scripted", dir=str(tmp_path), headless=True)
    with pytest.raises(UsageError, match="not empty"):
        run_demo(args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


# ---------------------------------------------------------------------------------------


def _play_demo(target: Path) -> tuple[dict[int, dict[str, object]], str]:
    """Run the real binary's headless demo into `target`: its experiment records and stdout."""
    exe = ROOT / ".venv" / "bin" / "autoresearch-tui"
    done = subprocess.run([str(exe), "demo", "--headless", "--dir", str(target)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"cd {target}" in done.stdout
    logs = list((target / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl"))
    assert len(logs) == 1
    experiments: dict[int, dict[str, object]] = {}
    for line in logs[0].read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "experiment":
            experiments[int(record["n"])] = record
    return experiments, done.stdout


def _story_table(experiments: dict[int, dict[str, object]]) -> str:
    """One line per experiment: what was decided, why, and on which samples."""
    return "\n".join(
        f"#{n} {r.get('status')}: {r.get('reason')} | samples {r.get('samples')} | "
        f"champion {r.get('champion_samples')}" for n, r in sorted(experiments.items()))


# The statuses that rest on timing: a machine far noisier than usual can turn them.
_TIMED = {"keep", "checks_failed", "overfit"}


@pytest.mark.slow
def test_headless_demo_plays_the_whole_story(tmp_path: Path) -> None:
    """The acceptance test: the real binary, the real loop, the statuses of the story.

    Timing decides whether a real improvement gets past the keep rule, and a rare burst of
    noise on a shared machine (CI once discarded three real 20-35% gains in one run) can
    turn one (a full slow run here once saw #6's held-out figure 32% worse yet not
    significant on five noisy runs each, in two plays in a row, so #6 was kept). A
    deviation on a timed status plays the whole story again in a fresh folder, up to
    twice; every play must deviate to fail, and each deviating play's decisions are
    printed. A bug that changes a status every time still fails."""
    want = ["baseline", *STORY.values()]
    experiments, out = _play_demo(tmp_path / "demo")
    statuses = [str(experiments[n]["status"]) for n in sorted(experiments)]
    for again in (1, 2):
        if statuses == want or len(statuses) != len(want) or not all(
                got == expected or expected in _TIMED
                for got, expected in zip(statuses, want)):
            break
        warnings.warn(f"the demo's play {again} deviated on timed statuses; played again:\n"
                      + _story_table(experiments), stacklevel=1)
        experiments, out = _play_demo(tmp_path / f"demo-again-{again}")
        statuses = [str(experiments[n]["status"]) for n in sorted(experiments)]
    assert statuses == want, f"{statuses}\n{_story_table(experiments)}\n{out[-3000:]}"
    last = experiments[max(experiments)]
    baseline = experiments[0]
    assert float(last["metric"]) < 0.5 * float(baseline["metric"])  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_printed_next_steps_run_as_printed(tmp_path: Path) -> None:
    """`make demo` runs the venv's binary by a relative path; the next-step commands printed
    after the demo (here stopped with Ctrl-C after its first experiments) must each run,
    from a shell whose PATH does not hold the venv."""
    import shlex
    import signal
    import time

    target = tmp_path / "demo dir"  # a space, to be quoted
    exe = os.path.relpath(ROOT / ".venv" / "bin" / "autoresearch-tui", ROOT)
    env = {**os.environ, "NO_COLOR": "1",
           "PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                   if not (Path(p) / "autoresearch-tui").exists())}
    proc = subprocess.Popen([exe, "demo", "--headless", "--dir", str(target)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        log = target / ".git" / "autoresearch" / "sessions"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
                '"n": 1' in p.read_text() for p in log.glob("*/log.jsonl")):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    commands = [line.split("#")[0].strip() for line in out.splitlines()
                if line.strip().startswith("cd ")]
    assert len(commands) == 4, out[-2000:]
    assert all(f"cd {shlex.quote(str(target))} && " in c for c in commands)
    for command in commands[:3]:  # history, report, finalize
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stdout[-1000:], done.stderr[-1000:])
    # The last one opens the TUI: the same program, asked for its version here.
    done = subprocess.run(["sh", "-c", commands[3] + " --version"], capture_output=True,
                          text=True, env=env, timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip(), (commands[3], done.stderr)
    # The last hint says the session resumes; so does `demo --dir` on the same folder, and
    # it does: the same session goes on from where it stopped.
    assert "# the TUI, resuming the session" in out, out[-2000:]
    first = {p.parent.name: p.read_text().count('"type": "experiment"')
             for p in log.glob("*/log.jsonl")}
    proc = subprocess.Popen([exe, "demo", "--headless", "--dir", str(target)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
                p.read_text().count('"type": "experiment"') > first[p.parent.name]
                for p in log.glob("*/log.jsonl")):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    [tag] = first
    assert f"(made by an earlier demo): resuming its session {tag}." in out, out[:2000]
    assert f"resuming session {tag}" in out
    assert [p.parent.name for p in log.glob("*/log.jsonl")] == [tag], "no second session"
    numbers = [json.loads(line)["n"] for line in (log / tag / "log.jsonl").read_text(
        ).splitlines() if '"type": "experiment"' in line]
    assert numbers == sorted(numbers) and len(numbers) > first[tag]


def test_a_demo_on_its_own_folder_again_resumes_or_browses_what_it_left(
        tmp_path: Path) -> None:
    from app.demo import _earlier_demo, relaunch_plan
    from app.engine.history import LogWriter

    target = tmp_path / "demo"
    create_sample_repo(target)
    assert _earlier_demo(str(target)) == target
    assert relaunch_plan(target) == (None, "starting its session.")
    sessions = target / ".git" / "autoresearch" / "sessions"
    old = LogWriter(sessions / "nov28" / "log.jsonl")
    old.append({"type": "session_start", "tag": "nov28"})
    old.append({"type": "session_end", "finished": True})
    old.close()
    os.utime(sessions / "nov28" / "log.jsonl", (1, 1))
    new = LogWriter(sessions / "nov29" / "log.jsonl")
    new.append({"type": "session_start", "tag": "nov29"})
    assert relaunch_plan(target) == (None, "resuming its session nov29.")
    new.append({"type": "session_end", "finished": True})
    new.close()
    tag, how = relaunch_plan(target)
    assert tag == "nov29" and how.startswith("its session nov29 has ended; showing it")
    # The hint printed after the demo names the newest ended session too.
    from app.demo import next_steps

    assert "--tag nov29  # the TUI on the finished session" in next_steps(target)
    # A folder the demo did not make is refused, as before.
    other = tmp_path / "mine"
    other.mkdir()
    git(other, "init", "-q")
    (other / "autoresearch.toml").write_text("")
    assert _earlier_demo(str(other)) is None
