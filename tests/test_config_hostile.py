"""No config value produces a traceback: a one-sentence error naming the key (exit 2), or a
run that works.

The attack: every key that config.example.toml documents, set to a hostile value (the wrong
type, empty, absolute, `..`, a missing file, a huge or non-finite number), through the real
CLI (`run --headless --max-experiments 1`) on a small repository.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import typing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest
import tomli_w

from app.config import Config
from app.engine.history import read_log
from tests.conftest import Project
from tests.test_config import documented_keys

ROOT = Path(__file__).parents[1]
HUGE_INT = 2**63 - 1  # TOML's largest integer


def headless(root: Path, *args: str, config: Path | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ANTHROPIC_API_KEY", None)
    extra = ["--config", str(config)] if config else []
    return subprocess.run([sys.executable, "-m", "app", *extra, "run", "--headless",
                           "--max-experiments", "1", *args], cwd=root, capture_output=True,
                          text=True, env=env, timeout=timeout)


def fast_config(project: Project, extra: str = "") -> None:
    project.config(extra, calibration_runs=1, repeats=1, max_repeats=1)


# -- patches outside the repository ---------------------------------------------------------

@pytest.mark.parametrize("where", ["absolute", "dotdot"])
def test_patches_outside_the_repository_work(project: Project, tmp_path: Path,
                                             where: str) -> None:
    outside = tmp_path / "patches"  # beside the repository, not in it
    project.patch("01-shrink.patch", {"nums/a.txt": "20\n"}, subject="Shrink a")
    outside.mkdir()
    (project.root / "patches" / "01-shrink.patch").rename(outside / "01-shrink.patch")
    setting = str(outside) if where == "absolute" else "../patches"
    fast_config(project)
    text = (project.root / "autoresearch.toml").read_text().replace(
        'patches = "patches"', f'patches = "{setting}"')
    (project.root / "autoresearch.toml").write_text(text)
    project.commit("patches outside")
    done = headless(project.root)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 0, done.stderr
    sessions = project.root / ".git" / "autoresearch" / "sessions"
    (log,) = sessions.glob("*/log.jsonl")
    records = [r for r in read_log(log).records if r.get("type") == "experiment"]
    # The patch was found, applied and measured (one sample each: too few to keep).
    assert [(r["n"], r["description"]) for r in records] == [(0, "baseline"), (1, "Shrink a")]
    assert records[1]["status"] in ("keep", "discard"), records[1]


# -- every key, hostile values ------------------------------------------------------------------

def leaf_type(dotted: str) -> Any:
    """The declared type of a config key, from the dataclasses (Optional unwrapped)."""
    tp: Any = Config
    for part in dotted.split("."):
        if typing.get_origin(tp) is list:  # [[guard.metric]]
            tp = typing.get_args(tp)[0]
        tp = typing.get_type_hints(tp)[part]
        if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def hostile_values(tp: Any) -> list[Any]:
    if typing.get_origin(tp) is Literal:
        return ["bogus", 1, ""]
    if tp is bool:
        return ["yes", 1]
    if tp is int:
        return ["12", -1, HUGE_INT, 1.5]
    if tp is float:
        return ["1", -1.0, 1e308, math.inf, math.nan]
    if tp is str:
        return [12, "", "/nonexistent/abs", "../outside"]
    if typing.get_origin(tp) is list:
        return ["x", [""], ["/nonexistent/abs"], ["../outside"], [1]]
    if typing.get_origin(tp) is dict:
        return ["x", {"k": 1}]
    return ["x", 5]  # a table given as a value


def with_value(base: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    parts = dotted.split(".")
    if parts[:2] == ["guard", "metric"]:
        entry: dict[str, Any] = {"name": "mem", "max_increase": 0.5}
        if len(parts) > 2:
            entry[parts[2]] = value
        data.setdefault("guard", {})["metric"] = [entry] if len(parts) > 2 else value
        return data
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, dict) else {}
        node = child
    node[parts[-1]] = value
    return data


def cases() -> list[tuple[str, Any]]:
    keys = sorted(documented_keys((ROOT / "config.example.toml").read_text()))
    found = []
    for key in keys:
        for value in hostile_values(leaf_type(key)):
            found.append((key, value))
    tables = sorted({key.rsplit(".", 1)[0] for key in keys})
    found += [(table, "x") for table in tables]
    return found


def names_the_key(stderr: str, key: str) -> bool:
    """One sentence that names the key; only a command's output may follow it."""
    first, _, rest = stderr.strip().partition("\n")
    return key.rsplit(".", 1)[-1] in first and (not rest or first.endswith("Last output:"))


@pytest.mark.slow
def test_no_config_value_makes_a_traceback(project: Project, tmp_path: Path) -> None:
    project.patch("01-shrink.patch", {"nums/a.txt": "20\n"}, subject="Shrink a")
    fast_config(project)
    project.commit("patch")
    import tomllib

    base = tomllib.loads((project.root / "autoresearch.toml").read_text())
    todo = cases()
    assert len(todo) > 120  # every documented key, several values each

    def attempt(index_case: tuple[int, tuple[str, Any]]) -> tuple[str, Any, str] | None:
        index, (key, value) = index_case
        path = tmp_path / f"config-{index}.toml"
        path.write_text(tomli_w.dumps(with_value(base, key, value)))
        try:
            done = headless(project.root, "--tag", f"t{index}", config=path, timeout=45)
        except subprocess.TimeoutExpired:
            return key, value, "no answer in 45 s"
        output = done.stdout + done.stderr
        if "Traceback" in output:
            return key, value, "traceback: " + output[-400:]
        if done.returncode not in (0, 2, 3):
            return key, value, f"exit {done.returncode}: {output[-300:]}"
        if done.returncode == 2 and not names_the_key(done.stderr, key):
            return key, value, f"exit 2 without one sentence naming it: {done.stderr}"
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(attempt, enumerate(todo)) if f is not None]
    assert not failures, "\n".join(f"{k} = {v!r}: {why}" for k, v, why in failures)


@pytest.mark.parametrize("line, key", [
    ("timeout_s = nan", "metric.timeout_s"), ("timeout_s = inf", "metric.timeout_s"),
    ("calibration_runs = 9223372036854775807", "metric.calibration_runs"),
    ("max_repeats = 9223372036854775807", "metric.max_repeats"),
    ("repeats = 1001\nmax_repeats = 1001", "metric.repeats")])
def test_non_finite_and_endless_numbers_are_refused_by_name(tmp_path: Path, line: str,
                                                             key: str) -> None:
    """`nan` passed every `<= 0` check, and 2**63 calibration runs never end."""
    from app.config import load_config
    from app.errors import UsageError

    path = tmp_path / "autoresearch.toml"
    path.write_text(f'[metric]\ncommand = "true"\n{line}\n')
    with pytest.raises(UsageError, match=f"`{key}`"):
        load_config(path)
