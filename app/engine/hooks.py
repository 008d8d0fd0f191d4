"""`[hooks]`: user scripts around each experiment, and a notification on a new best.

The contract follows pi-autoresearch's hooks (skills/autoresearch-hooks), so hooks written
for it work here with no change:

* `before` runs before each experiment; `after` after each decided experiment. Each gets one
  JSON line on stdin (see `before_payload` / `after_payload` for the fields) and runs with
  the session's worktree as its working directory.
* Up to 8 KB of stdout comes back as guidance for the agent (empty stdout: nothing to say).
* A non-zero exit, a timeout (30 s, then the process group is killed) or a missing script
  is reported as an error string, never raised: a broken hook must not stop a night of
  experiments.

`notify` is a shell command run on a new best, detached: the loop never waits for it, its
failures are logged and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engine.process import EnvPolicy, run_command
from app.engine.sandbox import Isolation

HOOK_TIMEOUT_S = 30.0
MAX_GUIDANCE_BYTES = 8 * 1024
"""How much of a hook's stdout is passed on to the agent (pi-autoresearch's cap)."""
MAX_ERROR_CHARS = 600

log = logging.getLogger("autoresearch")


@dataclass(frozen=True)
class HookResult:
    stdout: str
    """Guidance for the agent: the hook's stdout, stripped, at most 8 KB (may be empty)."""
    error: str | None
    """None when the hook exited 0 in time; otherwise one line saying what went wrong,
    with the end of its stderr."""
    duration_s: float
    truncated: bool = False
    """Whether stdout was cut at 8 KB."""


def run_hook(path_or_cmd: str, payload: Mapping[str, Any], cwd: Path,
             timeout_s: float = HOOK_TIMEOUT_S, *, repo_root: Path | None = None,
             isolation: Isolation | None = None, policy: EnvPolicy | None = None
             ) -> HookResult:
    """Run a hook with `payload` as one JSON line on stdin; never raises.

    `path_or_cmd` is a path to an executable (relative to `repo_root`, default `cwd`, as in
    the config) or, when no such file exists, a shell command. The process gets its own
    process group (through `run_command`) so a timeout also kills what it started.
    """
    started = time.monotonic()
    base = repo_root or cwd
    candidate = Path(path_or_cmd)
    if not candidate.is_absolute():
        candidate = base / path_or_cmd
    if candidate.is_file():
        if not os.access(candidate, os.X_OK):
            return HookResult("", f"hook {path_or_cmd} is not executable (chmod +x it)",
                              time.monotonic() - started)
        command = _quote(str(candidate))
    elif not path_or_cmd.strip() or "/" in path_or_cmd.split()[0]:
        # A path that is not there: say so rather than let `sh` print "not found".
        return HookResult("", f"hook {path_or_cmd!r} does not exist", time.monotonic() - started)
    else:
        command = path_or_cmd
    line = json.dumps(dict(payload), default=str, separators=(",", ":")) + "\n"
    result = run_command(command, cwd, timeout_s, isolation=isolation, policy=policy,
                         stdin_text=line)
    raw = result.stdout.encode("utf-8", errors="replace")
    truncated = len(raw) > MAX_GUIDANCE_BYTES
    guidance = raw[:MAX_GUIDANCE_BYTES].decode("utf-8", errors="ignore").strip()
    error: str | None = None
    if result.timed_out:
        error = f"hook {path_or_cmd} timed out after {timeout_s:g} s and was killed"
    elif result.exit_code != 0:
        tail = _stderr_tail(result.output, result.stdout)
        error = f"hook {path_or_cmd} failed ({result.failure() or 'no exit status'})" + (
            f": {tail}" if tail else "")
    if error:
        log.warning("%s", error)
    return HookResult(guidance, error, time.monotonic() - started, truncated)


def before_payload(*, cwd: Path, next_run: int, last: Mapping[str, Any] | None,
                   session: Mapping[str, Any]) -> dict[str, Any]:
    """The `before` hook's stdin: the experiment about to start and the last one."""
    return {"event": "before", "cwd": str(cwd), "next_run": next_run,
            "last_run": dict(last) if last is not None else None, "session": dict(session)}


def after_payload(*, cwd: Path, entry: Mapping[str, Any], session: Mapping[str, Any]
                  ) -> dict[str, Any]:
    """The `after` hook's stdin: the experiment just decided, and the session after it."""
    return {"event": "after", "cwd": str(cwd), "run_entry": dict(entry),
            "session": dict(session)}


def run_entry(*, n: int, status: str, metric: float | None, description: str,
              hypothesis: str = "", learned: str = "", reason: str = "",
              metrics: Mapping[str, float] | None = None, commit: str | None = None,
              confidence: float | None = None) -> dict[str, Any]:
    """One experiment as pi-autoresearch's hooks see a run (`run`, `status`, `metric`,
    `description`, `asi`), plus our own fields, which its hooks simply ignore."""
    asi = {k: v for k, v in (("hypothesis", hypothesis), ("learned", learned)) if v}
    return {"run": n, "status": status, "metric": metric, "description": description,
            "asi": asi, "reason": reason, "metrics": dict(metrics or {}), "commit": commit,
            "confidence": confidence}


def session_info(*, tag: str, metric_name: str, unit: str, direction: str,
                 baseline: float | None, best: float | None, run_count: int, goal: str
                 ) -> dict[str, Any]:
    """The `session` object of both payloads (pi-autoresearch's field names, plus `tag`)."""
    return {"metric_name": metric_name, "metric_unit": unit, "direction": direction,
            "baseline_metric": baseline, "best_metric": best, "run_count": run_count,
            "goal": goal, "tag": tag}


def notify_env(*, tag: str, metric_name: str, best: float, baseline: float | None,
               n: int, description: str, unit: str = "") -> dict[str, str]:
    """The variables `notify` gets (besides the session's allowlisted environment)."""
    return {"AUTORESEARCH_TAG": tag, "AUTORESEARCH_METRIC": metric_name,
            "AUTORESEARCH_BEST": f"{best:g}", "AUTORESEARCH_UNIT": unit,
            "AUTORESEARCH_BASELINE": "" if baseline is None else f"{baseline:g}",
            "AUTORESEARCH_EXPERIMENT": str(n), "AUTORESEARCH_DESCRIPTION": description[:500]}


def notify(command: str, env: Mapping[str, str], cwd: Path,
           timeout_s: float = HOOK_TIMEOUT_S, *, policy: EnvPolicy | None = None
           ) -> threading.Thread:
    """Run `command` (a shell command) in the background on a new best; never blocks.

    Returns the thread that waits for it (tests join it). Failures are logged, not raised:
    a notification is a courtesy, not part of the experiment.
    """
    def work() -> None:
        # Not sandboxed: a notification has to reach the desktop or the network.
        result = run_command(command, cwd, timeout_s, env=dict(env), policy=policy)
        if not result.ok:
            log.warning("notify command failed (%s): %s", result.failure(),
                        _stderr_tail(result.output, result.stdout))

    thread = threading.Thread(target=work, name="autoresearch-notify", daemon=True)
    thread.start()
    return thread


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _stderr_tail(output: str, stdout: str) -> str:
    """The last lines of what the hook printed besides its stdout, on one line."""
    text = output
    if stdout and stdout in text:
        text = text.replace(stdout, "")
    lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
    joined = " | ".join(lines[-3:])
    return joined[-MAX_ERROR_CHARS:]


__all__: Sequence[str] = ("HookResult", "run_hook", "notify", "before_payload", "after_payload",
                          "run_entry", "session_info", "notify_env")
