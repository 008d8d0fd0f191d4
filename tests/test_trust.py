"""Decisions you can trust, through the real loop: noise, a locked benchmark, a held-out
check, guards on secondary metrics, drift, and a new baseline when the rules change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine.controller import LoopController
from app.engine.events import BaselineReset, DriftDetected, Event, ProposalReady, WarningRaised
from app.engine.history import read_log
from app.engine.launch import LaunchOptions
from app.engine.session import open_session
from tests.conftest import Project

# A noisy benchmark whose noise is a fixed pseudo-random sequence (seeded, advanced through
# a state file outside the repo), so the test is deterministic yet the samples really vary.
NOISY_BENCH = '''\
import os, random
state = os.environ["NOISE_STATE"]
count = int(open(state).read()) if os.path.exists(state) else 0
open(state, "w").write(str(count + 1))
rng = random.Random(1000 + count)
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(f"METRIC score={total * (1 + rng.gauss(0, 0.05)):.4f}")
'''

# The held-out benchmark: the same numbers, but a `special` file (a fast path tuned to the
# main benchmark) costs dearly here.
HOLDOUT = '''\
import os
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
print(total + (100 if os.path.exists("special") else 0))
'''

MEM_BENCH = '''\
import os
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
extra = float(open("memextra").read()) if os.path.exists("memextra") else 0
print(f"METRIC score={total}")
print(f"METRIC peak_mem_mb={100 + extra}")
'''

DRIFT_BENCH = '''\
import os
total = sum(float(open(os.path.join("nums", n)).read()) for n in sorted(os.listdir("nums")))
factor = float(open(os.environ["DRIFT_FILE"]).read())
print(f"METRIC score={total * factor}")
'''


def run(project: Project, sink=None, agent=None, **options: object):  # type: ignore[no-untyped-def]
    events: list[Event] = []

    def collect(event: Event) -> None:
        events.append(event)
        if sink:
            sink(event)

    engine = open_session(LaunchOptions(cwd=project.root, **options), agent=agent)
    try:
        status = engine.run(collect, LoopController())
    finally:
        engine.close()
    return status, events, engine


def outcome(engine) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(e.n, str(e.status)) for e in engine.experiments]


def test_comment_only_changes_on_a_noisy_benchmark_are_not_kept(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOISE_STATE", str(tmp_path / "noise-state"))
    project.write("bench.py", NOISY_BENCH)
    # The noise's state lives outside the repo (it must outlast the clean measurement tree).
    project.config(calibration_runs=5, repeats=3, max_repeats=8,
                   extra='\n[session]\nsandbox = "none"\nenv = ["NOISE_STATE"]\n')
    project.commit("noisy benchmark")
    for i in range(4):
        project.patch(f"0{i}.patch", {f"src/note{i}.py": f"# a comment, nothing else ({i})\n"},
                      f"comment {i}")
    project.patch("05.patch", {"nums/a.txt": "25\n"}, "halve a (a real speed-up)")
    project.commit("patches")
    _, _, engine = run(project)
    assert outcome(engine) == [(0, "baseline"), (1, "discard"), (2, "discard"),
                               (3, "discard"), (4, "discard"), (5, "keep")]
    for e in engine.experiments[1:5]:
        assert len(set(e.samples)) > 1, "the samples really are noisy"
        assert e.p_value is not None and e.p_value > 0.05
    kept = engine.experiments[5]
    assert kept.p_value is not None and kept.p_value <= 0.05
    assert kept.confidence is not None and kept.confidence >= 2


def test_a_change_to_the_benchmark_is_rejected_before_any_measurement(
        project: Project) -> None:
    project.patch("01.patch", {"bench.py": "print('METRIC score=1')\n"}, "a faster benchmark")
    project.commit("patches")
    _, _, engine = run(project)
    assert outcome(engine)[1:] == [(1, "rejected")]
    assert "bench.py" in engine.experiments[1].reason
    assert not (engine.state_dir / "runs" / "1").exists(), "nothing was measured"


@pytest.mark.parametrize("target, words", [
    ("bench.py", "protected files changed behind the harness's back: bench.py"),
    ("src/lib.py", "the worktree changed after the proposal was snapshotted"),
])
def test_a_file_changed_behind_the_agents_back_is_caught(project: Project, target: str,
                                                         words: str) -> None:
    project.patch("01.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.commit("patches")

    def side_door(event: Event) -> None:
        # Between the snapshot and the measurement: what a background process could do.
        if isinstance(event, ProposalReady):
            worktree = project.root / ".autoresearch" / "worktrees"
            path = next(worktree.iterdir()) / target
            path.write_text(path.read_text() + "\n# changed later\n")

    _, _, engine = run(project, sink=side_door)
    assert outcome(engine)[1:] == [(1, "rejected")]
    assert words in engine.experiments[1].reason
    assert not (engine.state_dir / "runs" / "1").exists()


def test_a_change_that_worsens_the_held_out_benchmark_is_overfit(project: Project) -> None:
    project.write("holdout.py", HOLDOUT)
    project.config(extra='\n[holdout]\ncommand = "python3 holdout.py"\n')
    project.commit("held-out benchmark")
    project.patch("01.patch", {"nums/a.txt": "10\n", "special": "x\n"}, "fast path for bench")
    project.patch("02.patch", {"nums/b.txt": "-5\n"}, "an honest speed-up")
    project.commit("patches")
    _, _, engine = run(project)
    assert outcome(engine)[1:] == [(1, "overfit"), (2, "keep")]
    overfit, kept = engine.experiments[1], engine.experiments[2]
    assert "held-out benchmark" in overfit.reason and overfit.holdout == 110
    assert kept.holdout == 45
    assert (engine.state_dir / "runs" / "1" / "holdout-champion-1.log").exists()


def test_a_memory_guard_discards_a_speed_for_memory_trade(project: Project) -> None:
    project.write("bench.py", MEM_BENCH)
    project.config(extra='\n[[guard.metric]]\nname = "peak_mem_mb"\nmax_increase = 0.10\n')
    project.commit("memory metric")
    project.patch("01.patch", {"nums/a.txt": "10\n", "memextra": "50\n"}, "cache everything")
    project.patch("02.patch", {"nums/b.txt": "-5\n", "memextra": "5\n"}, "a small cache")
    project.commit("patches")
    _, _, engine = run(project)
    assert outcome(engine)[1:] == [(1, "discard"), (2, "keep")]
    assert "peak_mem_mb rose +50.0% (limit +10%)" in engine.experiments[1].reason


def test_a_drifting_champion_is_recorded_and_compared_with_fresh_samples(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drift = tmp_path / "drift"
    drift.write_text("1.0")
    monkeypatch.setenv("DRIFT_FILE", str(drift))
    project.write("bench.py", DRIFT_BENCH)
    project.config(remeasure_every=2,
                   extra='\n[session]\nsandbox = "none"\nenv = ["DRIFT_FILE"]\n')
    project.commit("drifting benchmark")
    for i in range(1, 5):
        project.patch(f"0{i}.patch", {f"src/x{i}.py": "# nothing\n"}, f"no-op {i}")
    project.commit("patches")

    def machine_slows_down(event: Event) -> None:
        if isinstance(event, ProposalReady) and event.n == 2:
            drift.write_text("1.3")

    _, events, engine = run(project, sink=machine_slows_down)
    drifts = [e for e in events if isinstance(e, DriftDetected)]
    assert len(drifts) == 1 and drifts[0].before == 50 and drifts[0].after == 65
    records = read_log(engine.state_dir / "log.jsonl").of_type("drift")
    assert records and records[0]["samples"] == [65.0, 65.0]
    # After the drift, candidates are compared with fresh samples of the champion, measured
    # alternately with them from then on.
    assert engine.experiments[3].champion_samples[-2:] == [65.0, 65.0]
    assert any(isinstance(e, WarningRaised) and "alternately" in e.message for e in events)
    assert (engine.state_dir / "runs" / "3" / "champion-1.log").exists()


def test_changing_the_config_between_launches_starts_a_new_baseline(project: Project) -> None:
    project.patch("01.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.patch("02.patch", {"nums/b.txt": "-5\n"}, "shrink b")
    project.commit("patches")
    run(project, max_experiments=1)
    project.config(calibration_runs=4)
    project.commit("more calibration")
    _, events, engine = run(project)
    resets = [e for e in events if isinstance(e, BaselineReset)]
    assert resets and "autoresearch.toml changed" in resets[0].reason
    assert outcome(engine) == [(0, "baseline"), (1, "keep"), (2, "baseline"), (3, "keep")]
    log = (engine.state_dir / "log.jsonl").read_text().splitlines()
    assert any(json.loads(line)["type"] == "baseline_reset" for line in log)
