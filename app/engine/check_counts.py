"""How many tests the checks ran: the closing summary of common test runners.

Exit status 0 says nothing about how much was tested: a change can make every test skip
(code under test that calls `pytest.skip` at import), collect none, or end the runner before
its summary, and pytest still exits 0. So the checks must run at least what they ran on the
champion: fewer passed, more skipped or deselected, more failed, or no summary where the
champion had one, is `checks_failed`.

Recognised summaries (the last one printed wins; counts of several cargo test binaries or
go packages add up): pytest, unittest, go test (`-v` test lines, else packages), cargo test,
node's test runner (TAP and spec reporters), jest, vitest, mocha. Anything else: the exit
status only, and the baseline's record says so.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class CheckCounts:
    runner: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    """Skipped, ignored, pending, todo, xfailed: tests that exist but did not run to pass."""
    deselected: int = 0
    """Deselected or filtered out by options."""

    def describe(self) -> str:
        parts = [f"{self.passed} passed"]
        for name in ("failed", "skipped", "deselected"):
            if getattr(self, name):
                parts.append(f"{getattr(self, name)} {name}")
        return ", ".join(parts) + f" ({self.runner})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> CheckCounts | None:
        if not isinstance(data, dict) or not isinstance(data.get("runner"), str):
            return None
        values = {k: data.get(k) for k in ("passed", "failed", "skipped", "deselected")}
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for v in values.values()):
            return None
        return cls(data["runner"], **values)  # type: ignore[arg-type]


def _ints(pairs: list[tuple[str, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for number, word in pairs:
        out[word] = out.get(word, 0) + int(number)
    return out


_PYTEST_WORDS = r"passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?|rerun"
_PYTEST = re.compile(
    rf"^=*\s*((?:\d+ (?:{_PYTEST_WORDS}),? ?)+|no tests ran)(?: in [\d.]+s.*?)?\s*=*\s*$")
_PYTEST_COLLECTED = re.compile(r"^=*\s*(\d+)(?:/\d+)? tests? collected(?: \(\d+ deselected\))?"
                               r" in [\d.]+s")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s$")
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$")
_GO_TEST = re.compile(r"^\s*--- (PASS|FAIL|SKIP): ")
_GO_PACKAGE = re.compile(r"^(ok|FAIL|\?)\s+\S+(?:\s+(?:[\d.]+s|\(cached\)|\[no test files\]))"
                         r"(.*)$")
_CARGO = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; "
                    r"(\d+) measured; (\d+) filtered out")
_NODE = re.compile(r"^(?:#|\u2139) (tests|pass|fail|cancelled|skipped|todo) (\d+)$")
_JEST = re.compile(r"^Tests:\s+(.*\d+ total)$")
_VITEST = re.compile(r"^\s*Tests\s+(.*)\(\d+\)$")
_MOCHA = re.compile(r"^\s*(\d+) (passing|failing|pending)(?: \(.*\))?$")


def parse_check_counts(output: str) -> CheckCounts | None:
    """The counts of the last recognised summary in `output`, or None."""
    lines = [ANSI.sub("", line).rstrip() for line in output.splitlines()]
    found: list[tuple[int, CheckCounts]] = []
    for parser in (_pytest, _unittest, _go, _cargo, _node, _jest, _vitest, _mocha):
        result = parser(lines)
        if result is not None:
            found.append(result)
    if not found:
        return None
    latest = max(found, key=lambda item: item[0])[1]
    # A failure another runner's summary reports is never hidden by a later summary (code
    # under test that prints "Ran 1 test ... OK" after pytest's "1 failed").
    others = sum(counts.failed for _, counts in found if counts is not latest)
    return dataclasses.replace(latest, failed=latest.failed + others) if others else latest


def _pytest(lines: list[str]) -> tuple[int, CheckCounts] | None:
    """Every summary line counts, summed: a command may run pytest more than once, and code
    under test that prints "1 passed in 0.01s" after pytest's own "1 failed" and ends the
    process with status 0 must not have its line taken alone."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "deselected": 0}
    last = -1
    for i, line in enumerate(lines):
        match = _PYTEST.match(line)
        if not (match and ("in " in line or "no tests ran" in line)):
            continue
        words = _ints(re.findall(rf"(\d+) ({_PYTEST_WORDS})", match.group(1)))
        counts["passed"] += words.get("passed", 0) + words.get("xpassed", 0)
        counts["failed"] += (words.get("failed", 0) + words.get("error", 0)
                             + words.get("errors", 0))
        counts["skipped"] += words.get("skipped", 0) + words.get("xfailed", 0)
        counts["deselected"] += words.get("deselected", 0)
        last = i
    if last >= 0:
        return last, CheckCounts("pytest", **counts)
    for i in range(len(lines) - 1, -1, -1):
        collected = _PYTEST_COLLECTED.match(lines[i])
        if collected:  # --co: tests were collected, none ran
            return i, CheckCounts("pytest", deselected=int(collected.group(1)))
    return None


def _unittest(lines: list[str]) -> tuple[int, CheckCounts] | None:
    """Every `Ran N tests` ... `OK`/`FAILED (...)` block counts, summed (as for pytest)."""
    passed = failed_all = skipped_all = 0
    last = -1
    for i, line in enumerate(lines):
        end = _UNITTEST_END.match(line)
        if not end:
            continue
        ran = next((int(m.group(1)) for line in reversed(lines[:i])
                    if (m := _UNITTEST_RAN.match(line))), None)
        if ran is None:
            continue
        detail = _ints([(n, w) for w, n in re.findall(r"(\w+)=(\d+)", end.group(2) or "")])
        failed = detail.get("failures", 0) + detail.get("errors", 0) + detail.get(
            "unexpected_successes", 0)
        skipped = detail.get("skipped", 0) + detail.get("expected_failures", 0)
        passed += max(0, ran - failed - skipped)
        failed_all += failed
        skipped_all += skipped
        last = i
    if last < 0:
        return None
    return last, CheckCounts("unittest", passed=passed, failed=failed_all,
                             skipped=skipped_all)


def _go(lines: list[str]) -> tuple[int, CheckCounts] | None:
    tests = _ints([(1, m.group(1)) for line in lines  # type: ignore[misc]
                   if (m := _GO_TEST.match(line))])
    last = max((i for i, line in enumerate(lines) if _GO_PACKAGE.match(line)), default=None)
    if tests:
        where = max(last or 0, max(i for i, line in enumerate(lines) if _GO_TEST.match(line)))
        return where, CheckCounts("go test", passed=tests.get("PASS", 0),
                                  failed=tests.get("FAIL", 0), skipped=tests.get("SKIP", 0))
    if last is None:
        return None
    # Without -v, go test prints one line per package: count packages that ran tests.
    passed = failed = skipped = 0
    for line in lines:
        match = _GO_PACKAGE.match(line)
        if not match:
            continue
        status, rest = match.group(1), match.group(2)
        if status == "?" or "[no test files]" in line:
            continue
        if "[no tests to run]" in rest:
            skipped += 1
        elif status == "ok":
            passed += 1
        else:
            failed += 1
    return last, CheckCounts("go test (packages)", passed=passed, failed=failed,
                             skipped=skipped)


def _cargo(lines: list[str]) -> tuple[int, CheckCounts] | None:
    total = [0, 0, 0, 0]
    where = None
    for i, line in enumerate(lines):
        match = _CARGO.match(line)
        if match:
            passed, failed, ignored, _measured, filtered = map(int, match.groups())
            for k, v in enumerate((passed, failed, ignored, filtered)):
                total[k] += v
            where = i
    if where is None:
        return None
    return where, CheckCounts("cargo test", *total)


def _node(lines: list[str]) -> tuple[int, CheckCounts] | None:
    values: dict[str, int] = {}
    where = None
    for i, line in enumerate(lines):
        match = _NODE.match(line)
        if match:
            values[match.group(1)] = int(match.group(2))
            where = i
    if where is None or "tests" not in values or "pass" not in values:
        return None
    return where, CheckCounts(
        "node --test", passed=values["pass"],
        failed=values.get("fail", 0) + values.get("cancelled", 0),
        skipped=values.get("skipped", 0) + values.get("todo", 0))


def _words(text: str) -> dict[str, int]:
    return _ints([(n, w) for n, w in re.findall(r"(\d+) ([a-z]+)", text)])


def _jest(lines: list[str]) -> tuple[int, CheckCounts] | None:
    for i in range(len(lines) - 1, -1, -1):
        match = _JEST.match(lines[i].strip())
        if match:
            w = _words(match.group(1))
            return i, CheckCounts("jest", passed=w.get("passed", 0), failed=w.get("failed", 0),
                                  skipped=w.get("skipped", 0) + w.get("todo", 0))
    return None


def _vitest(lines: list[str]) -> tuple[int, CheckCounts] | None:
    for i in range(len(lines) - 1, -1, -1):
        match = _VITEST.match(lines[i])
        if match and re.search(r"\d+ (passed|failed|skipped|todo)", match.group(1)):
            w = _words(match.group(1))
            return i, CheckCounts("vitest", passed=w.get("passed", 0),
                                  failed=w.get("failed", 0),
                                  skipped=w.get("skipped", 0) + w.get("todo", 0))
    return None


def _mocha(lines: list[str]) -> tuple[int, CheckCounts] | None:
    values: dict[str, int] = {}
    where = None
    for i, line in enumerate(lines):
        match = _MOCHA.match(line)
        if match:
            values[match.group(2)] = int(match.group(1))
            where = i
    if where is None or "passing" not in values:
        return None
    return where, CheckCounts("mocha", passed=values["passing"],
                              failed=values.get("failing", 0), skipped=values.get("pending", 0))


def shrinkage(champion: CheckCounts | None, candidate: CheckCounts | None) -> str:
    """Why the candidate's checks ran less than the champion's ('' when they did not)."""
    if champion is None:
        return ""
    if candidate is None:
        return (f"the checks printed no test summary; on the champion: "
                f"{champion.describe()}")
    if candidate.runner != champion.runner:
        return (f"the checks' summary changed runner: {champion.describe()} on the champion, "
                f"{candidate.describe()} here")
    problems = []
    if candidate.skipped > champion.skipped:
        problems.append(f"{candidate.skipped} skipped")
    if candidate.deselected > champion.deselected:
        problems.append(f"{candidate.deselected} deselected")
    if candidate.failed > champion.failed:
        problems.append(f"{candidate.failed} failed")
    if candidate.passed < champion.passed or problems:
        detail = f": {', '.join(problems)}" if problems else ""
        return (f"{champion.passed} passed on the champion, {candidate.passed} passed "
                f"here{detail}")
    return ""
