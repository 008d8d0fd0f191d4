"""The repository files a command runs, beyond the paths it names.

`python3 -m bench` runs bench.py (or the package bench/) without naming it; `npm run bench`
runs whatever package.json's script says; `make bench` runs the Makefile's recipe;
`go test -bench . ./pkg` runs pkg's *_test.go files; `cargo bench` runs benches/. Each is
resolved here to repository paths, so the guard protects them like a named script (a patch
rewriting bench.py under `python3 -m bench` was kept before this).

Resolution is best effort and errs on the side of protecting: a word it cannot resolve adds
nothing, and the generic rule (any word that is an existing path) still applies.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath

SEPARATORS = {"&&", "||", ";", "|", "&"}
WRAPPERS = {"env", "time", "nice", "nohup", "exec", "command", "stdbuf", "taskset", "chrt",
            "ionice", "hyperfine"}
"""Words that run the rest of the line (their options are skipped)."""
RUN_VIA = {("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"),
           ("hatch", "run"), ("rye", "run")}
PACKAGE_RUNNERS = {"npm", "npx", "yarn", "pnpm", "bun"}
MAX_DEPTH = 4
"""Scripts that call scripts: how deep package.json and Makefile recursion goes."""


def split_words(command: str | None) -> list[str]:
    if not command:
        return []
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def simple_commands(words: list[str]) -> list[list[str]]:
    """The words of each simple command of a line (split at && || ; | &), wrappers and
    VAR=value prefixes removed."""
    out: list[list[str]] = []
    current: list[str] = []
    for word in words + [";"]:
        if word in SEPARATORS:
            if current:
                out.append(_unwrap(current))
            current = []
        else:
            current.append(word)
    return [c for c in out if c]


def _unwrap(words: list[str]) -> list[str]:
    while words:
        first = PurePosixPath(words[0]).name
        if "=" in words[0] and not words[0].startswith(("=", "-", "./", "/")):
            words = words[1:]
        elif first in WRAPPERS:
            words = words[1:]
            while words and (words[0].startswith("-") or "=" in words[0]
                             or (first in ("timeout", "nice", "taskset") and
                                 words[0].replace(".", "").isdigit())):
                words = words[1:]
        elif first == "timeout":
            words = words[1:]
            while words and (words[0].startswith("-") or words[0][:1].isdigit()):
                words = words[1:]
        elif len(words) > 1 and (first, words[1]) in RUN_VIA:
            words = words[2:]
        else:
            return words
    return words


def files_run_by(command: str | None, root: Path, depth: int = 0) -> set[str]:
    """Repo-relative files and folders that `command` runs without naming them."""
    found: set[str] = set()
    if depth > MAX_DEPTH:
        return found
    for words in simple_commands(split_words(command)):
        program = PurePosixPath(words[0]).name
        args = words[1:]
        if re.fullmatch(r"(python|pypy)[0-9.]*", program):
            found |= _python_modules(args, root)
        elif program in ("node", "deno", "tsx", "ts-node"):
            found |= _node_entry(args, root)
        elif program in PACKAGE_RUNNERS:
            found |= _package_scripts(program, args, root, depth)
        elif program == "go":
            found |= go_test_files(args, root)
        elif program in ("make", "gmake"):
            found |= _make_recipes(args, root, depth)
        elif program == "cargo":
            found |= _cargo_targets(args, root)
    return found


def _existing(root: Path, *candidates: str) -> str | None:
    base = root.resolve()
    for rel in candidates:
        try:
            target = (root / rel).resolve()
            target.relative_to(base)
        except (OSError, ValueError):
            continue
        if target.exists():
            return PurePosixPath(rel).as_posix().rstrip("/")
    return None


def python_m_modules(words: list[str]) -> list[str]:
    """The modules one simple command names with `-m NAME` or `-mNAME`, as written."""
    modules = []
    for i, word in enumerate(words):
        if word == "-m" and i + 1 < len(words):
            modules.append(words[i + 1])
        elif word.startswith("-m") and len(word) > 2 and not word.startswith("--"):
            modules.append(word[2:])
    return modules


def _python_modules(args: list[str], root: Path) -> set[str]:
    found: set[str] = set()
    for module in python_m_modules(args):
        if not module or not re.fullmatch(r"[A-Za-z_][\w.]*", module):
            continue
        path = module.replace(".", "/")
        for base in ("", "src/"):
            hit = _existing(root, f"{base}{path}.py", f"{base}{path}")
            if hit:
                found.add(hit)
                top = path.split("/")[0]
                if "/" in path and (root / base / top / "__init__.py").is_file():
                    found.add(f"{base}{top}/__init__.py")
                break
        break  # what follows -m are the module's own arguments
    return found


def _node_entry(args: list[str], root: Path) -> set[str]:
    for word in args:
        if word.startswith("-"):
            continue
        hit = _existing(root, word, f"{word}.js", f"{word}.mjs", f"{word}.cjs", f"{word}.ts",
                        f"{word}/index.js")
        return {hit} if hit else set()
    return set()


def _package_json(root: Path) -> dict[str, object]:
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _package_scripts(program: str, args: list[str], root: Path, depth: int) -> set[str]:
    """package.json, and what the scripts that the command runs run in turn."""
    found: set[str] = set()
    if (root / "package.json").is_file():
        found.add("package.json")
    data = _package_json(root)
    scripts = data.get("scripts") if isinstance(data.get("scripts"), dict) else {}
    assert isinstance(scripts, dict)
    words = [w for w in args if not w.startswith("-")]
    names: list[str] = []
    if program == "npx":
        if words:
            found |= _node_entry(words[:1], root)
    elif words[:1] in (["run"], ["run-script"]) and len(words) > 1:
        names = [words[1]]
    elif words:
        names = [words[0]]  # npm test / npm start / yarn bench / pnpm bench
    for name in names:
        for key in (f"pre{name}", name, f"post{name}"):
            script = scripts.get(key)
            if isinstance(script, str):
                found |= paths_in(script, root, depth + 1)
    return found


def go_test_files(args: list[str], root: Path) -> set[str]:
    """`go test` (with -bench or not): the *_test.go files and testdata/ of its packages,
    not the packages' folders (their code is what the agent is there to change)."""
    if not args or args[0] != "test":
        return set()
    packages = [w for w in args[1:] if w.startswith(".") and not w.startswith("-")]
    if not packages:
        packages = ["."]
    found: set[str] = set()
    base = root.resolve()
    for package in packages:
        recursive = package.endswith("/...")
        folder = (root / package.removesuffix("/...").removesuffix("...")).resolve()
        try:
            folder.relative_to(base)
        except ValueError:
            continue
        if not folder.is_dir():
            continue
        files = folder.rglob("*") if recursive else folder.iterdir()
        for path in files:
            rel = path.relative_to(base).as_posix()
            if path.is_file() and path.name.endswith("_test.go"):
                found.add(rel)
            elif path.is_dir() and path.name == "testdata":
                found.add(rel)
    return found


_RULE = re.compile(r"^([^\s:=#][^:=]*?)\s*::?(?!=)\s*(.*)$")


def _make_recipes(args: list[str], root: Path, depth: int) -> set[str]:
    """The Makefile, and the files that the recipes of the targets (and their
    prerequisites) run."""
    folder = root
    targets: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "-C" and i + 1 < len(args):
            folder = root / args[i + 1]
            i += 2
            continue
        if not word.startswith("-") and "=" not in word:
            targets.append(word)
        i += 1
    makefile = next((folder / n for n in ("GNUmakefile", "makefile", "Makefile")
                     if (folder / n).is_file()), None)
    if makefile is None:
        return set()
    found: set[str] = set()
    try:
        found.add(makefile.resolve().relative_to(root.resolve()).as_posix())
        text = makefile.read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return found
    rules: dict[str, tuple[list[str], list[str]]] = {}
    order: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("\t"):
            for name in current:
                rules[name][1].append(line.strip().lstrip("@-+"))
            continue
        match = _RULE.match(line)
        if match and not line.startswith((".PHONY", "\t")):
            names = match.group(1).split()
            prereqs = match.group(2).split(";")[0].split()
            current = names
            for name in names:
                rules.setdefault(name, ([], []))[0].extend(prereqs)
                if not name.startswith("."):
                    order.append(name)
        elif line.strip() and not line.startswith((" ", "#")):
            current = []
    todo = targets or order[:1]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in rules:
            continue
        seen.add(name)
        prereqs, recipe = rules[name]
        todo.extend(prereqs)
        for line in recipe:
            found |= paths_in(line.replace("$(MAKE)", "make"), folder, depth + 1, root)
    return found


def _cargo_targets(args: list[str], root: Path) -> set[str]:
    """`cargo bench`: benches/ and the paths of Cargo.toml's [[bench]] tables (and the
    Cargo.toml that declares them); `cargo test`: tests/ (protected as tests anyway)."""
    if not args:
        return set()
    found: set[str] = set()
    if args[0] == "bench":
        if (root / "benches").is_dir():
            found.add("benches")
        try:
            text = (root / "Cargo.toml").read_text(encoding="utf-8")
        except OSError:
            text = ""
        if "[[bench]]" in text:
            found.add("Cargo.toml")
            for path in re.findall(r'^\s*path\s*=\s*"([^"]+)"', text.split("[[bench]]", 1)[1],
                                   re.MULTILINE):
                hit = _existing(root, path)
                if hit:
                    found.add(hit)
    elif args[0] == "test" and (root / "tests").is_dir():
        found.add("tests")
    return found


def paths_in(command: str, cwd: Path, depth: int, root: Path | None = None) -> set[str]:
    """Every repo path a nested command line (a package script, a recipe) names or runs,
    relative to `root` (default: `cwd`)."""
    from app.engine.guard import paths_named_by

    root = root or cwd
    found = set()
    for rel in paths_named_by(command, cwd, depth=depth):
        try:
            found.add((cwd / rel).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            continue
    return found
