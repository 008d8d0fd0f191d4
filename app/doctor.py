"""`autoresearch-tui doctor`: what makes benchmarks noisy here, how noisy this one is, advice.

Like `pyperf system show`, it reads what the system tells (Linux: /sys and /proc): the CPU
frequency governor and turbo, the load average, other processes using the CPU, thermal
throttling, a laptop on battery. Then it runs the configured benchmark a few times on HEAD
(in a scratch worktree, through the same command runner and output readers the loop uses),
measures its noise, and simulates the project's keep rule (app/engine/decide.py with this
config's repeats, max_repeats, calibration_runs, alpha, min_effect and interleave) to say
how many runs a 1% and a 5% improvement need. Exit 0 with advice; 2 when there is no config
or the benchmark does not run.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from app.command_options import DoctorOptions
from app.config import CONFIG_NAME, Config, load_config
from app.engine import git_cli
from app.engine.git_cli import GitError
from app.errors import UsageError

DEFAULT_RUNS = 5
POWER_GOAL = 0.8
"""A setting 'finds' an improvement when the rule keeps it in at least 80% of decisions."""
SIM_DECISIONS = 300
RUN_CHOICES = (3, 5, 8, 10, 15, 20, 30, 50)
"""max_repeats values tried when the configured one is not enough."""
SYS = Path("/sys")
PROC = Path("/proc")


@dataclass
class Finding:
    """One thing the doctor looked at: what it saw, and advice when it matters."""

    topic: str
    seen: str
    advice: str = ""


@dataclass
class NoiseReport:
    values: list[float] = field(default_factory=list)
    unit: str = ""
    noise: float | None = None
    """Relative median absolute deviation (as the loop's calibration uses)."""
    run_seconds: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# The system


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def system_findings(root_sys: Path = SYS, root_proc: Path = PROC,
                    cpu_sample_s: float = 0.5) -> list[Finding]:
    """What the system shows about benchmark stability (Linux; elsewhere only the load)."""
    found: list[Finding] = []
    cpus = os.cpu_count() or 1
    governors = sorted({g for g in (_read(p) for p in sorted(
        root_sys.glob("devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))) if g})
    if governors:
        advice = "" if governors == ["performance"] else (
            "set the governor to performance while benchmarking "
            "(`sudo cpupower frequency-set -g performance`): other governors change the "
            "clock with the load, so runs differ")
        found.append(Finding("CPU governor", ", ".join(governors), advice))
    else:
        found.append(Finding("CPU governor", "not visible (no cpufreq in /sys: a VM or "
                             "another OS)"))
    no_turbo = _read(root_sys / "devices/system/cpu/intel_pstate/no_turbo")
    boost = _read(root_sys / "devices/system/cpu/cpufreq/boost")
    if no_turbo is not None or boost is not None:
        on = (no_turbo == "0") if no_turbo is not None else (boost == "1")
        found.append(Finding("Turbo boost", "on" if on else "off", (
            "turn turbo off while benchmarking (`echo 1 | sudo tee "
            "/sys/devices/system/cpu/intel_pstate/no_turbo`): its clock depends on "
            "temperature, so long sessions drift") if on else ""))
    else:
        found.append(Finding("Turbo boost", "not visible"))
    isolated = _read(root_sys / "devices/system/cpu/isolated")
    found.append(Finding("Isolated CPUs", isolated or "none", "" if isolated else (
        "pin the benchmark to one core, e.g. prefix the command with `taskset -c "
        f"{cpus - 1}` (better: boot with isolcpus={cpus - 1} and pin to it)")
        if cpus > 1 else ""))
    try:
        load1, _, _ = os.getloadavg()
    except OSError:
        load1 = None
    if load1 is not None:
        busy = load1 > max(0.5, 0.5 * cpus)
        found.append(Finding("Load average", f"{load1:.2f} over 1 min on {cpus} CPUs", (
            "the machine is busy: other work competes with the benchmark; wait until it is "
            "idle, or use interleave = true so champion and candidate share the same "
            "conditions") if busy else ""))
    heavy = heavy_processes(root_proc, cpu_sample_s)
    if heavy is not None:
        shown = ", ".join(f"{name} (pid {pid}, {share:.0%})" for pid, name, share in heavy[:5])
        found.append(Finding("Other busy processes", shown or "none above 20% of a CPU", (
            f"other processes use the CPU ({shown}): stop or pause them while a session "
            "runs") if heavy else ""))
    throttles = throttle_count(root_sys)
    if throttles is not None:
        found.append(Finding("Thermal throttling", f"{throttles} events since boot", (
            "the CPU has throttled: cool the machine or lower the load; a throttling CPU "
            "drifts, so use interleave = true") if throttles else ""))
    battery = on_battery(root_sys)
    if battery is not None:
        found.append(Finding("Power", "on battery" if battery else "on mains", (
            "plug the laptop in: on battery the CPU saves power and runs slower and "
            "less steadily") if battery else ""))
    return found


def heavy_processes(root_proc: Path = PROC, sample_s: float = 0.5
                    ) -> list[tuple[int, str, float]] | None:
    """(pid, name, share of one CPU) of other processes above 20% over `sample_s`."""
    def snapshot() -> dict[int, tuple[str, int]]:
        out = {}
        for stat in root_proc.glob("[0-9]*/stat"):
            text = _read(stat)
            if not text or ")" not in text:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            fields = text[text.rindex(")") + 2:].split()
            try:
                out[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))
            except (ValueError, IndexError):
                continue
        return out

    if not (root_proc / "self").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    before = snapshot()
    started = time.monotonic()
    time.sleep(sample_s)
    after = snapshot()
    elapsed = time.monotonic() - started
    ours = {os.getpid()}
    heavy = []
    for pid, (name, total) in after.items():
        if pid in ours or pid not in before:
            continue
        share = (total - before[pid][1]) / ticks / elapsed
        if share > 0.2:
            heavy.append((pid, name, share))
    return sorted(heavy, key=lambda x: -x[2])


def throttle_count(root_sys: Path = SYS) -> int | None:
    paths = list(root_sys.glob("devices/system/cpu/cpu[0-9]*/thermal_throttle/"
                               "core_throttle_count"))
    if not paths:
        return None
    return sum(int(_read(p) or 0) for p in paths)


def on_battery(root_sys: Path = SYS) -> bool | None:
    supplies = list((root_sys / "class/power_supply").glob("*"))
    if not supplies:
        return None
    batteries = [p for p in supplies if _read(p / "type") == "Battery"]
    if not batteries:
        return None
    mains = [p for p in supplies if _read(p / "type") == "Mains"]
    if mains:
        return not any(_read(p / "online") == "1" for p in mains)
    return any(_read(p / "status") == "Discharging" for p in batteries)


# ---------------------------------------------------------------------------------------
# The benchmark's noise


def measure_noise(root: Path, config: Config, runs: int,
                  progress: Callable[[str], None]) -> NoiseReport:
    """Run the benchmark `runs` times on HEAD in a scratch worktree, as the loop would."""
    from app.engine import formats
    from app.engine.process import run_command

    m = config.metric
    report = NoiseReport(unit=m.unit)
    started = time.monotonic()
    with ExitStack() as stack:
        try:
            scratch = stack.enter_context(git_cli.scratch_worktree(
                root, "HEAD", link=config.session.link, prefix="autoresearch-doctor-"))
        except GitError as exc:
            raise UsageError(f"cannot check out HEAD to measure ({exc}); commit your work "
                             "first.") from None
        if config.session.setup:
            progress(f"setup: {config.session.setup}")
            prepared = run_command(config.session.setup, scratch, 3600)
            if not prepared.ok:
                raise UsageError(f"`session.setup` failed ({prepared.failure()}); fix it, "
                                 "then run doctor again.")
        for i in range(runs):
            progress(f"run {i + 1} of {runs}, {time.monotonic() - started:.1f} s elapsed ...")
            with formats.output_file(m.command) as (command, output):
                result = run_command(command, scratch, m.timeout_s)
                if not result.ok:
                    raise UsageError(f"the benchmark does not run: {result.failure()}; fix "
                                     f"`metric.command`. Last output:\n{result.output_tail}")
                parsed = formats.read_run(m, result.stdout, output)
            if parsed.value is None:
                raise UsageError(f"the benchmark runs but {parsed.error}; fix "
                                 "`metric.command` or the [metric] keys.")
            report.values.append(parsed.value)
            report.run_seconds.append(result.duration_s)
            progress(f"run {i + 1} of {runs}: {parsed.value:g} {m.unit}".rstrip()
                     + f" ({result.duration_s:.2f} s; {time.monotonic() - started:.1f} s "
                     "elapsed)")
    from app.engine.decide import relative_noise

    report.noise = relative_noise(report.values)
    return report


# ---------------------------------------------------------------------------------------
# How many runs the keep rule needs


def keep_rate(noise: float, improvement: float, config: Config, repeats: int | None = None,
              calibration_runs: int | None = None, decisions: int = SIM_DECISIONS,
              seed: int = 17) -> tuple[float, float]:
    """(share kept, mean runs) of a true `improvement` (0.05 = 5%) under the project's
    keep rule, with log-normal run noise whose MAD is `noise`; the runs are the
    candidate's, plus, when not interleaving, the fresh champion runs after the first look
    and those that confirm a keep."""
    from app.engine.decide import (
        confirm_keep,
        confirmation_runs,
        evaluate,
        fresh_champion_run,
    )

    m, d = config.metric, config.decide
    sigma = noise * 1.4826  # MAD -> standard deviation for normal noise
    rng = random.Random(seed)
    repeats = repeats or m.repeats
    max_repeats = max(repeats, m.max_repeats)
    calibration = max(calibration_runs or m.calibration_runs, 1)
    max_looks = max_repeats - repeats + 1
    better = -1.0 if m.direction == "lower" else 1.0
    kept = runs = 0
    for _ in range(decisions):
        def run(effect: float) -> float:
            return math.exp(better * math.log1p(effect) + sigma * rng.gauss(0.0, 1.0))

        champ = [run(0.0) for _ in range(calibration)]
        cand: list[float] = []

        def measure(champ: list[float] = champ, cand: list[float] = cand) -> None:
            if fresh_champion_run(len(cand), repeats, m.interleave):
                champ.append(run(0.0))
            cand.append(run(improvement))

        for _ in range(repeats):
            measure()
        look = 1
        while True:
            decision = evaluate(cand, champ, direction=m.direction, alpha=d.alpha,
                                min_effect=d.min_effect, look=look, max_looks=max_looks,
                                interleaved=m.interleave, champion_grows=not m.interleave)
            if decision.outcome != "more":
                break
            measure()
            look += 1
        runs += len(cand) + (0 if m.interleave else len(champ) - calibration)
        if not m.interleave:  # the keep's confirmation (decide.confirm_keep)
            fresh: list[float] = []
            most = confirmation_runs(m.confirm_runs, len(cand))
            while (confirmed := confirm_keep(decision, cand, fresh, runs=most,
                                             direction=m.direction,
                                             min_effect=d.min_effect)) is None:
                fresh.append(run(0.0))
            decision, runs = confirmed, runs + len(fresh)
        kept += decision.outcome == "keep"
    return kept / decisions, runs / decisions


@dataclass
class RunsNeeded:
    improvement: float
    rate_now: float
    runs_now: float
    runs_needed: int | None
    """The smallest `repeats` (of RUN_CHOICES, with as many calibration_runs) that keeps it
    80% of the time; None when even 50 is not enough. It is `repeats`, not `max_repeats`,
    that must grow: the rule's futility stop discards a small effect at the first look."""


def runs_needed(noise: float, improvement: float, config: Config) -> RunsNeeded:
    m = config.metric
    rate, runs = keep_rate(noise, improvement, config)
    if rate >= POWER_GOAL:
        return RunsNeeded(improvement, rate, runs, m.repeats)
    for choice in RUN_CHOICES:
        if choice <= m.repeats:
            continue
        # The champion's samples limit the test as much as the candidate's: raise both.
        calibration = max(choice, m.calibration_runs)
        if keep_rate(noise, improvement, config, choice, calibration)[0] >= POWER_GOAL:
            return RunsNeeded(improvement, rate, runs, choice)
    return RunsNeeded(improvement, rate, runs, None)


# ---------------------------------------------------------------------------------------
# The command


def run_doctor(options: DoctorOptions) -> int:
    from app.engine.layout import find_repo

    out: TextIO = sys.stdout
    repo = find_repo(Path.cwd())
    path = Path(options.config) if options.config else repo.root / CONFIG_NAME
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if not path.exists():
        raise UsageError(f"no {path.name} in {path.parent}; create one with "
                         "`autoresearch-tui init` (or pass --config PATH), then run doctor.")
    config = load_config(path)
    runs = options.runs or max(DEFAULT_RUNS, config.metric.calibration_runs)
    if runs < 3:
        raise UsageError("--runs must be at least 3 to measure noise.")

    print("This machine", file=out)
    findings = system_findings()
    for f in findings:
        print(f"  {f.topic + ':':<22} {f.seen}", file=out)
    print(f"\nThe benchmark: {config.metric.command}", file=out)
    tty = out.isatty()

    def progress(text: str) -> None:
        if tty:
            print(f"\r  {text:<70}", end="", file=out, flush=True)
        else:
            print(f"  {text}", file=out, flush=True)

    report = measure_noise(repo.root, config, runs, progress)
    if tty:
        print("\r" + " " * 74 + "\r", end="", file=out)
    unit = f" {config.metric.unit}" if config.metric.unit else ""
    values = ", ".join(f"{v:g}" for v in report.values)
    print(f"  {len(report.values)} runs: {values}{unit}", file=out)
    noise = report.noise or 0.0
    spread = (max(report.values) - min(report.values)) / abs(statistics.median(
        report.values)) if statistics.median(report.values) else 0.0
    print(f"  noise: ±{noise:.2%} (median absolute deviation), range {spread:.1%} of the "
          f"median; {statistics.fmean(report.run_seconds):.2f} s per run", file=out)
    advice = [f.advice for f in findings if f.advice]
    needs = []
    estimating = time.monotonic()
    print("\nUnder this project's keep rule "
          f"(repeats {config.metric.repeats}, max_repeats {config.metric.max_repeats}, "
          f"calibration_runs {config.metric.calibration_runs}, alpha {config.decide.alpha:g}"
          f"{', interleave' if config.metric.interleave else ''})", file=out)
    for improvement in (0.01, 0.05):
        if noise == 0:
            print(f"  a {improvement:.0%} improvement: no noise measured, the first runs "
                  "decide", file=out)
            continue
        need = runs_needed(noise, improvement, config)
        needs.append(need)
        line = (f"  a {improvement:.0%} improvement is kept {need.rate_now:.0%} of the time, "
                f"after {need.runs_now:.1f} candidate runs on average")
        if need.rate_now < POWER_GOAL:
            line += ("; to keep it 80% of the time: " + (
                f"repeats = calibration_runs = {need.runs_needed}"
                if need.runs_needed else "more than 50 runs, so reduce the noise "
                "first"))
        print(line, file=out, flush=True)
    if needs:
        print(f"  (simulated {SIM_DECISIONS} decisions per setting in "
              f"{time.monotonic() - estimating:.1f} s)", file=out)
    advice.extend(_benchmark_advice(config, report, noise, needs))
    print("\nAdvice", file=out)
    if not advice:
        print("  none: this machine and benchmark look steady.", file=out)
    for item in advice:
        print(f"  - {item}", file=out)
    return 0


def _benchmark_advice(config: Config, report: NoiseReport, noise: float,
                      needs: Sequence[RunsNeeded]) -> list[str]:
    m = config.metric
    advice = []
    one_pct = next((n for n in needs if n.improvement == 0.01), None)
    if one_pct and one_pct.rate_now < POWER_GOAL and one_pct.runs_needed:
        advice.append(f"raise repeats and calibration_runs to {one_pct.runs_needed} (and "
                      f"max_repeats to at least that) to find 1% improvements")
    if noise > 0.05:
        advice.append(f"the noise (±{noise:.1%}) hides improvements smaller than about "
                      f"{2 * noise:.0%}: make each run do more work, or use a tool that "
                      "repeats inside the process (pytest-benchmark, hyperfine, pyperf) and "
                      "read its statistic with [metric] format")
    if not m.interleave and (noise > 0.01 or len(report.values) >= 4 and _trend(report.values)):
        advice.append("use interleave = true: the champion is then measured alternately "
                      "with each candidate, so drift of the machine cancels out")
    if report.run_seconds and statistics.fmean(report.run_seconds) < 0.2 and m.format == "lines":
        advice.append("each run takes under 0.2 s, so process start-up is a large part of "
                      "it: time a loop inside the benchmark, or use hyperfine / "
                      "pytest-benchmark through [metric] format")
    if report.run_seconds and m.timeout_s < 3 * max(report.run_seconds):
        advice.append(f"metric.timeout_s ({m.timeout_s:g} s) is close to a run's duration "
                      f"({max(report.run_seconds):.1f} s); raise it")
    return advice


def _trend(values: Sequence[float]) -> bool:
    """The first half and the second half differ by more than the spread within them."""
    half = len(values) // 2
    first, second = values[:half], values[-half:]
    spread = statistics.median(abs(v - statistics.median(values)) for v in values) or 0.0
    return abs(statistics.median(second) - statistics.median(first)) > 2 * spread > 0
