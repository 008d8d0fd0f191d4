"""The TUI's modules import downwards only: every module of `app/tui` and `app/screens`
imports on its own, their import graph has no cycle, and no screen reaches the App.

The graph is read statically (every `import` statement, including lazy ones inside
functions and those under `TYPE_CHECKING`): a cycle that only a type checker or a rarely
taken branch follows is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app.tui", "app.screens")


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        folder = ROOT.joinpath(*package.split("."))
        for path in sorted(folder.glob("*.py")):
            found.append(package if path.stem == "__init__" else f"{package}.{path.stem}")
    return found


def imports_of(module: str, known: set[str]) -> set[str]:
    """The modules of `known` that `module` imports (`from a.b import c` counts as `a.b.c`
    when that is a module, else `a.b`)."""
    path = ROOT.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            if name in known:
                found.add(name)
            elif name.rsplit(".", 1)[0] in known:
                found.add(name.rsplit(".", 1)[0])
    found.discard(module)
    return found


def graph() -> dict[str, set[str]]:
    known = set(modules())
    return {module: imports_of(module, known) for module in known}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_tui_and_screen_modules_import_each_other_without_a_cycle() -> None:
    edges = graph()
    assert len(edges) >= 12, sorted(edges)  # the walk found the modules
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_the_cycle_check_finds_a_cycle_when_there_is_one() -> None:
    # The check itself, attacked: the old shape (the App imports the main screen, which
    # imported the App for its type) must be reported.
    edges = graph()
    edges["app.screens.main"] = edges["app.screens.main"] | {"app.tui.app"}
    assert find_cycle(edges) == ["app.screens.main", "app.tui.app", "app.screens.main"]


def test_no_screen_reaches_the_app() -> None:
    edges = graph()
    for module in edges:
        if module.startswith("app.screens"):
            reached = reachable(edges, module)
            assert not reached & {"app.tui.app", "app.tui.launch"}, (module, sorted(reached))


def test_each_tui_module_imports_on_its_own() -> None:
    # One interpreter; before each import every module of this project is forgotten, so each
    # import starts from nothing of ours (a cycle fails on whichever module comes first).
    code = (
        "import importlib, sys\n"
        f"for name in {modules()!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('app', 'widgets')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "    print('ok', name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == len(modules())


def test_the_state_module_does_not_load_the_app_or_textual() -> None:
    code = ("import sys, app.tui.state, app.tui.activity; "
            "print(sorted(m for m in ('textual', 'app.tui.app', 'app.screens.main') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_app_reads_no_private_binding_tables() -> None:
    # Textual's `_bindings` maps are private: the footer's word for p (Pause/Resume) comes
    # from two bindings and `check_action` (keys.RESUME), the hint keys from the key table
    # and the user's keymap. A pinned Textual only delays the break of private reads.
    readers = []
    for path in sorted([*(ROOT / "app").rglob("*.py"), *(ROOT / "widgets").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "_bindings":
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []
