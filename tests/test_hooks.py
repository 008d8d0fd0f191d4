"""Hooks with pi-autoresearch's contract, run as real executables in a real folder."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from app.engine.hooks import (
    MAX_GUIDANCE_BYTES,
    after_payload,
    before_payload,
    notify,
    notify_env,
    run_entry,
    run_hook,
    session_info,
)

SESSION = session_info(tag="nov27", metric_name="time_ms", unit="ms", direction="lower",
                       baseline=100.0, best=60.0, run_count=3, goal="faster")


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_hook_gets_one_json_line_and_its_stdout_comes_back(tmp_path: Path) -> None:
    _script(tmp_path, "hooks/before.sh", 'cat > seen.json\necho "try caching the parse"\n')
    last = run_entry(n=2, status="discard", metric=61.0, description="inline",
                     hypothesis="fewer calls", learned="no gain", reason="noise")
    payload = before_payload(cwd=tmp_path, next_run=3, last=last, session=SESSION)

    result = run_hook("hooks/before.sh", payload, tmp_path)

    assert result.error is None and result.stdout == "try caching the parse"
    raw = (tmp_path / "seen.json").read_text()
    assert raw.count("\n") == 1 and raw.endswith("\n")  # one JSON line
    seen = json.loads(raw)
    assert seen["event"] == "before" and seen["next_run"] == 3 and seen["cwd"] == str(tmp_path)
    assert seen["last_run"]["run"] == 2 and seen["last_run"]["status"] == "discard"
    assert seen["last_run"]["asi"] == {"hypothesis": "fewer calls", "learned": "no gain"}
    assert seen["session"] == {"metric_name": "time_ms", "metric_unit": "ms",
                               "direction": "lower", "baseline_metric": 100.0,
                               "best_metric": 60.0, "run_count": 3, "goal": "faster",
                               "tag": "nov27"}


def test_after_payload_and_a_fresh_session(tmp_path: Path) -> None:
    _script(tmp_path, "after.sh", "cat\n")  # echoes its stdin back as guidance
    entry = run_entry(n=4, status="keep", metric=55.0, description="cache", commit="abc")
    result = run_hook("after.sh", after_payload(cwd=tmp_path, entry=entry, session=SESSION),
                      tmp_path)
    data = json.loads(result.stdout)
    assert data["event"] == "after" and data["run_entry"]["run"] == 4
    assert data["run_entry"]["commit"] == "abc"
    fresh = before_payload(cwd=tmp_path, next_run=1, last=None, session=SESSION)
    assert json.loads(run_hook("after.sh", fresh, tmp_path).stdout)["last_run"] is None


def test_a_hanging_hook_is_killed_at_the_timeout(tmp_path: Path) -> None:
    _script(tmp_path, "slow.sh", "echo started\nsleep 30 &\nsleep 30\n")
    started = time.monotonic()

    result = run_hook("slow.sh", {"event": "before"}, tmp_path, timeout_s=0.5)

    assert time.monotonic() - started < 5
    assert result.error == "hook slow.sh timed out after 0.5 s and was killed"
    assert result.stdout == "started"


def test_failures_are_reported_not_raised(tmp_path: Path) -> None:
    _script(tmp_path, "fail.sh", "echo partial\necho 'no API key' >&2\nexit 3\n")
    result = run_hook("fail.sh", {}, tmp_path)
    assert result.error is not None and "exit status 3" in result.error
    assert "no API key" in result.error and result.stdout == "partial"

    missing = run_hook("hooks/nope.sh", {}, tmp_path)
    assert missing.error == "hook 'hooks/nope.sh' does not exist"

    plain = tmp_path / "plain.sh"
    plain.write_text("echo hi\n")
    assert "is not executable" in (run_hook("plain.sh", {}, tmp_path).error or "")


def test_stdout_is_capped_at_8_kb(tmp_path: Path) -> None:
    _script(tmp_path, "big.sh", "head -c 20000 /dev/zero | tr '\\0' 'x'\n")
    result = run_hook("big.sh", {}, tmp_path)
    assert result.error is None and result.truncated
    assert len(result.stdout.encode()) == MAX_GUIDANCE_BYTES


def test_notify_runs_in_the_background_with_the_variables(tmp_path: Path) -> None:
    env = notify_env(tag="nov27", metric_name="time_ms", best=42.5, baseline=100.0, n=7,
                     description="cache", unit="ms")
    # The command writes its note only once the test says go: had the caller waited for
    # it, the note would be there when `notify` returns (the wait gives up after 20 s,
    # within the hook's 30 s timeout).
    thread = notify('end=$(($(date +%s) + 20)); while [ ! -e go ] && [ "$(date +%s)" -lt '
                    '"$end" ]; do sleep 0.05; done; echo "$AUTORESEARCH_TAG $AUTORESEARCH_METRIC '
                    '$AUTORESEARCH_BEST $AUTORESEARCH_EXPERIMENT" > note.txt', env, tmp_path)
    assert not (tmp_path / "note.txt").exists(), "the caller waited for the notification"
    (tmp_path / "go").touch()
    thread.join(120)
    assert (tmp_path / "note.txt").read_text() == "nov27 time_ms 42.5 7\n"


def test_a_failing_notify_is_logged_and_ignored(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="autoresearch"):
        notify("echo boom >&2; exit 1", {}, tmp_path).join(10)
    assert any("notify command failed" in r.getMessage() and "boom" in r.getMessage()
               for r in caplog.records)


def test_secrets_do_not_reach_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    _script(tmp_path, "env.sh", 'echo "key=${ANTHROPIC_API_KEY:-none}"\n')
    assert run_hook("env.sh", {}, tmp_path).stdout == "key=none"
    assert os.environ["ANTHROPIC_API_KEY"] == "sk-secret"
