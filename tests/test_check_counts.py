"""The closing summaries of test runners, parsed from their real output.

pytest, unittest, go test, node's test runner and cargo test run for real (go, node and
cargo where installed: skipped locally, failed under CI when missing). jest, vitest and
mocha are not installed here: their summaries are the lines their documentation shows.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.engine.check_counts import CheckCounts, parse_check_counts, shrinkage
from tests.conftest import require_tool


def run(cwd: Path, *args: str) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd),
                                 "GOFLAGS": "-mod=mod", "GOCACHE": str(cwd / ".gocache"),
                                 "GOPATH": str(cwd / ".gopath"), "NO_COLOR": "1"})
    return result.stdout + result.stderr


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


PY_TESTS = {"test_u.py": """\
    import unittest
    class T(unittest.TestCase):
        def test_a(self): pass
        def test_b(self): pass
        @unittest.skip("x")
        def test_c(self): pass
        def test_d(self): self.assertEqual(1, 2)
    """}


@pytest.mark.parametrize("args, expected", [
    ((), CheckCounts("pytest", passed=2, failed=1, skipped=1)),
    (("-q",), CheckCounts("pytest", passed=2, failed=1, skipped=1)),
    (("-q", "-k", "test_a"), CheckCounts("pytest", passed=1, deselected=3)),
    (("-q", "-k", "nothing"), CheckCounts("pytest", deselected=4)),
    (("-q", "--co"), CheckCounts("pytest", deselected=4)),
])
def test_pytest(tmp_path: Path, args: tuple[str, ...], expected: CheckCounts) -> None:
    # This venv's pytest plugins (snapshots, hypothesis, benchmark) would cost ~0.8 s of CPU
    # per run and print nothing the counts come from.
    out = run(write(tmp_path, PY_TESTS), "env", "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1",
              sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args)
    assert parse_check_counts(out) == expected, out


def test_unittest(tmp_path: Path) -> None:
    out = run(write(tmp_path, PY_TESTS), sys.executable, "-m", "unittest")
    assert parse_check_counts(out) == CheckCounts("unittest", passed=2, failed=1, skipped=1)
    ok = run(tmp_path, sys.executable, "-m", "unittest", "test_u.T.test_a")
    assert parse_check_counts(ok) == CheckCounts("unittest", passed=1)


GO = {"go.mod": "module example.com/gop\n\ngo 1.19\n",
      "a.go": "package gop\n\nfunc Add(a, b int) int { return a + b }\n",
      "a_test.go": """\
          package gop

          import "testing"

          func TestAdd(t *testing.T) { if Add(1, 2) != 3 { t.Fatal("bad") } }
          func TestSkip(t *testing.T) { t.Skip("later") }
          func TestSub(t *testing.T) { t.Run("one", func(t *testing.T) {}) }
          """}


def test_go_test(tmp_path: Path) -> None:
    go = require_tool("go")
    root = write(tmp_path, GO)
    verbose = run(root, go, "test", "-v", "./...")
    assert parse_check_counts(verbose) == CheckCounts("go test", passed=3, skipped=1), verbose
    plain = run(root, go, "test", "-count=1", "./...")
    assert parse_check_counts(plain) == CheckCounts("go test (packages)", passed=1), plain
    none = run(root, go, "test", "-count=1", "-run", "Nothing", "./...")
    assert parse_check_counts(none) == CheckCounts("go test (packages)", skipped=1), none


def test_node_test_runner(tmp_path: Path) -> None:
    node = require_tool("node")
    root = write(tmp_path, {"a.test.js": """\
        const test = require('node:test');
        const assert = require('node:assert');
        test('adds', () => { assert.strictEqual(1 + 1, 2); });
        test('skipped', { skip: true }, () => {});
        test('todo', { todo: true }, () => {});
        """})
    expected = CheckCounts("node --test", passed=1, skipped=2)
    assert parse_check_counts(run(root, node, "--test")) == expected
    spec = run(root, node, "--test", "--test-reporter=spec")
    assert parse_check_counts(spec) == expected, spec


@pytest.mark.slow  # compiles a crate
def test_cargo_test(tmp_path: Path) -> None:
    cargo = require_tool("cargo")
    root = write(tmp_path, {"Cargo.toml": '[package]\nname = "crt"\nversion = "0.1.0"\n'
                                          'edition = "2021"\n',
                            "src/lib.rs": """\
        pub fn add(a: u64, b: u64) -> u64 { a + b }
        #[cfg(test)]
        mod tests {
            use super::*;
            #[test] fn it_works() { assert_eq!(add(2, 2), 4); }
            #[test] #[ignore] fn slow() {}
            #[test] fn other() {}
        }
        """})
    env_run = lambda *a: subprocess.run(  # noqa: E731
        [cargo, *a], cwd=root, capture_output=True, text=True, timeout=300)
    out = env_run("test", "--offline")
    text = out.stdout + out.stderr
    assert parse_check_counts(text) == CheckCounts("cargo test", passed=2, skipped=1), text
    filtered = env_run("test", "--offline", "other")
    assert parse_check_counts(filtered.stdout) == CheckCounts("cargo test", passed=1,
                                                              deselected=2)


@pytest.mark.parametrize("output, expected", [
    ("Test Suites: 1 passed, 1 total\nTests:       1 skipped, 2 passed, 3 total\n"
     "Snapshots:   0 total\nTime:        0.5 s\n", CheckCounts("jest", passed=2, skipped=1)),
    ("Tests:       1 failed, 4 passed, 5 total\n", CheckCounts("jest", passed=4, failed=1)),
    (" \x1b[2m Test Files \x1b[22m \x1b[1m\x1b[32m1 passed\x1b[39m\x1b[22m\x1b[90m (1)\x1b[39m\n"
     " \x1b[2m      Tests \x1b[22m \x1b[1m\x1b[32m2 passed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m"
     "\x1b[33m1 skipped\x1b[39m\x1b[90m (3)\x1b[39m\n",
     CheckCounts("vitest", passed=2, skipped=1)),
    ("\n  3 passing (12ms)\n  1 pending\n  2 failing\n",
     CheckCounts("mocha", passed=3, failed=2, skipped=1)),
    ("all good\n", None),
])
def test_documented_summaries(output: str, expected: CheckCounts | None) -> None:
    assert parse_check_counts(output) == expected


def test_shrinkage_names_what_changed() -> None:
    champion = CheckCounts("pytest", passed=412)
    assert shrinkage(champion, CheckCounts("pytest", skipped=412)) == \
        "412 passed on the champion, 0 passed here: 412 skipped"
    assert "no test summary" in shrinkage(champion, None)
    assert shrinkage(champion, CheckCounts("pytest", passed=413)) == ""
    assert shrinkage(None, None) == ""
    assert CheckCounts.from_json(champion.to_json()) == champion
    assert CheckCounts.from_json({"runner": "x", "passed": None}) is None
