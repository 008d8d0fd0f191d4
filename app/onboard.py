"""`autoresearch-tui init`: from answers and detection to a committed `autoresearch.toml`.

The steps (issue 7): detect the language and the test command; ask for the benchmark, the
metric, its direction and unit, the scope, extra protected files, the agent, and
`setup`/`link` when installed dependencies exist; run the benchmark once in a scratch
worktree made from HEAD (where a session starts) and show what it parsed; write the config
and the program file; commit exactly those two files.

The pure helpers (`detect_project`, `trial_run`, `render_config`, `render_program`,
`write_and_commit`, ...) are shared with the TUI's form (`app/screens/init_form.py`), so
the terminal questions and the form cannot drift apart. Nothing is written until every
answer is validated, and a failed commit leaves the repository as it was.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from app.command_options import InitOptions
from app.config import CONFIG_NAME, load_config
from app.engine import git_cli
from app.engine.git_cli import GitError
from app.engine.records import guess_direction
from app.errors import UsageError
from app.files import temp_beside

PROGRAM_NAME = "autoresearch.md"
TRIAL_TIMEOUT_S = 600.0
METRIC_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
AGENT_KINDS = ("anthropic", "command", "scripted")
NPM_DEFAULT_TEST = 'echo "Error: no test specified" && exit 1'
DEPENDENCY_DIRS = (".venv", "venv", "node_modules")
UNIT_SUFFIXES = {"ms": "ms", "s": "s", "us": "us", "ns": "ns", "kb": "KB", "mb": "MB",
                 "bytes": "bytes", "b": "bytes", "pct": "%"}


# ---------------------------------------------------------------------------------------
# Detection


@dataclass
class Detection:
    """What `init` can tell about a project by looking at its files."""

    language: str | None = None
    """python, node, rust, go or make; None when nothing is recognised."""
    checks: str | None = None
    """The proposed checks command (the test suite)."""
    link: list[str] = field(default_factory=list)
    """Installed-dependency folders to symlink into the session's worktree."""
    scope: list[str] = field(default_factory=list)
    """Default globs of the files the agent may change (for the program file)."""
    bench: str | None = None
    """A proposed benchmark command for a benchmarking tool the project already uses."""
    bench_tool: str | None = None
    """That tool (pytest-benchmark, criterion, pyperf, google-benchmark, hyperfine), to say
    what was found."""


def detect_project(root: Path) -> Detection:
    """Recognise the language, its test command and its benchmarking tool in `root`."""
    detection = _detect_language(root)
    detection.bench_tool, detection.bench = detect_bench_tool(root) or (None, None)
    return detection


def _detect_language(root: Path) -> Detection:
    link = [d for d in DEPENDENCY_DIRS if (root / d).is_dir()]
    python = _python_checks(root)
    if python:
        return Detection("python", python, link, ["**/*.py"])
    package = root / "package.json"
    if package.is_file():
        return Detection("node", "npm test" if _npm_has_test(package) else None, link,
                         ["**/*.js", "**/*.ts", "**/*.mjs", "**/*.cjs"])
    if (root / "Cargo.toml").is_file():
        return Detection("rust", "cargo test", link, ["src/**/*.rs"])
    if (root / "go.mod").is_file():
        return Detection("go", "go test ./...", link, ["**/*.go"])
    if _make_has_test(root):
        return Detection("make", "make test", link, [])
    if _nested_python_tests(root):
        return Detection("python", _pytest_command(root), link, ["**/*.py"])
    if any(root.glob("*.py")) or (root / "pyproject.toml").is_file():
        return Detection("python", None, link, ["**/*.py"])
    return Detection(None, None, link, [])


def _pytest_command(root: Path) -> str:
    python = ".venv/bin/python" if (root / ".venv" / "bin" / "python").exists() else "python3"
    return f"{python} -m pytest -q"


def _nested_python_tests(root: Path) -> bool:
    """Test files deeper down (`test/`, `src/pkg/tests/`, `pkg/a/tests/`), where pytest run
    at the root finds them too. Looked for after the other languages: a Node or Rust
    project with a helper script named test_*.py is still that language."""
    return any(path.name.startswith("test_") or path.name.endswith("_test.py")
               for path in _project_files(root, suffixes=(".py",), depth=4))


def _python_checks(root: Path) -> str | None:
    command = _pytest_command(root)
    for name in ("pytest.ini", "conftest.py"):
        if (root / name).is_file():
            return command
    for name, marker in (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"),
                         ("tox.ini", "[pytest]")):
        path = root / name
        if path.is_file() and marker in path.read_text(encoding="utf-8", errors="replace"):
            return command
    tests = root / "tests"
    if tests.is_dir() and any(tests.rglob("*.py")):
        return command
    if any(root.glob("test_*.py")) or any(root.glob("*_test.py")):
        return command  # tests at the repository's root (test_slow.py), as pytest finds them
    return None


def _npm_has_test(package: Path) -> bool:
    try:
        data = json.loads(package.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    script = (data.get("scripts") or {}).get("test") if isinstance(data, dict) else None
    return isinstance(script, str) and bool(script.strip()) and script.strip() != NPM_DEFAULT_TEST


def _make_has_test(root: Path) -> bool:
    for name in ("GNUmakefile", "makefile", "Makefile"):
        path = root / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            return re.search(r"^test\s*:", text, re.MULTILINE) is not None
    return False


DEPENDENCY_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt",
                    "requirements-dev.txt", "requirements_dev.txt", "dev-requirements.txt",
                    "requirements/dev.txt", "requirements/test.txt", "Pipfile", "tox.ini")
BENCH_SCRIPTS = ("bench.py", "bench.sh", "bench.js", "benchmark.py", "benchmark.sh")
COMMAND_FORMATS = (
    (re.compile(r"--benchmark-json[= ]"), "pytest-benchmark"),
    (re.compile(r"\bhyperfine\b.*--export-json"), "hyperfine"),
    (re.compile(r"--benchmark_out[= ]"), "google-benchmark"),
    (re.compile(r"\bcargo\s+criterion\b.*--message-format[= ]json"), "criterion"),
    (re.compile(r"\bpyperf\b.*\s(-o|--output)[= ]"), "pyperf"),
)


def _mentions(root: Path, names: tuple[str, ...], words: tuple[str, ...]) -> bool:
    for name in names:
        path = root / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").lower()
            if any(word in text for word in words):
                return True
    return False


def detect_bench_tool(root: Path) -> tuple[str, str] | None:
    """(tool, proposed command) for a benchmarking tool the project already uses, so its
    benchmarks need no rewrite to print METRIC lines: pytest-benchmark in the dependencies,
    criterion with a `benches/` folder, a pyperf script, Google Benchmark (a CMake target
    linked with `benchmark::benchmark`, or a C++ file including `benchmark/benchmark.h`), or
    hyperfine on PATH around a bench script. None when there is none."""
    python = ".venv/bin/python" if (root / ".venv" / "bin" / "python").exists() else "python3"
    if _mentions(root, DEPENDENCY_FILES, ("pytest-benchmark", "pytest_benchmark")):
        where = next((d for d in ("benchmarks", "bench", "benches") if (root / d).is_dir()), "")
        return "pytest-benchmark", (f"{python} -m pytest -q -p no:cacheprovider "
                                    f"{where + ' ' if where else ''}--benchmark-only "
                                    "--benchmark-json={output}")
    if (root / "benches").is_dir() and _mentions(root, ("Cargo.toml",), ("criterion",)):
        return "criterion", "cargo criterion --message-format=json"
    if _mentions(root, DEPENDENCY_FILES, ("pyperf",)):
        for script in sorted(root.glob("bench*.py")) + sorted(root.glob("bench*/*.py")):
            if "pyperf" in script.read_text(encoding="utf-8", errors="replace"):
                rel = script.relative_to(root).as_posix()
                return "pyperf", f"{python} {rel} --quiet -o {{output}}"
    google = _google_benchmark(root)
    if google:
        return "google-benchmark", google
    if shutil.which("hyperfine"):
        found = next((s for s in BENCH_SCRIPTS if (root / s).is_file()), None)
        if found:
            runner = {".py": "python3 ", ".js": "node ", ".sh": "sh "}[Path(found).suffix]
            return "hyperfine", (f"hyperfine --warmup 1 --runs 5 --export-json {{output}} "
                                 f"-n bench '{runner}{found}'")
    return None


GBENCH_FLAGS = "--benchmark_format=json --benchmark_out={output}"
GBENCH_INCLUDE = re.compile(r'#\s*include\s*[<"]benchmark/benchmark\.h[>"]')
GBENCH_LINK = re.compile(r"target_link_libraries\s*\(\s*([A-Za-z0-9_.+-]+)\b[^)]*"
                         r"\bbenchmark::benchmark(?:_main)?\b")
CPP_SUFFIXES = (".cc", ".cpp", ".cxx", ".c++")
SKIP_DIRS = {".git", "build", "node_modules", ".venv", "venv", "third_party", "external",
             "vendor", "_deps"}


def _project_files(root: Path, names: tuple[str, ...] = (), suffixes: tuple[str, ...] = (),
                   depth: int = 3) -> list[Path]:
    """Files named `names` or ending in `suffixes`, at most `depth` folders down, skipping
    build output and vendored code (a checkout of Google Benchmark itself is not the
    project's benchmark)."""
    found: list[Path] = []
    folders = [root]
    for _ in range(depth + 1):
        deeper: list[Path] = []
        for folder in folders:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir() and not entry.is_symlink():
                    if entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                        deeper.append(entry)
                elif entry.is_file() and (entry.name in names or entry.suffix in suffixes):
                    found.append(entry)
        folders = deeper
    return found


def _google_benchmark(root: Path) -> str | None:
    """The command for a Google Benchmark binary: a CMake target linked with
    `benchmark::benchmark` (configured, built and run), else a C++ file that includes
    `benchmark/benchmark.h` (compiled with the system's libbenchmark)."""
    for cmake in _project_files(root, names=("CMakeLists.txt",)):
        match = GBENCH_LINK.search(cmake.read_text(encoding="utf-8", errors="replace"))
        if match:
            target = match.group(1)
            where = cmake.parent.relative_to(root).as_posix()
            top = "."
            if where != "." and not (root / "CMakeLists.txt").is_file():
                top, where = where, "."  # a project whose CMake root is that folder
            binary = f"./build/{where + '/' if where != '.' else ''}{target}"
            return (f"cmake -S {top} -B build -DCMAKE_BUILD_TYPE=Release && cmake --build "
                    f"build --target {target} && {binary} {GBENCH_FLAGS}")
    for source in _project_files(root, suffixes=CPP_SUFFIXES):
        if GBENCH_INCLUDE.search(source.read_text(encoding="utf-8", errors="replace")):
            rel, name = source.relative_to(root).as_posix(), source.stem
            if (root / "CMakeLists.txt").is_file():  # a target we could not name: guess
                return ("cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build "
                        f"build --target {name} && ./build/{name} {GBENCH_FLAGS}")
            return (f"c++ -O2 -std=c++17 {rel} -o {name} -lbenchmark -lpthread && ./{name} "
                    f"{GBENCH_FLAGS}")
    return None


def format_of_command(command: str) -> str:
    """The `[metric] format` a benchmark command's own flags call for ("lines" if none)."""
    for pattern, fmt in COMMAND_FORMATS:
        if pattern.search(command):
            return fmt
    return "lines"


# ---------------------------------------------------------------------------------------
# Answers and their validation


@dataclass
class InitAnswers:
    """Everything `init` asks. Built from flags, questions or the form."""

    bench: str
    direction: str = "lower"
    metric: str | None = None
    """None: the first METRIC line's name, else "metric"."""
    unit: str | None = None
    """None: guessed from the output or the metric's name."""
    checks: str | None = None
    agent: str = "anthropic"
    agent_command: str | None = None
    """The command template when `agent` is "command" (must contain {prompt_file})."""
    scope: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    setup: str | None = None
    link: list[str] = field(default_factory=list)
    goal: str = ""


def validate_metric_name(name: str) -> str | None:
    """An error sentence, or None when `name` can be a metric name."""
    if not name:
        return "The metric name is empty; use a word such as time_ms."
    if not METRIC_NAME_RE.match(name):
        return (f"The metric name {name!r} is not valid; use letters, digits, '_', '.' and "
                "'-', starting with a letter, such as time_ms.")
    return None


def validate_answers(answers: InitAnswers) -> dict[str, str]:
    """Field name -> error sentence for every answer that cannot work (empty: all good)."""
    errors: dict[str, str] = {}
    if not answers.bench.strip():
        errors["bench"] = "The benchmark command is empty; give the command that prints the metric."
    if answers.metric is not None:
        problem = validate_metric_name(answers.metric)
        if problem:
            errors["metric"] = problem
    if answers.direction not in ("lower", "higher"):
        errors["direction"] = (f"The direction {answers.direction!r} is neither lower nor "
                               "higher; say which way is better.")
    if answers.agent not in AGENT_KINDS:
        errors["agent"] = (f"The agent kind {answers.agent!r} is unknown; use "
                           f"{', '.join(AGENT_KINDS)}.")
    elif answers.agent == "command" and "{prompt_file}" not in (answers.agent_command or ""):
        errors["agent"] = ("A command agent needs a command template containing "
                           "{prompt_file}, such as `claude -p \"$(cat {prompt_file})\"`.")
    if answers.unit is not None and ("\n" in answers.unit or len(answers.unit) > 20):
        errors["unit"] = "The unit should be short, such as ms, KB or %."
    return errors


# ---------------------------------------------------------------------------------------
# The trial run


@dataclass
class TrialRun:
    """The benchmark run once on HEAD: what it printed and what the harness parsed."""

    command: str
    ok: bool
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    metric: str | None = None
    """The primary metric's name as it will be configured."""
    unit: str | None = None
    error: str | None = None
    """One sentence: why the run cannot be used (None when ok)."""
    output_tail: str = ""
    duration_s: float = 0.0
    format: str = "lines"
    """`[metric] format`, from the command's own flags (`format_of_command`)."""
    aggregate: str | None = None
    """"sum" when a tool's output holds several benchmarks and no name was given."""
    fingerprint: str | None = None
    """What its FINGERPRINT lines said (None: it prints none)."""
    data_files: list[str] = field(default_factory=list)
    """Tracked non-source files it opened (app/engine/data_reads.py): written into
    `[guard] protected`."""

    def summary(self) -> str:
        """What the harness parsed, for the user to check."""
        if not self.ok:
            return f"{self.error}\n{self.output_tail}".rstrip()
        others = ", ".join(f"{k}={v:g}" for k, v in self.metrics.items() if k != self.metric)
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.metric} = {self.value:g}{unit} (took {self.duration_s:.1f} s)"
        text += f"; also {others}" if others else ""
        if self.data_files:
            text += (f"\nIt reads {', '.join(self.data_files)}: protected ([guard] "
                     "protected), so a change cannot shrink its data.")
        if self.fingerprint:
            text += ("\nIt prints a FINGERPRINT of its results: the config requires it, and "
                     "a change that computes something else is checks_failed.")
        return text


def trial_run(root: Path, command: str, *, metric: str | None = None,
              link: list[str] | None = None, setup: str | None = None,
              timeout_s: float = TRIAL_TIMEOUT_S, here: str | None = None) -> TrialRun:
    """Run `command` once in a scratch worktree of HEAD and parse its output.

    A session starts from HEAD, so the trial does too: an uncommitted benchmark script is
    missing here as it would be there (the error says so). The worktree is removed
    afterwards, even on error or Ctrl-C. `here`: the folder init was started in, relative
    to `root`, when it is not the root (a failure then says that commands run at the root).
    """
    from app.engine import formats
    from app.engine.fingerprints import parse_fingerprint
    from app.engine.guard import paths_named_by
    from app.engine.measure import parse_metrics
    from app.engine.process import last_lines, run_command

    with ExitStack() as stack:
        try:
            scratch = stack.enter_context(git_cli.scratch_worktree(
                root, "HEAD", link=link or [], prefix="autoresearch-init-"))
        except GitError as exc:
            raise UsageError(str(exc)) from None
        if setup:
            prepared = run_command(setup, scratch, 3600)
            if not prepared.ok:
                return TrialRun(command, False, error=f"The setup command `{setup}` failed "
                                f"({prepared.failure()}); fix it or leave setup empty.",
                                output_tail=last_lines(prepared.output, 15))
        with formats.output_file(command) as (to_run, output):
            result = run_command(to_run, scratch, timeout_s)
            tail = last_lines(result.output, 15)
            if not result.ok:
                missing = sorted(paths_named_by(command, root)
                                 - paths_named_by(command, scratch))
                hint = (f" ({', '.join(missing)} is not committed: the trial, like a session, "
                        "runs on HEAD; commit it first)") if missing else ""
                if not missing and here and not command.lstrip().startswith("cd "):
                    hint = (f" (it ran at the repository's root, not in {here}/ where you "
                            f"are: to run it there, give `cd {shlex.quote(here)} && "
                            f"{command}`)")
                return TrialRun(command, False, error=f"The benchmark `{command}` failed "
                                f"({result.failure()}){hint}; fix it and try again.",
                                output_tail=tail, duration_s=result.duration_s)
            text = result.stdout
            if output is not None:
                text = output.read_text(errors="replace") if output.exists() else ""
            fmt = formats.sniff(text) or format_of_command(command)
            if fmt != "lines":
                return _tool_trial(command, fmt, metric, result.stdout, output, tail,
                                   result.duration_s)
        parsed = parse_metrics(text, metric)
        if metric and parsed.metrics and metric not in parsed.metrics:
            return TrialRun(command, False, metrics=parsed.metrics,
                            error=f"The benchmark `{command}` prints no METRIC line named "
                            f"{metric!r} (it prints {', '.join(parsed.metrics)}); use one of "
                            "those as the metric name.", output_tail=tail,
                            duration_s=result.duration_s)
        if parsed.error or parsed.value is None:
            return TrialRun(command, False, metrics=parsed.metrics,
                            error=f"The benchmark `{command}` {_as_clause(parsed.error)}; "
                            "make it print `METRIC name=value` or a number on its last line.",
                            output_tail=tail, duration_s=result.duration_s)
        name = metric or next(iter(parsed.metrics), None) or "metric"
        if metric is None and name not in parsed.metrics:
            name = "metric"
        return TrialRun(command, True, parsed.value, dict(parsed.metrics), name,
                        parsed.unit or guess_unit(name), None, tail, result.duration_s,
                        fingerprint=parse_fingerprint(result.stdout),
                        data_files=_data_files(command, scratch, timeout_s))


@dataclass(frozen=True)
class _TrialMetric:
    """The `[metric]` keys the readers look at, before there is a config."""

    name: str
    format: str = "lines"
    unit: str = ""
    stat: str = "median"
    aggregate: str | None = None
    path: str | None = None


def _data_files(command: str, scratch: Path, timeout_s: float) -> list[str]:
    """The repository data the benchmark reads, from one more run under strace (none
    without strace: the session warns then)."""
    from app.engine import data_reads

    tracked = _git(scratch, "ls-files", "-z").split("\0")
    found, _ = data_reads.audit([command], scratch, [t for t in tracked if t], timeout_s)
    return found


def _tool_trial(command: str, fmt: str, metric: str | None, stdout: str,
                output: Path | None, tail: str, duration_s: float) -> TrialRun:
    """A benchmarking tool's output: its benchmark (or the sum of all, when several and no
    name was given), in a unit that suits its size."""
    from app.engine import formats

    aggregate = None
    parsed = formats.read_run(_TrialMetric(metric or "metric", fmt), stdout, output)
    if parsed.value is None and metric is None and "aggregate" in (parsed.error or ""):
        aggregate = "sum"
        parsed = formats.read_run(_TrialMetric("metric", fmt, aggregate=aggregate), stdout,
                                  output)
    if parsed.value is None:
        return TrialRun(command, False, error=f"The benchmark `{command}` ran, but its {fmt} "
                        f"output cannot be used: {parsed.error}.", output_tail=tail,
                        duration_s=duration_s, format=fmt)
    unit = parsed.unit or ""
    if unit == "s":
        unit = "ns" if parsed.value < 1e-6 else "us" if parsed.value < 1e-3 else \
            "ms" if parsed.value < 1 else "s"
        parsed = formats.read_run(_TrialMetric(metric or "metric", fmt, unit, "median",
                                               aggregate), stdout, output)
    assert parsed.value is not None
    name = metric or "metric"
    return TrialRun(command, True, parsed.value, dict(parsed.metrics), name, unit, None, tail,
                    duration_s, fmt, aggregate)


def _as_clause(error: str | None) -> str:
    if not error or error.startswith("printed"):
        return error or "printed no number"
    return f"printed no usable number ({error})"


def guess_unit(metric: str) -> str:
    """`time_ms` -> ms, `size_kb` -> KB; '' when the name says nothing."""
    suffix = re.split(r"[_.-]", metric.lower())[-1] if metric else ""
    return UNIT_SUFFIXES.get(suffix, "") if suffix != metric.lower() else ""


# ---------------------------------------------------------------------------------------
# Rendering


def build_config(answers: InitAnswers, trial: TrialRun | None = None) -> dict[str, Any]:
    """The TOML-shaped dict of the config (only what differs from the defaults and matters)."""
    metric = answers.metric or (trial.metric if trial else None) or "metric"
    unit = answers.unit if answers.unit is not None else (
        (trial.unit if trial else None) or guess_unit(metric))
    data: dict[str, Any] = {"metric": {"command": answers.bench.strip(), "name": metric,
                                       "direction": answers.direction, "unit": unit or ""}}
    fmt = trial.format if trial is not None and trial.ok else format_of_command(answers.bench)
    if fmt != "lines":
        data["metric"]["format"] = fmt
        if trial is not None and trial.aggregate and not answers.metric:
            data["metric"]["aggregate"] = trial.aggregate
    if trial is not None and trial.fingerprint:
        data["metric"]["fingerprint"] = True
    fixed_time = FIXED_TIME_BENCH.search(answers.bench)
    if answers.checks and answers.checks.strip():
        data["checks"] = {"command": answers.checks.strip()}
    session: dict[str, Any] = {}
    if answers.setup and answers.setup.strip():
        session["setup"] = answers.setup.strip()
    if answers.link:
        session["link"] = list(answers.link)
    if session:
        data["session"] = session
    guard: dict[str, Any] = {}
    protected = list(answers.protected)
    if trial is not None and trial.ok:
        protected += [p for p in trial.data_files if p not in protected]
    if protected:
        guard["protected"] = protected
    if fixed_time and (unit or "").lower() in ("s", "ms", "us", "ns"):
        guard["outside_clock"] = False  # it runs for a fixed time, whatever the code's speed
    if guard:
        data["guard"] = guard
    agent: dict[str, Any] = {"kind": answers.agent, "program": PROGRAM_NAME}
    if answers.agent == "command":
        agent["command"] = {"command": answers.agent_command or ""}
    elif answers.agent == "scripted":
        agent["scripted"] = {"patches": "patches"}
    data["agent"] = agent
    return data


def render_config(answers: InitAnswers, trial: TrialRun | None = None) -> str:
    header = ("# Written by `autoresearch-tui init`. Every key is explained in "
              "config.example.toml;\n# edit freely, then commit: a session starts from "
              "HEAD.\n")
    data = build_config(answers, trial)
    if not data["metric"].get("fingerprint"):
        header += ("# The strongest guard you can add: make the benchmark print `FINGERPRINT "
                   "<a digest of\n# its results>` and set `fingerprint = true` under [metric] "
                   "(docs/safety.md).\n")
    if data.get("guard", {}).get("outside_clock") is False:
        header += ("# outside_clock = false: this benchmark runs for a fixed time, so the "
                   "process's time\n# cannot confirm a gain (docs/safety.md).\n")
    return header + "\n" + tomli_w.dumps(data)


def render_program(answers: InitAnswers, detection: Detection | None = None,
                   trial: TrialRun | None = None) -> str:
    """The program file: goal, scope, constraints and an `## Ideas` backlog."""
    config = build_config(answers, trial)
    metric = config["metric"]
    unit = f" ({metric['unit']})" if metric["unit"] else ""
    goal = answers.goal.strip() or (f"Make `{metric['name']}` {metric['direction']} without "
                                    "breaking anything.")
    scope = answers.scope or (detection.scope if detection else []) or ["the project's source"]
    locked = ["the benchmark and anything it runs", "the tests", f"`{CONFIG_NAME}`",
              f"`{PROGRAM_NAME}`"] + [f"`{p}`" for p in answers.protected]
    lines = [
        "# Goal", "", goal, "",
        f"The harness runs `{metric['command']}` several times and reads "
        f"`{metric['name']}`{unit}; {metric['direction']} is better. It keeps a change only "
        "when the improvement stands out from the benchmark's noise and the checks pass.", "",
        "## Scope", "", "Change:", *[f"- `{s}`" for s in scope], "",
        "Do not change (the harness rejects such proposals): " + ", ".join(locked) + ".", "",
        "## Constraints", "",
    ]
    if answers.checks:
        lines.append(f"- `{answers.checks}` must pass.")
    lines += [
        "- Keep the behaviour the same; add no dependencies unless the goal needs them.",
        "- Do not special-case the benchmark's inputs: a speed-up must hold on other data.",
        "- Prefer small, reviewable changes; one idea per experiment.", "",
        "## Ideas", "",
        "- (One idea per line. The agent works through this list and adds what it learns.)",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Writing and committing


def write_and_commit(root: Path, config_text: str, program_text: str, *, commit: bool = True,
                     overwrite: bool = False, keep_program: bool = True) -> Path:
    """Write the config and program file, validate, and commit exactly those two files.

    Both are written to temporary files first and renamed only after the config loads
    back; if the commit fails, the previous contents (or absence) are restored and the
    index entries are reset, so nothing is half-written. Returns the config's path.
    """
    config_path, program_path = root / CONFIG_NAME, root / PROGRAM_NAME
    if config_path.exists() and not overwrite:
        raise UsageError(f"{config_path} already exists; edit it, or remove it and run "
                         "`autoresearch-tui init` again.")
    write_program = not (keep_program and program_path.exists())
    previous = {p: (p.read_bytes() if p.exists() else None) for p in (config_path, program_path)}
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in ((config_path, config_text), (program_path, program_text)):
            if path is program_path and not write_program:
                continue
            fd, tmp = temp_beside(path)
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        load_config(staged[0][0])  # validate before anything becomes visible
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    if commit:
        names = [CONFIG_NAME, PROGRAM_NAME]
        try:
            _git(root, "add", "--", *names)
            if not git_cli.git_succeeds(root, "diff", "--cached", "--quiet", "--", *names):
                _git(root, "commit", "-q", "-m", "Add autoresearch config and program\n\n"
                     "Written by `autoresearch-tui init`: a session starts from HEAD, so it "
                     "needs them committed.", "--", *names)
        except BaseException as exc:
            git_cli.git_succeeds(root, "reset", "-q", "--", *names)
            for path, data in previous.items():
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(data)
            if isinstance(exc, UsageError):
                raise UsageError(_commit_failure(str(exc))) from None
            raise
    return config_path


IDENTITY_MISSING = ("Please tell me who you are", "unable to auto-detect email address",
                    "empty ident name")


def _commit_failure(git_says: str) -> str:
    """Why init could not commit, and the fix: git without a name and email (a new machine
    or container) is the common case; else a commit hook or commit signing said no."""
    if any(words in git_says for words in IDENTITY_MISSING):
        return ("git has no name and email to commit with; set them with `git config "
                "--global user.name \"Your Name\"` and `git config --global user.email "
                "you@example.com`, then run init again (nothing was written).")
    return (f"git refused to commit {CONFIG_NAME} and {PROGRAM_NAME} ({git_says}); a commit "
            "hook or commit signing may have said no: fix what it says, then run init again "
            "(nothing was written).")


def repo_root(root: Path) -> Path:
    """The top of the repository around `root`; UsageError if none or it has no commits."""
    from app.engine.layout import find_repo

    return find_repo(root).root


def _git(cwd: Path, *args: str) -> str:
    try:
        return git_cli.git(cwd, *args)
    except GitError as exc:
        raise UsageError(str(exc)) from None


# ---------------------------------------------------------------------------------------
# The command


Ask = Callable[[str], str]


def run_init(options: InitOptions) -> int:
    """`autoresearch-tui init`: questions on a terminal, flags for scripts."""
    root = repo_root(Path.cwd())
    here = folder_below(root, Path.cwd())
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    yes = options.yes
    detection = detect_project(root)
    if not interactive:
        missing = [flag for flag, value in (("--bench CMD", options.bench),
                                            ("--direction lower|higher",
                                             options.direction),
                                            ("--yes", yes or None)) if not value]
        if missing:
            raise UsageError(f"init without a terminal needs {' and '.join(missing)}; pass "
                             f"{'them' if len(missing) > 1 else 'it'}, or run init in a "
                             "terminal to be asked.")
        return _init_from_flags(root, options, detection, here)
    try:
        return _init_interactive(root, options, detection, input, here)
    except EOFError:
        raise UsageError("init stopped at end of input before all questions were answered; "
                         "nothing was written.") from None


def folder_below(root: Path, cwd: Path) -> str | None:
    """`cwd` relative to the repository's root, when init runs in a folder below it."""
    try:
        rel = cwd.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else None


def _where_commands_run(root: Path, here: str | None) -> None:
    if here:
        print(f"Commands run at the repository's root, {root}, not in {here}/; "
              f"autoresearch.toml goes there too.")


def _init_from_flags(root: Path, options: InitOptions, detection: Detection,
                     here: str | None = None) -> int:
    if (root / CONFIG_NAME).exists():
        raise UsageError(f"{root / CONFIG_NAME} already exists; edit it, or remove it and run "
                         "init again.")
    agent = options.agent or "anthropic"
    if agent == "command":
        raise UsageError("--agent command needs a command template that init cannot take as "
                         "a flag; run init in a terminal, or use --agent anthropic and edit "
                         "[agent] afterwards.")
    assert options.bench and options.direction  # run_init refuses flags without them
    checks = options.checks
    if checks is not None and checks.strip() in ("-", ""):
        checks = ""  # none, as the terminal's questions and the form take '-'
    answers = InitAnswers(bench=options.bench, direction=options.direction,
                          metric=options.metric, unit=options.unit,
                          checks=(checks or None) if checks is not None else detection.checks,
                          agent=agent, link=list(detection.link), scope=list(detection.scope))
    _raise_first(validate_answers(answers))
    print(_detected_line(detection))
    _where_commands_run(root, here)
    print(f"Running the benchmark once on HEAD: {answers.bench}", flush=True)
    trial = trial_run(root, answers.bench, metric=answers.metric, link=answers.link,
                      setup=answers.setup, here=here)
    if not trial.ok:
        raise UsageError(f"{trial.error}\nIts last lines:\n{trial.output_tail}".rstrip())
    print(f"Parsed: {trial.summary()}")
    path = write_and_commit(root, render_config(answers, trial),
                            render_program(answers, detection, trial))
    _print_done(path, committed=True)
    if answers.agent == "scripted" and not (root / "patches").is_dir():
        print("The scripted agent applies patches/*.patch in name order: add and commit them "
              "there.")
    return 0


def _raise_first(errors: dict[str, str]) -> None:
    if errors:
        raise UsageError(next(iter(errors.values())))


def _detected_line(detection: Detection) -> str:
    language = detection.language or "no known language"
    checks = detection.checks or "none found"
    tool = f"; benchmarks: {detection.bench_tool}" if detection.bench_tool else ""
    return f"Detected: {language}; tests: {checks}{tool}"


def _print_done(path: Path, committed: bool) -> None:
    what = "Wrote and committed" if committed else "Wrote (not committed)"
    print(f"{what} {path.name} and {PROGRAM_NAME}.")
    if committed and not git_cli.git_succeeds(path.parent, "symbolic-ref", "-q", "HEAD"):
        # A commit on a detached HEAD is on no branch: the next checkout leaves it behind.
        head = _git(path.parent, "rev-parse", "--short", "HEAD").strip()
        print(f"Note: HEAD is detached, so that commit ({head}) is on no branch; keep it with "
              "`git switch -c NAME` (or cherry-pick it onto your branch) before you check "
              "out another branch.")
    print("Next: edit the Goal and Ideas in autoresearch.md if you like, then run "
          "`autoresearch-tui` (or `autoresearch-tui run --headless`).")


def _init_interactive(root: Path, options: InitOptions, detection: Detection,
                      ask: Ask, here: str | None = None) -> int:
    print(_detected_line(detection))
    _where_commands_run(root, here)
    overwrite = False
    if (root / CONFIG_NAME).exists():
        if not _yes_no(ask, f"{CONFIG_NAME} already exists. Overwrite it?", False):
            raise UsageError(f"{CONFIG_NAME} already exists and was kept; edit it instead.")
        overwrite = True
    answer = options.checks or _question(
        ask, "Checks command (your test suite; '-' for none)", detection.checks or "-")
    checks = None if answer.strip() in ("-", "") else answer.strip()
    link = list(detection.link)
    if link and not _yes_no(ask, f"Link {', '.join(link)} from your checkout into the "
                            "session's worktree (so it needs no reinstall)?", True):
        link = []
    setup_answer = _question(ask, "Setup command run once in a new worktree ('-' for none)", "-")
    setup = None if setup_answer.strip() in ("-", "") else setup_answer.strip()
    bench = options.bench
    metric = options.metric
    while True:
        if not bench:
            bench = _question(ask, "Benchmark command (prints `METRIC name=value` or a "
                              "number, or a tool's JSON at {output}; empty to get a "
                              "template)", detection.bench or "")
        if not bench:
            return _offer_template(root, detection, ask)
        print(f"Running it once on HEAD: {bench}", flush=True)
        trial = trial_run(root, bench, metric=metric, link=link, setup=setup, here=here)
        if trial.ok:
            break
        print(f"{trial.error}\nIts last lines:\n{trial.output_tail}")
        bench = None
    print(f"Parsed: {trial.summary()}")
    metric = metric or _ask_valid(ask, "Metric name", trial.metric or "metric",
                                  validate_metric_name)
    direction = options.direction or _ask_valid(
        ask, "Which way is better, lower or higher", guess_direction(metric),
        lambda a: None if a in ("lower", "higher") else "Answer lower or higher.")
    unit = options.unit
    if unit is None:
        unit = _question(ask, "Unit", trial.unit or guess_unit(metric) or "-")
        unit = "" if unit == "-" else unit
    scope = _list(_question(ask, "Files the agent may change (globs, comma-separated)",
                            ", ".join(detection.scope) or "."))
    protected = _list(_question(ask, "Extra files it must not change (globs, comma-separated; "
                                "'-' for none)", "-"))
    agent = options.agent or _ask_valid(
        ask, "Agent kind (anthropic, command, scripted)", "anthropic",
        lambda a: None if a in AGENT_KINDS else f"Answer one of {', '.join(AGENT_KINDS)}.")
    agent_command = None
    if agent == "command":
        agent_command = _ask_valid(ask, "Agent command template (with {prompt_file})", "",
                                   lambda a: None if "{prompt_file}" in a else
                                   "It must contain {prompt_file}.")
    goal = _question(ask, "Goal, in one sentence", f"Make {metric} {direction}.")
    answers = InitAnswers(bench=bench, direction=direction, metric=metric, unit=unit,
                          checks=checks, agent=agent, agent_command=agent_command, scope=scope,
                          protected=protected, setup=setup, link=link, goal=goal)
    _raise_first(validate_answers(answers))
    config_text = render_config(answers, trial)
    print(f"\n{config_text}")
    keep_program = (root / PROGRAM_NAME).exists() and _yes_no(
        ask, f"{PROGRAM_NAME} exists. Keep it as it is?", True)
    commit = options.yes or _yes_no(
        ask, f"Write {CONFIG_NAME} and {PROGRAM_NAME} and commit them?", True)
    if not commit and not _yes_no(ask, "Write them without committing?", False):
        print("Nothing written.")
        return 0
    path = write_and_commit(root, config_text, render_program(answers, detection, trial),
                            commit=commit, overwrite=overwrite, keep_program=keep_program)
    _print_done(path, committed=commit)
    return 0


def _question(ask: Ask, prompt: str, default: str) -> str:
    shown = f" [{default}]" if default else ""
    answer = ask(f"{prompt}{shown}: ").strip()
    return answer or default


def _ask_valid(ask: Ask, prompt: str, default: str,
               check: Callable[[str], str | None]) -> str:
    while True:
        answer = _question(ask, prompt, default)
        problem = check(answer)
        if problem is None:
            return answer
        print(problem)


def _yes_no(ask: Ask, prompt: str, default: bool) -> bool:
    answer = ask(f"{prompt} [{'Y/n' if default else 'y/N'}]: ").strip().lower()
    return default if not answer else answer.startswith("y")


def _list(answer: str) -> list[str]:
    if answer.strip() in ("-", ""):
        return []
    return [part.strip() for part in answer.split(",") if part.strip()]


FIXED_TIME_BENCH = re.compile(
    r"\bgo\s+test\b(?!.*-benchtime[= ]?\d+x).*-bench\b|--benchmark-|\bpytest-benchmark\b|"
    r"\bhyperfine\b|\bcargo\s+bench\b|--benchmark_min_time")
"""Benchmark harnesses that repeat the code for a fixed time (so the process takes as long
whatever the code's speed): the outside clock cannot apply to them."""

BENCH_TEMPLATES = {
    "node": ("bench.js", """\
// Benchmark for autoresearch-tui: time the code you want faster, print one METRIC line,
// and a FINGERPRINT of the results (a faster version must compute the same).
// Replace work() with a call into your project; keep the input fixed.
const { createHash } = require("crypto");
const { performance } = require("perf_hooks");

function work() {
  let total = 0;
  for (let i = 0; i < 1e6; i++) total += i % 7;
  return total;
}

const start = performance.now();
const result = work();
const elapsed = performance.now() - start;
const digest = createHash("sha256").update(JSON.stringify(result)).digest("hex");
console.log(`FINGERPRINT ${digest.slice(0, 12)}`);
console.log(`METRIC time_ms=${elapsed.toFixed(3)}`);
""", "node bench.js"),
    "python": ("bench.py", """\
\"\"\"Benchmark for autoresearch-tui: time the code you want faster, print one METRIC line,
and a FINGERPRINT of the results (a faster version must compute the same).

Replace work() with a call into your project; keep the input fixed so runs compare.
\"\"\"

import hashlib
import time


def work() -> int:
    return sum(i % 7 for i in range(1_000_000))


start = time.perf_counter()
result = work()
elapsed = time.perf_counter() - start
print(f"FINGERPRINT {hashlib.sha256(repr(result).encode()).hexdigest()[:12]}")
print(f"METRIC time_ms={elapsed * 1000:.3f}")
""", "python3 bench.py"),
    "go": ("cmd/bench/main.go", """\
// Benchmark for autoresearch-tui: time the code you want faster, print one METRIC line,
// and a FINGERPRINT of the results (a faster version must compute the same).
// Replace work() with a call into your project; keep the input fixed so runs compare.
// (A plain program, not `go test -bench`: that one runs for a fixed time, which the
// harness's outside clock cannot check.)
package main

import (
\t"crypto/sha256"
\t"fmt"
\t"time"
)

func work() int {
\ttotal := 0
\tfor i := 0; i < 10_000_000; i++ {
\t\ttotal += i % 7
\t}
\treturn total
}

func main() {
\tstart := time.Now()
\tresult := work()
\telapsed := time.Since(start)
\tdigest := sha256.Sum256([]byte(fmt.Sprint(result)))
\tfmt.Printf("FINGERPRINT %x\\n", digest[:6])
\tfmt.Printf("METRIC time_ms=%.3f\\n", float64(elapsed.Nanoseconds())/1e6)
}
""", "go run ./cmd/bench"),
}


def _offer_template(root: Path, detection: Detection, ask: Ask) -> int:
    language = detection.language if detection.language in ("node", "go") else "python"
    name, text, command = BENCH_TEMPLATES[language]
    if (root / name).exists():
        raise UsageError(f"No benchmark command given and {name} already exists; run init "
                         f"again with `{command}` or another command.")
    if not _yes_no(ask, f"Write a template benchmark at {name}?", True):
        raise UsageError("init needs a benchmark command; write one that prints "
                         "`METRIC name=value` and run init again.")
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text, encoding="utf-8")
    print(f"Wrote {name}. Make it time your code, commit it, then run "
          f"`autoresearch-tui init` again and give `{command}` as the benchmark.")
    return 0
