"""Hostile agents: property-based tests of the sandboxed tools, and secrets kept out of
everything the harness stores or sends.

Hypothesis draws symlink layouts (links anywhere in the worktree, to places outside, into
.git, into the holdout, onto protected files, onto each other, dangling) and sequences of
tool calls on paths built from a hostile vocabulary. Whatever the calls do, nothing outside
the worktree changes, no protected or git file changes, and no output shows a holdout, git
or outside secret.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine.agents.tools import Sandbox, ToolError
from app.engine.guard import Guard
from tests.conftest import Project

HOLDOUT_TOKEN = "HOLDOUT_TOKEN_c41d"
OUTSIDE_TOKEN = "OUTSIDE_TOKEN_9e2b"
GIT_TOKEN = "GIT_TOKEN_5a7f"
WRITE_TOKEN = "WRITTEN_BY_AGENT_77"

SEGMENTS = ["a.py", "sub", "b.py", "tests", "test_a.py", "bench.py", "autoresearch.toml",
            "holdout", "h.py", ".git", ".GIT", "config", "HEAD", ".autoresearch", "..", ".",
            "outside", "secret.txt", "new.py", "l0", "l1", "l2", "l3", "deep", "x"]
LINK_TARGETS = ["OUTSIDE_DIR", "OUTSIDE_FILE", "OUTSIDE_MISSING", "ROOT_ABS", "..", "../..",
                "../outside/secret.txt", ".git", ".git/config", "holdout", "holdout/h.py",
                "holdout/new.py", "tests", "tests/test_a.py", "bench.py", "sub", "sub/b.py",
                "a.py", "missing.py", "l0", "l1", "l2", "sub/l3", "/", "/etc/passwd"]
LINK_PLACES = ["l0", "l1", "l2", "sub/l3", "deep/l0", "tests/l1"]


def build_world(base: Path, links: list[tuple[str, str]]) -> Path:
    """A worktree (no git needed: `.git` is a folder with a config) next to `outside`."""
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{OUTSIDE_TOKEN}\n")
    wt = base / "wt"
    for rel, text in {
        "a.py": "def f(x):\n    return x + 1\n",
        "sub/b.py": "VALUE = 3\n",
        "tests/test_a.py": "def test_f():\n    assert True\n",
        "bench.py": "print(1.0)\n",
        "autoresearch.toml": "[metric]\ncommand = 'python bench.py'\n",
        "holdout/h.py": f"# {HOLDOUT_TOKEN}\nprint(2.0)\n",
        ".git/config": f"[core]\n# {GIT_TOKEN}\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".autoresearch/state": f"{GIT_TOKEN}\n",
        "deep/x": "x\n",
    }.items():
        path = wt / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for place, target in links:
        link = wt / place
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        target = {"OUTSIDE_DIR": str(outside), "OUTSIDE_FILE": str(outside / "secret.txt"),
                  "OUTSIDE_MISSING": str(outside / "created.txt"),
                  "ROOT_ABS": str(wt)}.get(target, target)
        os.symlink(target, link)
    return wt


def sandbox(wt: Path) -> Sandbox:
    guard = Guard([], [], protected_paths={"tests", "bench.py", "autoresearch.toml"},
                  hidden_paths={"holdout"})
    return Sandbox(wt, is_protected=guard.is_protected, is_hidden=guard.is_hidden)


def fingerprint(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under root (symlinks not followed) with its content hash or link text."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip is not None and here == skip:
            dirnames[:] = []
            continue
        for name in filenames + [d for d in dirnames if (here / d).is_symlink()]:
            p = here / name
            if p == skip:
                continue
            out[str(p)] = ("link:" + os.readlink(p)) if p.is_symlink() else \
                hashlib.sha256(p.read_bytes()).hexdigest()
        out[str(here)] = "dir"
    return out


def guarded(wt: Path) -> dict[str, str]:
    """What the agent may never change inside the worktree: protected, hidden, git, harness."""
    out: dict[str, str] = {}
    for rel in ("tests", "bench.py", "autoresearch.toml", "holdout", ".git", ".autoresearch"):
        p = wt / rel
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out.update(fingerprint(p))
        elif p.exists():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "missing"
    return out


paths = st.builds(
    lambda prefix, parts: prefix + "/".join(parts),
    st.sampled_from(["", "", "", "./", "/", "//", "~/"]),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4))

calls = st.one_of(
    st.tuples(st.just("read_file"), st.fixed_dictionaries({"path": paths})),
    st.tuples(st.just("list_files"), st.fixed_dictionaries(
        {"path": st.one_of(st.just("."), paths), "depth": st.integers(1, 8)})),
    st.tuples(st.just("search"), st.fixed_dictionaries(
        {"pattern": st.sampled_from(["TOKEN", "print", ".", "HOLDOUT|OUTSIDE|GIT"]),
         "path": st.one_of(st.just("."), paths)})),
    st.tuples(st.just("write_file"), st.fixed_dictionaries(
        {"path": paths, "content": st.just(WRITE_TOKEN + "\n")})),
    st.tuples(st.just("edit_file"), st.fixed_dictionaries(
        {"path": paths, "old": st.sampled_from(["1", "x", "return", "TOKEN"]),
         "new": st.just(WRITE_TOKEN)})),
    st.tuples(st.just("delete_file"), st.fixed_dictionaries({"path": paths})),
)

layouts = st.lists(st.tuples(st.sampled_from(LINK_PLACES), st.sampled_from(LINK_TARGETS)),
                   max_size=5)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(layout=layouts, script=st.lists(calls, min_size=1, max_size=8))
def test_no_tool_call_escapes_the_worktree_or_touches_guarded_files(
        layout: list[tuple[str, str]], script: list[tuple[str, dict[str, Any]]]) -> None:
    base = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        wt = build_world(base, layout)
        box = sandbox(wt)
        outside_before = fingerprint(base, skip=wt)
        guarded_before = guarded(wt)
        etc_passwd = Path("/etc/passwd").read_bytes()
        for name, args in script:
            try:
                output = box.run(name, dict(args))
            except ToolError as exc:
                output = str(exc)
            for token in (HOLDOUT_TOKEN, OUTSIDE_TOKEN, GIT_TOKEN):
                assert token not in output, (name, args, layout, output)
            assert fingerprint(base, skip=wt) == outside_before, (name, args, layout)
            assert guarded(wt) == guarded_before, (name, args, layout)
        assert Path("/etc/passwd").read_bytes() == etc_passwd
        # Whatever was written landed inside the worktree, outside the guarded parts.
        for dirpath, _, filenames in os.walk(wt, followlinks=False):
            for file in filenames:
                p = Path(dirpath) / file
                if p.is_symlink() or not p.is_file():
                    continue
                if WRITE_TOKEN in p.read_text(errors="replace"):
                    rel = p.relative_to(wt).as_posix()
                    assert not rel.startswith(("tests/", "holdout/", ".git/",
                                               ".autoresearch/")), rel
                    assert rel not in ("bench.py", "autoresearch.toml"), rel
    finally:
        shutil.rmtree(base, ignore_errors=True)


@settings(max_examples=200, deadline=None)
@given(path=paths)
def test_resolve_returns_a_path_inside_the_worktree_or_refuses(path: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="resolve-"))
    try:
        wt = build_world(base, [("l0", "OUTSIDE_DIR"), ("l1", "holdout"), ("l2", ".git"),
                                ("sub/l3", "../..")])
        box = sandbox(wt)
        for write in (False, True):
            try:
                target, rel = box.resolve(path, write=write)
            except ToolError:
                continue
            real = Path(os.path.realpath(target))
            root = Path(os.path.realpath(wt))
            assert real == root or root in real.parents, (path, real)
            real_rel = real.relative_to(root).as_posix()
            for r in (rel, real_rel):
                assert not r.lower().startswith((".git", ".autoresearch", "holdout")), r
                if write:
                    assert not r.startswith("tests") and r not in ("bench.py",
                                                                    "autoresearch.toml"), r
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- secrets --------------------------------------------------------------------------------

SECRETS = {"ANTHROPIC_API_KEY": "sk-ant-SECRET123", "MY_TOKEN": "tok-SECRET456",
           "GITHUB_TOKEN": "ghp_SECRET789", "DB_PASSWORD": "pw-SECRET000"}

AGENT_SH = """\
# Plays the coding agent: one change per experiment; experiment 2 breaks the benchmark.
n="$AUTORESEARCH_EXPERIMENT"
if [ "$n" -gt 3 ]; then echo "nothing left"; exit 1; fi
if [ "$n" = 2 ]; then echo oops > nums/bad.txt; else echo -1 > "nums/x$n.txt"; fi
echo "DESCRIPTION: change $n"
"""

ENV_BENCH_SH = """\
env
echo "---"
total=0
for f in nums/*; do
  read v < "$f"
  case "$v" in ""|*[!0-9-]*) env >&2; echo "not a number in $f" >&2; exit 1;; esac
  total=$((total + v))
done
echo "METRIC score=$total"
"""


def test_secrets_reach_neither_log_nor_outputs_nor_prompts(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark prints its whole environment (and crashes once, so the output tail goes
    into the log and the next prompt): no secret shows up anywhere the harness writes."""
    from app.engine.controller import LoopController
    from app.engine.events import Event
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    project.write("bench.sh", ENV_BENCH_SH)
    project.write("agent.sh", AGENT_SH)
    (project.root / "autoresearch.toml").write_text(
        '[session]\nenv = ["VISIBLE_SETTING"]\n\n'
        '[metric]\ncommand = "sh bench.sh"\nname = "score"\ncalibration_runs = 3\n'
        'repeats = 2\nmax_repeats = 4\n\n[checks]\ncommand = "env"\n\n'
        '[agent]\nkind = "command"\nmax_consecutive_errors = 2\n\n'
        '[agent.command]\ncommand = "sh ../../../agent.sh {prompt_file}"\n')
    project.commit("env-printing benchmark and a shell agent")
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("VISIBLE_SETTING", "plain-value-1")
    events: list[Event] = []
    engine = open_session(LaunchOptions(cwd=project.root))
    try:
        engine.run(events.append, LoopController())
    finally:
        engine.close()
    statuses = [str(e.status) for e in engine.experiments]
    assert statuses[:4] == ["baseline", "keep", "crash", "keep"], statuses
    prompts = sorted(engine.state_dir.glob("runs/*/agent-prompt.md"))
    assert len(prompts) >= 3
    assert "not a number" in prompts[2].read_text(), "the crash tail is in the next prompt"
    stored = [p for p in engine.state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "bench-1.log" for p in stored)
    seen_visible = False
    for path in stored + [project.root / ".autoresearch"]:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        seen_visible = seen_visible or "plain-value-1" in text
        for key, value in SECRETS.items():
            assert value not in text, f"{key}'s value is in {path}"
    assert seen_visible, "the benchmark's env output was stored (so the check means something)"
    for event in events:
        text = repr(event)
        for key, value in SECRETS.items():
            assert value not in text, f"{key}'s value is in a {type(event).__name__} event"
