"""The sandboxed file tools: hostile paths are refused, nothing outside the worktree changes,
protected files are read-only, the holdout is invisible, every output is capped."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.engine.agents.tools import (
    MAX_OUTPUT_CHARS,
    MAX_SEARCH_MATCHES,
    Sandbox,
    ToolError,
    summarize_call,
    tool_schemas,
)
from app.engine.guard import Guard
from app.engine.process import EnvPolicy

HOLDOUT_TOKEN = "HOLDOUT_SECRET_7f3a"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture()
def world(tmp_path: Path) -> dict[str, Path]:
    return _make_world(tmp_path)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One world for the refusal tests: each asserts it changed nothing, so sharing is safe
    (and saves building 50 git repositories)."""
    return _make_world(tmp_path_factory.mktemp("hostile"))


def _make_world(tmp_path: Path) -> dict[str, Path]:
    """A worktree (a real git repo) next to an `outside` folder that must stay untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside secret\n")
    wt = tmp_path / "wt"
    wt.mkdir()
    _git(wt, "init", "-q")
    _git(wt, "config", "user.name", "Test")
    _git(wt, "config", "user.email", "test@example.com")
    (wt / "a.py").write_text("def f(x):\n    return x + 1\n\n\ndef g(x):\n    return x + 1\n")
    (wt / "sub").mkdir()
    (wt / "sub" / "b.py").write_text("".join(f"line {i}\n" for i in range(1, 1001)))
    (wt / "tests").mkdir()
    (wt / "tests" / "test_a.py").write_text("def test_f():\n    assert True\n")
    (wt / "bench.py").write_text("print(1.0)\n")
    (wt / "autoresearch.toml").write_text("[metric]\ncommand = 'python bench.py'\n")
    (wt / "holdout").mkdir()
    (wt / "holdout" / "bench_holdout.py").write_text(f"# {HOLDOUT_TOKEN}\nprint(2.0)\n")
    _git(wt, "add", ".")
    _git(wt, "commit", "-qm", "init")
    os.symlink(outside, wt / "linkdir")
    os.symlink("/tmp", wt / "link_tmp")
    os.symlink(outside / "secret.txt", wt / "link_out_file")
    os.symlink("tests/test_a.py", wt / "link_protected")
    os.symlink("holdout/bench_holdout.py", wt / "link_hidden")
    os.symlink(".git", wt / "link_git")
    os.symlink("sub/b.py", wt / "link_ok")
    return {"wt": wt, "outside": outside}


def _sandbox(wt: Path, allow_commands: bool = False) -> Sandbox:
    guard = Guard([], [], protected_paths={"tests", "bench.py", "autoresearch.toml"},
                  hidden_paths={"holdout"})
    return Sandbox(wt, is_protected=guard.is_protected, is_hidden=guard.is_hidden,
                   allow_commands=allow_commands)


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (symlinks not followed) with a hash of its content."""
    result: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            if p.is_symlink():
                result[str(p)] = "link:" + os.readlink(p)
            else:
                result[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return result


UNIQUE = f"autoresearch-hostile-{os.getpid()}"

HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("read_file", {"path": "../outside/secret.txt"}),
    ("write_file", {"path": "../x", "content": "x"}),
    ("read_file", {"path": "/etc/passwd"}),
    ("write_file", {"path": "/tmp/" + UNIQUE, "content": "x"}),
    ("write_file", {"path": f"link_tmp/{UNIQUE}", "content": "x"}),
    ("read_file", {"path": "linkdir/secret.txt"}),
    ("write_file", {"path": "linkdir/new.txt", "content": "x"}),
    ("edit_file", {"path": "linkdir/secret.txt", "old": "outside", "new": "inside"}),
    ("delete_file", {"path": "linkdir/secret.txt"}),
    ("list_files", {"path": "linkdir"}),
    ("read_file", {"path": "link_out_file"}),
    ("write_file", {"path": "link_out_file", "content": "x"}),
    ("read_file", {"path": ".git/config"}),
    ("write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\n"}),
    ("read_file", {"path": ".GIT/config"}),
    ("read_file", {"path": "link_git/config"}),
    ("write_file", {"path": "sub/.git/config", "content": "x"}),
    ("write_file", {"path": ".autoresearch/x", "content": "x"}),
    ("list_files", {"path": ".autoresearch"}),
    ("write_file", {"path": "tests/test_a.py", "content": "def test_f(): pass\n"}),
    ("edit_file", {"path": "tests/test_a.py", "old": "assert True", "new": "pass"}),
    ("delete_file", {"path": "tests/test_a.py"}),
    ("write_file", {"path": "tests/test_new.py", "content": "x"}),
    ("edit_file", {"path": "bench.py", "old": "1.0", "new": "0.1"}),
    ("write_file", {"path": "autoresearch.toml", "content": ""}),
    ("write_file", {"path": "link_protected", "content": "x"}),
    ("edit_file", {"path": "link_protected", "old": "assert True", "new": "pass"}),
    ("write_file", {"path": "a/../../b", "content": "x"}),
    ("write_file", {"path": "sub/../../x", "content": "x"}),
    ("read_file", {"path": "./../outside/secret.txt"}),
    ("read_file", {"path": "a.py\0.txt"}),
    ("write_file", {"path": "x" * 5000, "content": "x"}),
    ("write_file", {"path": "d/" + "a" * 300 + ".py", "content": "x"}),
    ("write_file", {"path": "\u202eyp.evil", "content": "x"}),
    ("write_file", {"path": "a\u200b.py", "content": "x"}),
    ("write_file", {"path": "a\ud800.py", "content": "x"}),
    ("write_file", {"path": "a\nb.py", "content": "x"}),
    ("write_file", {"path": " a.py", "content": "x"}),
    ("write_file", {"path": "~/x", "content": "x"}),
    ("read_file", {"path": "//etc/passwd"}),
    ("write_file", {"path": "C:/Windows/x", "content": "x"}),
    ("write_file", {"path": "a\\..\\..\\x", "content": "x"}),
    ("write_file", {"path": "", "content": "x"}),
    ("write_file", {"path": ".", "content": "x"}),
    ("read_file", {"path": 123}),
    ("read_file", {"path": "holdout/bench_holdout.py"}),
    ("read_file", {"path": "link_hidden"}),
    ("list_files", {"path": "holdout"}),
    ("search", {"pattern": "print", "path": "holdout"}),
    ("edit_file", {"path": "holdout/bench_holdout.py", "old": "2.0", "new": "1.0"}),
    ("run_command", {"command": "true"}),  # not offered unless allow_commands
    ("no_such_tool", {}),
]


def test_at_least_thirty_hostile_calls_are_listed() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("name,args", HOSTILE, ids=[f"{i}-{n}" for i, (n, _) in
                                                     enumerate(HOSTILE)])
def test_hostile_call_is_refused_and_nothing_changes(shared_world: dict[str, Path], name: str,
                                                     args: dict[str, Any]) -> None:
    wt, outside = shared_world["wt"], shared_world["outside"]
    before_wt, before_out = _snapshot(wt), _snapshot(outside)
    sandbox = _sandbox(wt)
    with pytest.raises(ToolError) as info:
        sandbox.run(name, dict(args))
    assert str(info.value)  # the model is told why
    assert HOLDOUT_TOKEN not in str(info.value)
    assert _snapshot(wt) == before_wt
    assert _snapshot(outside) == before_out
    assert not Path("/tmp", UNIQUE).exists()
    assert not sandbox.changed


@pytest.mark.parametrize("target", [".", "sub"])
def test_writing_through_a_symlink_to_a_folder_is_refused(tmp_path: Path, target: str) -> None:
    """A symlink to the worktree root (or any folder) named as a file to write: the atomic
    write's temporary sibling of the resolved folder landed next to it, outside the
    worktree (found by the property test in test_hostile_agents)."""
    world = _make_world(tmp_path)
    wt, outside = world["wt"], world["outside"]
    os.symlink(target, wt / "l2")
    before_parent = sorted(p.name for p in tmp_path.iterdir())
    before_wt, before_out = _snapshot(wt), _snapshot(outside)
    sandbox = _sandbox(wt)
    with pytest.raises(ToolError, match="folder"):
        sandbox.run("write_file", {"path": "l2", "content": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == before_parent
    assert _snapshot(wt) == before_wt and _snapshot(outside) == before_out
    assert not sandbox.changed


def test_holdout_is_neither_listed_nor_searchable(world: dict[str, Path]) -> None:
    sandbox = _sandbox(world["wt"])
    listing = sandbox.run("list_files", {"path": ".", "depth": 5})
    assert "holdout" not in listing and "bench_holdout" not in listing
    assert "a.py" in listing and "sub/" in listing
    assert "linkdir -> (outside the repository)" in listing
    assert ".git" not in listing.replace("link_git", "")
    assert sandbox.run("search", {"pattern": HOLDOUT_TOKEN}) == "no matches"
    assert sandbox.run("search", {"pattern": "print"}).splitlines() == ["bench.py:1: print(1.0)"]


def test_protected_files_are_readable(world: dict[str, Path]) -> None:
    sandbox = _sandbox(world["wt"])
    assert "assert True" in sandbox.run("read_file", {"path": "tests/test_a.py"})
    assert "assert True" in sandbox.run("read_file", {"path": "link_protected"})
    assert "line 1" in sandbox.run("read_file", {"path": "link_ok"})


def test_read_file_line_ranges_and_cap(world: dict[str, Path]) -> None:
    sandbox = _sandbox(world["wt"])
    out = sandbox.run("read_file", {"path": "sub/b.py", "start_line": 10, "end_line": 12})
    assert out.splitlines() == ["sub/b.py (lines 10-12 of 1000); read on with start_line=13",
                                "   10  line 10", "   11  line 11", "   12  line 12"]
    whole = sandbox.run("read_file", {"path": "sub/b.py"})
    assert "(lines 1-400 of 1000); read on with start_line=401" in whole
    assert "line 401" not in whole
    with pytest.raises(ToolError, match="past the end"):
        sandbox.run("read_file", {"path": "sub/b.py", "start_line": 5000})


def test_every_output_is_capped(world: dict[str, Path]) -> None:
    wt = world["wt"]
    (wt / "big.txt").write_text(("y" * 399 + "\n") * 3000)
    (wt / "many").mkdir()
    for i in range(400):
        (wt / "many" / f"f{i:03}.txt").write_text("needle\n" * 3)
    sandbox = _sandbox(wt)
    assert len(sandbox.run("read_file", {"path": "big.txt"})) <= MAX_OUTPUT_CHARS + 100
    found = sandbox.run("search", {"pattern": "needle"})
    assert len(found.splitlines()) == MAX_SEARCH_MATCHES + 1
    assert "more matches" in found.splitlines()[-1]
    listing = sandbox.run("list_files", {"path": "many"})
    assert "more entries" in listing
    assert len(listing) <= MAX_OUTPUT_CHARS + 100


def test_edit_file_requires_exactly_one_occurrence(world: dict[str, Path]) -> None:
    wt = world["wt"]
    sandbox = _sandbox(wt)
    with pytest.raises(ToolError, match="occurs 2 times"):
        sandbox.run("edit_file", {"path": "a.py", "old": "return x + 1", "new": "return x"})
    with pytest.raises(ToolError, match="occurs 0 times"):
        sandbox.run("edit_file", {"path": "a.py", "old": "return x + 2", "new": "return x"})
    assert not sandbox.changed
    sandbox.run("edit_file", {"path": "a.py", "old": "def g(x):\n    return x + 1",
                              "new": "def g(x):\n    return x + 2"})
    assert (wt / "a.py").read_text().endswith("def g(x):\n    return x + 2\n")
    assert sandbox.changed == {"a.py"}


def test_write_and_delete_inside(world: dict[str, Path]) -> None:
    wt = world["wt"]
    sandbox = _sandbox(wt)
    assert sandbox.run("write_file", {"path": "pkg/deep/new.py", "content": "z = 3\n"}) \
        == "created pkg/deep/new.py (2 lines)"
    assert (wt / "pkg/deep/new.py").read_text() == "z = 3\n"
    (wt / "run.sh").write_text("#!/bin/sh\n")
    (wt / "run.sh").chmod(0o755)
    sandbox.run("write_file", {"path": "run.sh", "content": "#!/bin/sh\necho hi\n"})
    assert (wt / "run.sh").stat().st_mode & 0o777 == 0o755  # the mode survives a rewrite
    sandbox.run("delete_file", {"path": "sub/b.py"})
    assert not (wt / "sub/b.py").exists()
    assert sandbox.changed == {"pkg/deep/new.py", "run.sh", "sub/b.py"}
    assert not list(wt.rglob("*.autoresearch-tmp"))


def test_search_regex_errors_and_glob(world: dict[str, Path]) -> None:
    sandbox = _sandbox(world["wt"])
    with pytest.raises(ToolError, match="bad regular expression"):
        sandbox.run("search", {"pattern": "("})
    assert sandbox.run("search", {"pattern": "def ", "glob": "*.py", "path": "sub"}) \
        == "no matches"
    assert sandbox.run("search", {"pattern": r"def \w\(", "glob": "*.py"}).count("a.py:") == 2


def test_run_command_has_no_secrets_and_a_timeout(world: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-SECRET")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-SECRET")
    monkeypatch.setenv("DB_PASSWORD", "pw-SECRET")
    monkeypatch.setenv("HARMLESS", "visible")
    wt = world["wt"]
    sandbox = _sandbox(wt, allow_commands=True)
    sandbox.policy = EnvPolicy(passthrough=("HARMLESS", "GITHUB_TOKEN"))
    out = sandbox.run("run_command", {"command": "env; pwd"})
    assert out.startswith("exit status 0")
    assert "SECRET" not in out and "HARMLESS=visible" in out
    assert str(wt.resolve()) in out
    out = sandbox.run("run_command", {"command": "sleep 30", "timeout_s": 1})
    assert out.startswith("timed out after 1 s")
    assert [t["name"] for t in tool_schemas(True)][-2:] == ["run_command", "finish"]
    assert "run_command" not in [t["name"] for t in tool_schemas(False)]


def test_call_summaries_are_short() -> None:
    assert summarize_call("read_file", {"path": "a.py", "start_line": 3, "end_line": 9}) \
        == "read_file a.py:3-9"
    assert summarize_call("edit_file", {"path": "a.py", "old": "a\nb", "new": "c"}) \
        == "edit_file a.py (-2 +1 lines)"
    assert len(summarize_call("run_command", {"command": "x" * 1000})) < 130


def test_bad_arguments_are_tool_errors_not_crashes(world: dict[str, Path]) -> None:
    wt = world["wt"]
    (wt / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    sandbox = _sandbox(wt)
    calls: list[tuple[str, dict[str, Any]]] = [
                       ("read_file", {"path": "a.py", "start_line": "ten"}),
                       ("read_file", {"path": "a.py", "colour": "red"}),
                       ("list_files", {"depth": "deep"}),
                       ("edit_file", {"path": "latin1.txt", "old": "caf", "new": "x"}),
                       ("edit_file", {"path": "a.py", "old": "", "new": "x"}),
                       ("write_file", {"path": "n.py", "content": None}),
                       ("search", {"pattern": ""}),
                       ("read_file", {"path": "sub"}),
                       ("read_file", {"path": "missing.py"}),
                       ("delete_file", {"path": "sub"})]
    for name, args in calls:
        with pytest.raises(ToolError):
            sandbox.run(name, args)
    assert not (wt / "n.py").exists()
    assert (wt / "sub/b.py").exists()
