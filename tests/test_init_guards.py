"""`init` proposes the guards of issue 20: its benchmark templates print a FINGERPRINT (Python,
Node, Go), a benchmark that prints one gets `fingerprint = true`, and a benchmark harness
that runs for a fixed time gets the outside clock switched off."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.config import load_config
from app.engine.fingerprints import parse_fingerprint
from app.engine.measure import parse_metrics
from app.engine.process import run_command
from app.onboard import BENCH_TEMPLATES, InitAnswers, render_config, trial_run
from tests.conftest import git, init_repo, require_tool


def repo_with(path: Path, files: dict[str, str]) -> Path:
    init_repo(path)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.mark.parametrize("language, tool, extra", [
    ("python", "python3", {}),
    ("node", "node", {}),
    ("go", "go", {"go.mod": "module example.com/bench\n\ngo 1.21\n"}),
])
def test_each_template_prints_a_metric_and_a_fingerprint_init_then_requires(
        tmp_path: Path, language: str, tool: str, extra: dict[str, str]) -> None:
    require_tool(tool)
    name, text, command = BENCH_TEMPLATES[language]
    repo = repo_with(tmp_path / language, {name: text, **extra})
    ran = run_command(command, repo, 300, env=None)
    assert ran.ok, ran.output_tail
    assert parse_metrics(ran.stdout, None).metrics.keys() == {"time_ms"}
    fingerprint = parse_fingerprint(ran.stdout)
    assert fingerprint and len(fingerprint) == 12
    trial = trial_run(repo, command)
    assert trial.ok and trial.fingerprint == fingerprint
    assert "FINGERPRINT" in trial.summary()
    config = render_config(InitAnswers(bench=command), trial)
    assert tomllib.loads(config)["metric"]["fingerprint"] is True
    (repo / "autoresearch.toml").write_text(config)
    assert load_config(repo / "autoresearch.toml").metric.fingerprint


def test_a_benchmark_without_a_fingerprint_gets_the_advice(tmp_path: Path) -> None:
    repo = repo_with(tmp_path / "plain", {"bench.py": "print('METRIC time_ms=3')\n"})
    trial = trial_run(repo, "python3 bench.py")
    config = render_config(InitAnswers(bench="python3 bench.py"), trial)
    assert "fingerprint" not in tomllib.loads(config)["metric"]
    assert "# The strongest guard you can add: make the benchmark print `FINGERPRINT" in config


@pytest.mark.parametrize("command, off", [
    ("go test -bench=. ./...", True),
    ("go test -bench=. -benchtime=1000x ./...", False),
    ("pytest --benchmark-only -q", True),
    ("hyperfine --export-json out.json ./prog", True),
    ("python3 bench.py", False),
])
def test_fixed_time_harnesses_get_the_outside_clock_switched_off(command: str,
                                                                 off: bool) -> None:
    config = render_config(InitAnswers(bench=command, metric="time_ns", unit="ns"))
    data = tomllib.loads(config)
    assert (data.get("guard", {}).get("outside_clock") is False) is off
    assert ("runs for a fixed time" in config) is off
