"""The loop's structure keeps its promises (issue #18): a record that leaves the loop's
thread is the loop's no longer, a new gate is one function, an experiment's status is set
in one place, and the champion is what the log says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.engine.champion import ChampionState, latest_champion_samples
from app.engine.controller import LoopController
from app.engine.events import Event, ExperimentDecided
from app.engine.history import read_log
from app.engine.launch import LaunchOptions
from app.engine.pipeline import PASS, Pipeline, Trial, Verdict, stages
from app.engine.pipeline.trial import end
from app.engine.records import Experiment, Status
from app.engine.session import open_session
from tests.conftest import Project

ENGINE = Path(__file__).resolve().parents[1] / "app" / "engine"


def test_a_record_the_ui_edits_is_not_the_record_the_session_keeps(project: Project) -> None:
    """Attack: the UI thread edits the record an event carried (the TUI adds a late
    veto's note; a careless widget could sort its samples or relabel it). The session's
    own records, which budgets, the agent's history and `diff_of` read, must not move."""
    project.patch("01-keep.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.patch("02-worse.patch", {"nums/b.txt": "500\n"}, "grow b")
    project.commit("patches")
    sent: list[Experiment] = []

    def meddle(event: Event) -> None:
        if isinstance(event, ExperimentDecided):
            record = event.experiment
            sent.append(record)
            record.note = "edited by the UI"
            record.samples.append(-1.0)
            record.metrics["score"] = -1.0
            record.status = Status.KEEP

    session = open_session(LaunchOptions(cwd=project.root))
    try:
        assert session.run(meddle, LoopController()) == 0
    finally:
        session.close()
    kept = session.experiments
    assert [(e.n, str(e.status)) for e in kept] == [(0, "baseline"), (1, "keep"),
                                                   (2, "discard")]
    assert len(sent) == 3 and all(s is not k for s, k in zip(sent, kept))
    for record in kept:
        assert record.note == "" and -1.0 not in record.samples
        assert record.metrics["score"] != -1.0
    logged = read_log(session.paths.log).experiments
    assert [str(e.status) for e in logged] == ["baseline", "keep", "discard"]


def test_a_new_gate_is_one_function_in_the_stages(project: Project,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate put between the keep rule and the checks sees the candidate's numbers, and
    its verdict becomes the record's status and reason; nothing else changes."""
    seen: list[float | None] = []

    def one_keep_is_enough(p: Pipeline, trial: Trial) -> Verdict:
        seen.append(trial.facts.metric)
        if any(e.status is Status.KEEP for e in p.history):
            return end(Status.DISCARD, "one keep is enough")
        return PASS

    order = list(stages.STAGES)
    order.insert(order.index(stages.checks), one_keep_is_enough)
    monkeypatch.setattr(stages, "STAGES", tuple(order))
    project.patch("01-keep.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.patch("02-keep.patch", {"nums/b.txt": "-5\n"}, "shrink b")
    project.patch("03-worse.patch", {"nums/c.txt": "500\n"}, "grow c")
    project.commit("patches")
    session = open_session(LaunchOptions(cwd=project.root))
    try:
        assert session.run(lambda event: None, LoopController()) == 0
    finally:
        session.close()
    outcome = [(e.n, str(e.status), e.reason) for e in session.experiments[1:]]
    assert outcome[0][:2] == (1, "keep")
    assert outcome[1] == (2, "discard", "one keep is enough")
    assert outcome[2][:2] == (3, "discard") and outcome[2][2] != "one keep is enough"
    assert len(seen) == 2, "the gate runs only for candidates the keep rule would keep"
    assert all(value is not None for value in seen)


def test_an_experiments_status_is_set_in_one_place() -> None:
    """No engine module assigns `.status` (stages return verdicts; `Trial.settle` makes
    the record): a second place is where two stages' answers start to disagree."""
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            while targets:
                target = targets.pop()
                if isinstance(target, (ast.Tuple, ast.List)):
                    targets.extend(target.elts)
                elif isinstance(target, ast.Attribute) and target.attr == "status":
                    offenders.append(f"{path.relative_to(ENGINE)}:{target.lineno}")
    assert offenders == []


def _record(n: int, status: str, samples: list[float], **extra: Any) -> Experiment:
    return Experiment(n=n, status=Status(status), samples=samples,
                      metrics={"score": sorted(samples)[len(samples) // 2]}, **extra)


def test_the_champion_is_built_from_the_log() -> None:
    baseline = _record(0, "baseline", [10.0, 11.0, 12.0], holdout_samples=[5.0, 5.5],
                       fingerprints={"bench": "abc"})
    kept = _record(2, "keep", [8.0, 9.0], checks={"runner": "pytest", "passed": 3, "failed": 0,
                                                  "skipped": 0, "deselected": 0})
    log = [baseline, _record(1, "discard", [13.0, 14.0]), kept, _record(3, "discard", [9.5])]
    top_up = {"type": "champion_samples", "n": 3, "samples": [8.5, 8.7, 8.6]}
    state = ChampionState.from_log("c0ffee", log, latest_champion_samples([top_up], log))
    assert state.commit == "c0ffee"
    assert state.samples == [8.5, 8.7, 8.6], "the latest re-measurement wins"
    assert state.metrics == {"score": 9.0}, "the last keep's metrics"
    assert state.holdout_samples == [5.0, 5.5], "a keep without holdout keeps the baseline's"
    assert state.checks is not None and state.checks.passed == 3
    assert state.fingerprints == {"bench": "abc"}
    assert state.noise is not None and state.median == 8.6


def test_champion_samples_recorded_ahead_of_the_log_are_not_believed() -> None:
    """A `champion_samples` record for an experiment the log does not hold (a torn
    write, a hand edit) or from before the last keep does not replace the keep's."""
    log = [_record(0, "baseline", [10.0, 11.0]), _record(1, "keep", [8.0, 9.0])]
    ahead = {"type": "champion_samples", "n": 7, "samples": [1.0]}
    before = {"type": "champion_samples", "n": 0, "samples": [1.0]}
    assert latest_champion_samples([ahead], log) is None
    assert latest_champion_samples([before], log) is None
    assert ChampionState.from_log("c", log).samples == [8.0, 9.0]


def test_the_config_reads_a_session_tag_without_the_engine(tmp_path: Path) -> None:
    """`[session] tag` is validated by app/tags.py: loading a config does not open the
    engine's session or layout modules (pygit2, locks, the loop)."""
    config = tmp_path / "autoresearch.toml"
    config.write_text('[session]\ntag = "nov27"\n\n[metric]\ncommand = "python3 bench.py"\n'
                      'name = "score"\n')
    code = ("import sys; from pathlib import Path; from app.config import load_config; "
            f"load_config(Path({str(config)!r})); "
            "print(sorted(m for m in sys.modules if m in ('app.engine.layout', "
            "'app.engine.session', 'app.engine.loop', 'pygit2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1], check=True).stdout
    assert out.strip() == "[]"
