"""app/engine/measure.py (metric parsing, DESIGN.md "Metric output") and
app/engine/process.py (run_command) on their own, against real shell commands (timeouts,
SIGTERM-ignoring children, cancel, daemons, scrubbed secrets, capped output, cut lines)."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from app.engine.measure import parse_metrics
from app.engine.process import (
    HEAD_BYTES,
    KILL_GRACE_S,
    MAX_LINE,
    STDOUT_KEEP,
    TAIL_BYTES,
    CappedText,
    EnvPolicy,
    last_lines,
    run_command,
)

# -- parse_metrics -------------------------------------------------------------------------


def test_metric_lines_primary_by_name_and_secondaries_kept() -> None:
    out = "warming up\nMETRIC mem=12.5\nMETRIC score = 3.25\nMETRIC ops=1e3\ndone\n"
    parsed = parse_metrics(out, "score")
    assert parsed.value == 3.25 and parsed.error is None
    assert parsed.metrics == {"mem": 12.5, "score": 3.25, "ops": 1000.0}


def test_metric_lines_without_a_primary_name_take_the_first_printed() -> None:
    parsed = parse_metrics("METRIC b=2\nMETRIC a=1\n", None)
    assert parsed.value == 2
    assert parse_metrics("METRIC b=2\nMETRIC a=1\n", "metric").value == 2


def test_metric_lines_missing_the_primary_is_an_error_naming_what_was_found() -> None:
    parsed = parse_metrics("METRIC mem=1\nMETRIC ops=2\n", "score")
    assert parsed.value is None
    assert "no METRIC line named 'score'" in (parsed.error or "")
    assert "mem, ops" in (parsed.error or "")


def test_a_repeated_metric_line_is_an_error_unless_take_last() -> None:
    # issue #12: a second line may come from the code under test (an atexit handler).
    parsed = parse_metrics("METRIC score=5\nMETRIC score=4\n", "score")
    assert parsed.value is None and parsed.error and "metric printed twice" in parsed.error
    assert parse_metrics("METRIC score=5\nMETRIC score=4\n", "score", "last").value == 4


@pytest.mark.parametrize("raw", ["-1e309", "1e400", "-1E999 ms"])
def test_a_bare_number_that_overflows_to_infinity_is_an_error(raw: str) -> None:
    parsed = parse_metrics(f"warming up\n{raw}\n", "t")
    assert parsed.value is None and "not a finite number" in (parsed.error or "")


def test_metric_lines_win_over_a_trailing_number() -> None:
    assert parse_metrics("METRIC score=5\n99\n", "score").value == 5


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_metric_line_nan_or_infinity_is_an_error(raw: str) -> None:
    parsed = parse_metrics(f"METRIC score={raw}\n", "score")
    assert parsed.value is None and "not a finite number" in (parsed.error or "")


def test_metric_line_garbage_is_an_error() -> None:
    parsed = parse_metrics("METRIC score=fast\n", "score")
    assert parsed.value is None and "not a number: 'fast'" in (parsed.error or "")


@pytest.mark.parametrize("out, value, unit", [
    ("42\n", 42.0, None),
    ("compiling\n\n  3.5 ms  \n\n", 3.5, "ms"),
    ("-12.25 s\n", -12.25, "s"),
    ("+7\n", 7.0, None),
    (".5\n", 0.5, None),
    ("1.5e-3 seconds per op\n", 0.0015, "seconds per op"),
    ("2E6\n", 2e6, None),
])
def test_last_line_number_with_an_optional_unit(out: str, value: float,
                                                unit: str | None) -> None:
    parsed = parse_metrics(out, "score")
    assert parsed.value == value and parsed.error is None
    assert parsed.unit == unit
    assert parsed.metrics == {"score": value}


def test_last_line_number_without_a_name_is_called_metric() -> None:
    assert parse_metrics("3\n", None).metrics == {"metric": 3.0}


@pytest.mark.parametrize("out, words", [
    ("", "stdout was empty"),
    ("\n  \n", "stdout was empty"),
    ("result: 3\n", "the last line is not a number: 'result: 3'"),
    ("3\ndone\n", "the last line is not a number: 'done'"),
    ("nan\n", "not a finite number"),
    ("inf ms\n", "not a finite number"),
    ("-Infinity\n", "not a finite number"),
])
def test_last_line_that_is_not_a_finite_number_is_an_error(out: str, words: str) -> None:
    parsed = parse_metrics(out, "score")
    assert parsed.value is None and words in (parsed.error or "")


def test_error_quotes_a_huge_last_line_briefly() -> None:
    parsed = parse_metrics("x" * 100_000 + "\n", "score")
    assert parsed.value is None and len(parsed.error or "") < 200


# -- CappedText and helpers ----------------------------------------------------------------


def test_capped_text_keeps_head_and_tail_and_counts_everything() -> None:
    capped = CappedText(head=10, tail=20)
    for i in range(1000):
        capped.add(f"{i:05d}\n".encode())
    text = capped.text()
    assert capped.total == 6000
    assert text.startswith("00000\n0000")
    assert text.endswith("00998\n00999\n")
    assert "[... 5970 bytes not kept ...]" in text


def test_capped_text_short_output_is_kept_whole() -> None:
    capped = CappedText(head=10, tail=20)
    capped.add(b"hello ")
    capped.add(b"world")
    assert capped.text() == "hello world" and capped.tail_text(5) == "world"


def test_last_lines_keeps_the_end_and_cuts_width() -> None:
    text = "\n".join(f"line {i}" + "x" * 500 for i in range(40))
    tail = last_lines(text, 3, width=20)
    assert tail.splitlines() == [f"line {i}" + "x" * (20 - len(f"line {i}"))
                                 for i in (37, 38, 39)]


# -- run_command ----------------------------------------------------------------------------


def test_exit_status_and_both_streams(tmp_path: Path) -> None:
    result = run_command("echo out; echo err >&2; exit 3", tmp_path, 10)
    assert result.exit_code == 3 and not result.ok
    assert result.stdout.strip() == "out"
    assert "out" in result.output and "err" in result.output
    assert result.failure() == "exit status 3"


def test_runs_in_the_given_folder(tmp_path: Path) -> None:
    result = run_command("pwd", tmp_path, 10)
    assert result.ok and Path(result.stdout.strip()).resolve() == tmp_path.resolve()


def test_command_not_found_is_exit_127_with_a_sentence(tmp_path: Path) -> None:
    result = run_command("no-such-command-xyz", tmp_path, 10)
    assert result.exit_code == 127 and "command not found" in result.failure()


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = f"300.{uuid.uuid4().int % 10**9:09d}"
    started = time.monotonic()
    result = run_command(f"sh -c 'exec sleep {marker}' & sleep 300", tmp_path, 0.5)
    assert result.timed_out and result.exit_code is None and not result.ok
    assert time.monotonic() - started < 0.5 + KILL_GRACE_S + 3
    assert "timed out" in result.failure()
    assert _alive(marker) == []


def test_sigterm_ignoring_command_is_killed_after_the_grace(tmp_path: Path) -> None:
    marker = f"300.{uuid.uuid4().int % 10**9:09d}"
    started = time.monotonic()
    result = run_command(f"trap '' TERM; sh -c \"trap '' TERM; exec sleep {marker}\"",
                         tmp_path, 0.5)
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert elapsed < 0.5 + KILL_GRACE_S + 3, elapsed
    assert _alive(marker) == []


def test_cancel_stops_a_running_command_quickly(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    result = run_command("echo started; sleep 300", tmp_path, 60, cancel=cancel)
    assert result.cancelled and not result.timed_out and result.exit_code is None
    assert result.failure() == "stopped"
    assert time.monotonic() - started < KILL_GRACE_S + 3
    assert "started" in result.output


def test_a_daemon_holding_the_output_open_does_not_hang_and_is_killed(tmp_path: Path) -> None:
    marker = f"300.{uuid.uuid4().int % 10**9:09d}"
    started = time.monotonic()
    result = run_command(f"(exec sleep {marker}) & echo 42", tmp_path, 60)
    assert result.ok and result.stdout.strip() == "42"
    assert time.monotonic() - started < 5
    assert _alive(marker) == []


def test_a_setsid_daemon_escaping_the_group_does_not_hang_the_harness(tmp_path: Path) -> None:
    """A daemon that leaves the process group cannot be killed with it, but the harness must
    still stop reading soon after the command exits."""
    marker = f"30.{uuid.uuid4().int % 10**9:09d}"
    started = time.monotonic()
    try:
        result = run_command(f"setsid sh -c 'exec sleep {marker}' & echo 1", tmp_path, 60)
        assert result.ok and result.stdout.strip() == "1"
        assert time.monotonic() - started < 5
    finally:
        subprocess.run(["pkill", "-f", marker], check=False)


def test_secrets_are_scrubbed_from_the_environment(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-SECRET123", "GITHUB_TOKEN": "ghp_SECRET456",
               "MY_TOKEN": "tok-SECRET789", "AWS_SECRET_ACCESS_KEY": "aws-SECRET0",
               "DB_PASSWORD": "pw-SECRETA", "OPENAI_APIKEY": "sk-SECRETB",
               "SSH_PRIVATE_KEY": "key-SECRETC", "HTTP_AUTH": "auth-SECRETD"}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HARMLESS_SETTING", "visible-value")
    # Listing secrets in the passthrough does not let them through (only env_secrets does).
    result = run_command("env", tmp_path, 10, policy=EnvPolicy(
        passthrough=("HARMLESS_SETTING", *secrets)))
    assert result.ok
    for key, value in secrets.items():
        assert value not in result.output, key
        assert f"{key}=" not in result.output
    assert "HARMLESS_SETTING=visible-value" in result.output
    assert "PATH=" in result.output


def test_huge_output_is_capped_head_and_tail(tmp_path: Path) -> None:
    size = 5 * 1024 * 1024
    result = run_command(f"echo FIRST; head -c {size} /dev/zero | tr '\\0' 'x'; echo; "
                         "echo LAST 1.5", tmp_path, 30)
    assert result.ok
    assert result.output_bytes > size
    assert len(result.output.encode()) <= HEAD_BYTES + TAIL_BYTES + 200
    assert result.output.startswith("FIRST")
    assert result.output.rstrip().endswith("LAST 1.5")
    assert "bytes not kept" in result.output
    assert len(result.stdout.encode()) <= STDOUT_KEEP
    assert result.stdout.rstrip().endswith("LAST 1.5")


def test_long_lines_are_cut_in_events_and_events_come_in_batches(tmp_path: Path) -> None:
    batches: list[list[str]] = []
    result = run_command("head -c 1048576 /dev/zero | tr '\\0' 'y'; echo; echo short; "
                         "printf 'no newline at the end'", tmp_path, 30,
                         on_lines=batches.append)
    assert result.ok
    lines = [line for batch in batches for line in batch]
    assert max(len(line) for line in lines) <= MAX_LINE
    # A 1 MB line is one event line cut at MAX_LINE, however many reads it took.
    assert lines == ["y" * MAX_LINE, "short", "no newline at the end"], [
        (len(line), line[:10]) for line in lines][:5]
    assert result.output_bytes > 1024 * 1024


def test_several_long_lines_each_cut_once_on_both_streams(tmp_path: Path) -> None:
    batches: list[list[str]] = []
    result = run_command("for i in 1 2 3; do head -c 300000 /dev/zero | tr '\\0' a; echo; "
                         "echo tick $i; done; head -c 9000 /dev/zero | tr '\\0' e >&2; "
                         "echo >&2", tmp_path, 30, on_lines=batches.append)
    assert result.ok
    lines = [line for batch in batches for line in batch]
    assert sorted(lines) == sorted(["a" * MAX_LINE, "tick 1"] * 1 + ["a" * MAX_LINE, "tick 2",
                                    "a" * MAX_LINE, "tick 3", "e" * MAX_LINE])


def test_binary_output_is_decoded_with_replacement(tmp_path: Path) -> None:
    batches: list[list[str]] = []
    result = run_command("printf '\\377\\376\\000junk\\n'; echo 7", tmp_path, 10,
                         on_lines=batches.append)
    assert result.ok
    assert parse_metrics(result.stdout, None).value == 7
    assert any("junk" in line for batch in batches for line in batch)


def test_variables_the_harness_sets_are_added_to_the_allowlist(tmp_path: Path) -> None:
    result = run_command("echo $ONLY_THIS", tmp_path, 10, env={"ONLY_THIS": "yes"})
    assert result.stdout.strip() == "yes"


def _alive(marker: str) -> list[str]:
    time.sleep(0.1)
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return out.split()
