"""`autoresearch.toml` -> typed, validated settings.

Every table of DESIGN.md is a frozen dataclass below; the loader walks the dataclass fields,
so a key exists exactly when a field does. Unknown keys, wrong types and missing required
keys are `UsageError`s that name the file, the key and the fix. `config.example.toml`
documents every key; a test checks the two agree.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from app.env_names import looks_secret
from app.errors import UsageError
from app.metric_spec import format_problem, metric_seconds_per_unit, seconds_per_unit
from app.tags import validate_tag

CONFIG_NAME = "autoresearch.toml"
DEFAULT_MODEL = "claude-sonnet-5-5"
"""The newest Sonnet model the pinned anthropic SDK lists."""
MAX_RUNS = 1000
"""Runs of one benchmark per measurement, at most: more is a typo (a run takes a while)."""
MAX_HOLDOUT_PAIRS = 50
"""`[holdout] max_repeats` at most: the held-out rule's level is simulated over every look."""
MIN_MEMORY_TOKENS = 200
"""The smallest memory digest that still holds its header and one line of counts."""


@dataclass(frozen=True)
class SessionConfig:
    tag: str | None = None
    max_experiments: int | None = None
    max_hours: float | None = None
    max_cost_usd: float | None = None
    max_total_tokens: int | None = None
    setup: str | None = None
    setup_inputs: list[str] = field(default_factory=list)
    """Globs of files `setup` reads, besides dependency manifests and the files its command
    names: a candidate that changes one is measured after `setup` ran again on its files."""
    link: list[str] = field(default_factory=list)
    sandbox: Literal["auto", "bwrap", "none"] = "auto"
    network: bool = False
    env: list[str] = field(default_factory=list)
    env_secrets: list[str] = field(default_factory=list)
    stop_after_no_gain: int = 0
    """End the session after this many experiments in a row without a keep (0: never)."""


@dataclass(frozen=True)
class MetricConfig:
    command: str
    name: str = "metric"
    direction: Literal["lower", "higher"] = "lower"
    unit: str = ""
    timeout_s: float = 600.0
    repeats: int = 3
    max_repeats: int = 15
    calibration_runs: int = 5
    interleave: bool = False
    confirm_runs: int = 3
    remeasure_every: int = 10
    take: Literal["once", "last"] = "once"
    format: Literal["lines", "pytest-benchmark", "hyperfine", "google-benchmark", "criterion",
                    "pyperf", "json"] = "lines"
    path: str | None = None
    stat: Literal["median", "mean", "min"] = "median"
    aggregate: Literal["sum", "mean"] | None = None
    fingerprint: bool = False
    kind: Literal["auto", "time", "other"] = "auto"


@dataclass(frozen=True)
class ChecksConfig:
    command: str | None = None
    timeout_s: float = 900.0


@dataclass(frozen=True)
class HoldoutConfig:
    command: str | None = None
    timeout_s: float = 600.0
    max_regression: float = 0.0
    min_transfer: float = 0.25
    max_repeats: int = 15
    """At most this many champion/candidate pairs of held-out runs: `max(metric.repeats, 3)`
    pairs first, one more per look while the answer is unclear (decide.held_out_regression)."""


@dataclass(frozen=True)
class DecideConfig:
    alpha: float = 0.05
    min_effect: float = 0.0
    prefer_simpler: bool = False


@dataclass(frozen=True)
class MetricGuard:
    name: str
    max_increase: float | None = None
    max_decrease: float | None = None


@dataclass(frozen=True)
class GuardConfig:
    protected: list[str] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)
    metric: list[MetricGuard] = field(default_factory=list)
    outside_clock: bool | None = None
    """None: on for time-like metrics (app/engine/outside_clock.py)."""
    outside_clock_fraction: float = 0.25


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    input: float = 3.0
    output: float = 15.0
    cache_read: float = 0.30
    cache_write: float = 3.75


@dataclass(frozen=True)
class AnthropicConfig:
    model: str = DEFAULT_MODEL
    max_turns: int = 40
    max_tokens: int = 8192
    base_url: str | None = None
    allow_commands: bool = False
    history_window: int = 15
    prices: Prices = field(default_factory=Prices)


@dataclass(frozen=True)
class CommandAgentConfig:
    command: str = ""
    timeout_s: float = 1800.0
    env: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScriptedConfig:
    patches: str = "patches"


@dataclass(frozen=True)
class AgentConfig:
    kind: Literal["anthropic", "command", "scripted"] = "anthropic"
    program: str = "autoresearch.md"
    max_consecutive_errors: int = 5
    memory_tokens: int = 2000
    """Budget of the memory digest in every prompt (app/engine/memory.py); 0: off."""
    anthropic: AnthropicConfig = field(default_factory=AnthropicConfig)
    command: CommandAgentConfig = field(default_factory=CommandAgentConfig)
    scripted: ScriptedConfig = field(default_factory=ScriptedConfig)


@dataclass(frozen=True)
class HooksConfig:
    before: str | None = None
    after: str | None = None
    notify: str | None = None


@dataclass(frozen=True)
class ExecutorConfig:
    """Where measurements run (`[executor]`): this machine, or a Ray cluster (docs/cluster.md)."""

    kind: Literal["local", "ray"] = "local"
    address: str = "auto"
    """"auto" (the cluster `ray start` made on this machine), "local" (a private single-node
    Ray), "ray://host:port" (Ray Client) or "host:port" (the head's GCS address)."""
    resources: dict[str, float] = field(default_factory=dict)
    """Per measurement task, e.g. {GPU = 1}; CPU defaults to 1."""
    max_concurrent: int | None = None
    """Decisions measured at once on the cluster with `[parallel] workers` > 1 (in place
    of `measure_slots`); None: the cluster's capacity for those resources."""
    runtime_env: dict[str, Any] = field(default_factory=dict)
    """Passed to Ray as it is (pip, env_vars, ...); code travels as a git bundle instead."""


@dataclass(frozen=True)
class ParallelConfig:
    """`[parallel]`: several agents propose at once; measurements take turns in slots."""

    workers: int = 1
    """Agents proposing at once, each in its own worktree (1: the sequential loop)."""
    measure_slots: int = 1
    """Benchmark/checks/holdout commands that may run at once on this machine."""
    cpus_per_slot: int = 0
    """Cores each slot's commands are pinned to (os.sched_setaffinity); 0: no pinning."""
    gpus_per_slot: int = 0
    """GPUs each slot's commands see (CUDA_VISIBLE_DEVICES); 0: left as it is."""


MAX_WORKERS = 64
"""More workers than this is a typo: each has a worktree and an agent."""


@dataclass(frozen=True)
class Config:
    metric: MetricConfig
    session: SessionConfig = field(default_factory=SessionConfig)
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig)
    decide: DecideConfig = field(default_factory=DecideConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    path: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class UIConfig:
    theme: str = "textual-dark"


@dataclass(frozen=True)
class UserConfig:
    """`$XDG_CONFIG_HOME/autoresearch-tui/config.toml`: personal settings."""

    keymap: dict[str, str] = field(default_factory=dict)
    ui: UIConfig = field(default_factory=UIConfig)


# ---------------------------------------------------------------------------------------
# Loading


def load_config(path: Path) -> Config:
    """Read and validate `path`. Raises UsageError with one sentence on any problem."""
    data = _read_toml(path, hint="create one with `autoresearch-tui init`")
    config = _build(Config, data, path, "")
    _check_semantics(config, path)
    return dataclasses.replace(config, path=path)


def load_user_config(path: Path | None = None) -> UserConfig:
    path = path or user_config_path()
    if not path.exists():
        return UserConfig()
    return _build(UserConfig, _read_toml(path, hint=""), path, "")


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autoresearch-tui" / "config.toml"


def _read_toml(path: Path, hint: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"No config file at {path}; {hint or 'check the path'}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read {path}: {exc}.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}); fix the syntax there.") from None


_T = TypeVar("_T")


def _build(cls: type[_T], data: Any, path: Path, prefix: str) -> _T:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise UsageError(f"{path}: `{where}` must be a table; write it as [{where}].")
    hints = typing.get_type_hints(cls)
    assert dataclasses.is_dataclass(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)
              if not (cls is Config and f.name == "path")}  # Config.path: where it was read
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            fix = f"did you mean `{prefix}{close[0]}`?" if close else (
                f"remove it (known keys: {', '.join(fields)})")
            raise UsageError(f"{path}: unknown key `{prefix}{key}`; {fix}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UsageError(f"{path}: missing required key `{prefix}{name}`; add it "
                                 f"(see config.example.toml).")
            continue
        values[name] = _convert(hints[name], data[name], path, f"{prefix}{name}")
    return cls(**values)


def _convert(tp: Any, value: Any, path: Path, key: str) -> Any:
    if tp is Any:  # passed through as TOML gave it (executor.runtime_env)
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path, key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, path, key + ".")
    if origin is Literal:
        if value not in args:
            choices = " or ".join(f'"{a}"' for a in args)
            raise UsageError(f"{path}: `{key}` is {value!r}; it must be {choices}.")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise UsageError(f"{path}: `{key}` must be a list, like {key} = [\"...\"].")
        (item,) = args
        return [_convert(item, v, path, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{path}: `{key}` must be a table.")
        return {str(k): _convert(args[1], v, path, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{path}: `{key}` must be true or false, not {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{path}: `{key}` must be a whole number, not {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{path}: `{key}` must be a number, not {value!r}.")
        if not math.isfinite(value):
            raise UsageError(f"{path}: `{key}` is {value!r}; it must be a finite number.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UsageError(f"{path}: `{key}` must be a string in quotes, not {value!r}.")
        return value
    raise TypeError(f"unsupported config type {tp!r}")  # a programming error, not input


def _check_interleaved_runs(m: MetricConfig, alpha: float,
                            bad: Callable[[str, str], UsageError]) -> None:
    """Interleaved runs are compared within blocks of pairs, and with too few pairs no
    change can ever be credible (2 pairs: the clearest win has p = 1/6): refuse such a
    config."""
    from app.engine.decide import interleaved_can_keep, smallest_interleaved_p

    if not 0 < alpha < 1 or smallest_interleaved_p(max(m.repeats, m.max_repeats)) <= alpha:
        return  # possible (the exact check simulates: left to the loop's start)
    need = next((k for k in range(m.repeats, MAX_RUNS + 1)
                 if interleaved_can_keep(m.repeats, k, alpha)), MAX_RUNS)
    raise bad("metric.max_repeats", f"is {m.max_repeats}: with interleave, {m.max_repeats} "
              f"pairs of runs can never show a change credible at alpha {alpha:g}, so "
              f"nothing would ever be kept; raise it to at least {need}")


def _check_semantics(config: Config, path: Path) -> None:
    def bad(key: str, problem: str) -> UsageError:
        return UsageError(f"{path}: `{key}` {problem}.")

    m = config.metric
    if not m.command.strip():
        raise bad("metric.command", "is empty; set it to the command that prints the metric")
    if m.repeats < 1:
        raise bad("metric.repeats", "must be at least 1")
    if m.max_repeats < m.repeats:
        raise bad("metric.max_repeats", f"must be at least metric.repeats ({m.repeats})")
    if m.calibration_runs < 1:
        raise bad("metric.calibration_runs", "must be at least 1")
    if m.interleave:
        _check_interleaved_runs(m, config.decide.alpha, bad)
    for key, value in (("metric.repeats", m.repeats), ("metric.max_repeats", m.max_repeats),
                       ("metric.calibration_runs", m.calibration_runs)):
        if value > MAX_RUNS:
            raise bad(key, f"is {value}; at most {MAX_RUNS} runs are allowed")
    if not 0 <= m.confirm_runs <= MAX_RUNS:
        raise bad("metric.confirm_runs", f"is {m.confirm_runs}; it must be 0 (off) to {MAX_RUNS}")
    if m.remeasure_every < 0:
        raise bad("metric.remeasure_every", "must be 0 (never) or more")
    for entry in config.session.setup_inputs:
        if not entry.strip() or entry.startswith(("/", "~")):
            raise bad("session.setup_inputs", f"holds {entry!r}; list globs of files inside "
                      "the repository, relative to its root, such as \"deps/*.txt\"")
    for entry in config.session.link:
        parts = entry.replace("\\", "/").split("/")
        if not entry.strip() or entry.startswith(("/", "~")) or ".." in parts \
                or all(p in ("", ".") for p in parts):
            raise bad("session.link", f"holds {entry!r}; list paths inside the repository, "
                      "relative to its root, such as \".venv\" or \"node_modules\"")
    problem = format_problem(m.format, m.path, m.unit)
    if problem:
        key, _, rest = problem.partition(" ")
        raise bad(key, rest)
    timeouts: tuple[tuple[str, float], ...] = (
        ("metric.timeout_s", m.timeout_s), ("checks.timeout_s", config.checks.timeout_s),
        ("holdout.timeout_s", config.holdout.timeout_s),
        ("agent.command.timeout_s", config.agent.command.timeout_s))
    for key, seconds in timeouts:
        if seconds <= 0:
            raise bad(key, "must be a positive number of seconds")
    if not 0 < config.decide.alpha < 1:
        raise bad("decide.alpha", "must be between 0 and 1, such as 0.05")
    if config.decide.min_effect < 0:
        raise bad("decide.min_effect", "must be 0 or a positive fraction such as 0.01")
    if not 0 <= config.holdout.min_transfer <= 1:
        raise bad("holdout.min_transfer", "must be between 0 (off) and 1, such as 0.25")
    if config.holdout.max_regression < 0:
        raise bad("holdout.max_regression", "must be 0 or a positive fraction such as 0.02")
    if not 3 <= config.holdout.max_repeats <= MAX_HOLDOUT_PAIRS:
        raise bad("holdout.max_repeats", f"is {config.holdout.max_repeats}; it must be between "
                  f"3 and {MAX_HOLDOUT_PAIRS} pairs of runs, such as 15")
    units = "s, ms, us or ns"
    if m.kind == "time" and seconds_per_unit(m.unit) is None:
        raise bad("metric.kind", f"is \"time\" but `metric.unit` is {m.unit!r}; set the unit "
                  f"to one of {units} so the harness can compare it with the process's time")
    if config.guard.outside_clock:
        if metric_seconds_per_unit(m) is None:
            raise bad("guard.outside_clock", f"needs a time metric (`metric.unit` one of "
                      f"{units}); remove it or fix the unit")
        if m.direction != "lower":
            raise bad("guard.outside_clock", "needs `metric.direction = \"lower\"` (a time); "
                      "remove it or fix the direction")
    if not 0 < config.guard.outside_clock_fraction <= 1:
        raise bad("guard.outside_clock_fraction", "must be a fraction above 0 and at most 1, "
                  "such as 0.25")
    for i, g in enumerate(config.guard.metric):
        if g.max_increase is None and g.max_decrease is None:
            raise bad(f"guard.metric[{i}]", "needs max_increase or max_decrease")
    for name in config.session.env:
        if looks_secret(name):
            raise bad("session.env", f"lists {name}, which looks like a secret and is never "
                      "passed from there; name it in `session.env_secrets` if your "
                      "benchmark really needs it")
    for key, names in (("session.env", config.session.env), ("session.env_secrets",
                       config.session.env_secrets), ("agent.command.env",
                       config.agent.command.env)):
        for name in names:
            if not name or "=" in name or "\0" in name:
                raise bad(key, f"holds {name!r}, which is not a variable name; list names "
                          "only, such as \"MY_SETTING\"")
    _check_executor(config.executor, bad)
    _check_parallel(config.parallel, bad)
    tag = config.session.tag
    if tag is not None:
        validate_tag(tag, source=f"{path}: `session.tag`")
    a = config.agent
    if a.kind == "command" and "{prompt_file}" not in a.command.command:
        raise bad("agent.command.command", "must be set and contain {prompt_file} when "
                  "agent.kind is \"command\"")
    if a.anthropic.max_turns < 1 or a.anthropic.max_tokens < 1:
        raise bad("agent.anthropic.max_turns", "and max_tokens must be at least 1")
    if a.max_consecutive_errors < 1:
        raise bad("agent.max_consecutive_errors", "must be at least 1")
    if a.memory_tokens != 0 and not MIN_MEMORY_TOKENS <= a.memory_tokens <= 100_000:
        raise bad("agent.memory_tokens", f"is {a.memory_tokens}; it must be 0 (no memory) "
                  f"or between {MIN_MEMORY_TOKENS} and 100000, such as 2000")
    if config.session.stop_after_no_gain < 0:
        raise bad("session.stop_after_no_gain", "must be 0 (never) or a number of "
                  "experiments, such as 30")
    limits: tuple[tuple[str, float | None], ...] = (
        ("session.max_experiments", config.session.max_experiments),
        ("session.max_hours", config.session.max_hours),
        ("session.max_cost_usd", config.session.max_cost_usd),
        ("session.max_total_tokens", config.session.max_total_tokens))
    for key, limit in limits:
        if limit is not None and limit <= 0:
            raise bad(key, "must be positive; leave it out for no limit")


def check_parallel(p: ParallelConfig, path: Path) -> None:
    """`[parallel]` as `load_config` checks it (also after `--workers` replaced a value)."""
    _check_parallel(p, lambda key, problem: UsageError(f"{path}: `{key}` {problem}."))


def _check_parallel(p: ParallelConfig, bad: Callable[[str, str], UsageError]) -> None:
    if not 1 <= p.workers <= MAX_WORKERS:
        raise bad("parallel.workers", f"is {p.workers}; it must be between 1 (one agent at "
                  f"a time) and {MAX_WORKERS}")
    if not 1 <= p.measure_slots <= MAX_WORKERS:
        raise bad("parallel.measure_slots", f"is {p.measure_slots}; it must be between 1 "
                  f"and {MAX_WORKERS} (1: one measurement at a time, undisturbed)")
    cpus = os.cpu_count() or 1
    if p.cpus_per_slot < 0 or p.cpus_per_slot * p.measure_slots > cpus:
        raise bad("parallel.cpus_per_slot", f"is {p.cpus_per_slot}; it must be 0 (no "
                  f"pinning) or at most {cpus // p.measure_slots} so that "
                  f"{p.measure_slots} slot(s) fit on this machine's {cpus} cores")
    if not 0 <= p.gpus_per_slot <= MAX_WORKERS:
        raise bad("parallel.gpus_per_slot", f"is {p.gpus_per_slot}; it must be 0 (leave "
                  f"CUDA_VISIBLE_DEVICES as it is) or a number of GPUs up to {MAX_WORKERS}, "
                  "such as 1")


def _check_executor(e: ExecutorConfig, bad: Callable[[str, str], UsageError]) -> None:
    if not (e.address in ("auto", "local")
            or re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", e.address)):
        raise bad("executor.address", f"is {e.address!r}; use \"auto\", \"local\", "
                  "\"ray://host:10001\" (Ray Client) or \"host:6379\" (the head node)")
    for name, amount in e.resources.items():
        if amount <= 0:
            raise bad(f"executor.resources.{name}", "must be a positive amount, such as 1")
    if e.max_concurrent is not None and e.max_concurrent < 1:
        raise bad("executor.max_concurrent", "must be at least 1; leave it out for the "
                  "cluster's capacity")
    if "working_dir" in e.runtime_env or "py_modules" in e.runtime_env:
        raise bad("executor.runtime_env", "must not set working_dir or py_modules: the "
                  "code under test travels to the node as a git bundle of the measured "
                  "commits; remove that key")
