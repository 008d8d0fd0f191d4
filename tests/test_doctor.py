"""`autoresearch-tui doctor` on real repositories, and its reading of /sys trees."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.cli import main
from app.config import load_config
from app.doctor import keep_rate, on_battery, system_findings, throttle_count
from tests.test_init import make_repo

STEADY = ("import time\nstart = time.perf_counter()\nsum(i * i for i in range(20000))\n"
          "print(f'METRIC time_ms={(time.perf_counter() - start) * 1000:.3f}')\n")


def config_text(command: str, extra: str = "") -> str:
    return (f'[metric]\ncommand = "{command}"\nname = "time_ms"\nunit = "ms"\n'
            f"timeout_s = 30\n{extra}")


def test_doctor_measures_a_real_benchmark_and_advises(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "r", {"bench.py": STEADY,
                                      "autoresearch.toml": config_text("python3 bench.py")})
    monkeypatch.chdir(repo)
    assert main(["doctor", "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "This machine" in out and "Load average:" in out
    for i in (1, 2, 3):
        assert f"run {i} of 3: " in out and "s elapsed" in out
    assert "3 runs: " in out and "noise: ±" in out
    assert "a 1% improvement is kept" in out and "a 5% improvement is kept" in out
    assert "Advice" in out
    # nothing left behind: no scratch worktree, the checkout untouched
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True,
                            text=True).stdout
    assert len(listed.splitlines()) == 1
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True).stdout == ""


def test_doctor_reads_a_tools_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    repo = make_repo(tmp_path / "r", {
        "autoresearch.toml": config_text(
            f"{sys.executable} -m pyperf timeit -q -p 1 -n 3 -w 1 -l 100 --name s "
            "-o {output} 'sum(range(100))'", 'format = "pyperf"\n').replace(
            'name = "time_ms"\nunit = "ms"', 'name = "s"\nunit = "us"')})
    monkeypatch.chdir(repo)
    assert main(["doctor", "--runs", "3"]) == 0
    assert "run 3 of 3: " in capsys.readouterr().out


def test_no_config_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "r", {"README": "x\n"})
    monkeypatch.chdir(repo)
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert "no autoresearch.toml" in err and "init" in err and "Traceback" not in err


@pytest.mark.parametrize("bench, message", [
    ("import sys\nsys.exit(3)\n", "the benchmark does not run: exit status 3"),
    ("print('hello')\n", "the benchmark runs but"),
    ("print('METRIC time_ms=nan')\n", "not a finite number"),
])
def test_a_benchmark_that_does_not_run_is_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        bench: str, message: str) -> None:
    repo = make_repo(tmp_path / "r", {"bench.py": bench,
                                      "autoresearch.toml": config_text("python3 bench.py")})
    monkeypatch.chdir(repo)
    assert main(["doctor", "--runs", "3"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True,
                            text=True).stdout
    assert len(listed.splitlines()) == 1


def fake_sys(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def test_a_noisy_laptop_gets_advice_for_each_cause(tmp_path: Path) -> None:
    sysfs = fake_sys(tmp_path / "sys", {
        "devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave",
        "devices/system/cpu/cpu1/cpufreq/scaling_governor": "powersave",
        "devices/system/cpu/intel_pstate/no_turbo": "0",
        "devices/system/cpu/isolated": "",
        "devices/system/cpu/cpu0/thermal_throttle/core_throttle_count": "12",
        "devices/system/cpu/cpu1/thermal_throttle/core_throttle_count": "3",
        "class/power_supply/BAT0/type": "Battery",
        "class/power_supply/BAT0/status": "Discharging",
        "class/power_supply/AC/type": "Mains",
        "class/power_supply/AC/online": "0"})
    found = {f.topic: f for f in system_findings(sysfs, Path("/proc"), cpu_sample_s=0.1)}
    assert found["CPU governor"].seen == "powersave" and "performance" in found[
        "CPU governor"].advice
    assert found["Turbo boost"].seen == "on" and "no_turbo" in found["Turbo boost"].advice
    assert found["Thermal throttling"].seen.startswith("15 ") and found[
        "Thermal throttling"].advice
    assert found["Power"].seen == "on battery" and "plug" in found["Power"].advice
    assert throttle_count(sysfs) == 15 and on_battery(sysfs) is True


def test_a_steady_desktop_gets_none(tmp_path: Path) -> None:
    sysfs = fake_sys(tmp_path / "sys", {
        "devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance",
        "devices/system/cpu/intel_pstate/no_turbo": "1",
        "devices/system/cpu/isolated": "1",
        "class/power_supply/AC/type": "Mains", "class/power_supply/AC/online": "1"})
    found = {f.topic: f for f in system_findings(sysfs, Path("/proc"), cpu_sample_s=0.1)}
    for topic in ("CPU governor", "Turbo boost", "Isolated CPUs"):
        assert found[topic].advice == "", topic
    assert "Power" not in found  # no battery: nothing to say
    assert on_battery(sysfs) is None


def test_the_estimate_is_the_keep_rule_itself(tmp_path: Path) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text(config_text("true"))
    config = load_config(path)
    # 1% noise: a 5% win is kept nearly always; a useless change about alpha of the time.
    assert keep_rate(0.01, 0.05, config)[0] > 0.95
    assert keep_rate(0.01, 0.0, config, decisions=600)[0] < 0.09
    # 2% noise: a 1% win is mostly missed with the defaults, and more runs help.
    few = keep_rate(0.02, 0.01, config)[0]
    many = keep_rate(0.02, 0.01, config, repeats=50, calibration_runs=50)[0]
    assert few < 0.5 and many > few + 0.2
