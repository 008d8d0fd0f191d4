"""The sandboxed file tools an API agent edits the worktree with.

Every path the model gives is relative to the worktree. A path that could reach outside it
(absolute, `..`, a symlink that leads out), into git's or our own state (`.git/`,
`.autoresearch/`), into a protected file (for writing) or into the holdout's files (for
anything) is refused with a `ToolError` whose message the model reads as a tool error, so
a hostile or confused path costs one turn, never a crash. Every tool's output is capped
so one `read_file` of a huge file cannot blow the context or the bill.

The harness re-checks protected paths on the snapshot whatever the tools did; these checks
are the first line, not the guarantee.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from app.engine.process import EnvPolicy
from app.engine.sandbox import Isolation

MAX_OUTPUT_CHARS = 20_000
"""The cap on any one tool result (about 5k tokens)."""
MAX_READ_LINES = 400
MAX_LINE_CHARS = 400
MAX_SEARCH_MATCHES = 80
MAX_LIST_ENTRIES = 300
MAX_FILE_BYTES = 2_000_000
"""Files larger than this are neither read nor searched (data, not code)."""
MAX_WRITE_CHARS = 1_000_000
MAX_PATH_CHARS = 1024
MAX_NAME_BYTES = 255
COMMAND_TIMEOUT_S = 120.0
COMMAND_OUTPUT_CHARS = 8_000

FORBIDDEN_DIRS = (".git", ".autoresearch")
"""Components never reachable: git's state, and the harness's worktrees and state."""
SKIPPED_DIRS = frozenset({".git", ".autoresearch", "__pycache__", "node_modules", ".venv",
                          "venv", ".mypy_cache", ".pytest_cache", ".tox", ".ruff_cache"})
"""Folders not walked by list_files/search (noise); they can still be listed explicitly."""



class ToolError(Exception):
    """A refused or failed tool call; the message goes back to the model as the result."""


def cap(text: str, limit: int = MAX_OUTPUT_CHARS, *, keep: str = "head") -> str:
    """`text` cut to `limit` characters, saying how much was left out and from where."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    if keep == "tail":
        return f"[... {dropped} earlier characters left out]\n" + text[-limit:]
    return text[:limit] + f"\n[... {dropped} more characters left out]"


# ---------------------------------------------------------------------------------------
# The tool schemas the model sees


def tool_schemas(allow_commands: bool) -> list[dict[str, Any]]:
    """The tools in the Messages API's format, in a fixed order (the prompt cache keys on it)."""
    path_prop = {"type": "string", "description": "Path relative to the repository root."}
    tools: list[dict[str, Any]] = [
        {"name": "list_files",
         "description": "List files under a folder of the repository (recursively, up to "
                        "`depth` levels), with sizes. Build output and dependency folders are "
                        "skipped unless named.",
         "input_schema": {"type": "object", "properties": {
             "path": {**path_prop, "default": "."},
             "depth": {"type": "integer", "minimum": 1, "maximum": 8, "default": 3}}}},
        {"name": "read_file",
         "description": f"Read a text file with line numbers. At most {MAX_READ_LINES} lines "
                        "per call: use start_line/end_line (1-based, inclusive) for more.",
         "input_schema": {"type": "object", "required": ["path"], "properties": {
             "path": path_prop,
             "start_line": {"type": "integer", "minimum": 1},
             "end_line": {"type": "integer", "minimum": 1}}}},
        {"name": "search",
         "description": "Search file contents with a Python regular expression; returns "
                        f"`path:line: text`, at most {MAX_SEARCH_MATCHES} matches.",
         "input_schema": {"type": "object", "required": ["pattern"], "properties": {
             "pattern": {"type": "string"},
             "path": {**path_prop, "default": "."},
             "glob": {"type": "string", "description": "Only files whose name matches, "
                                                       "e.g. *.py"}}}},
        {"name": "edit_file",
         "description": "Replace `old` with `new` in a file. `old` must occur exactly once "
                        "(include surrounding lines to make it unique).",
         "input_schema": {"type": "object", "required": ["path", "old", "new"], "properties": {
             "path": path_prop, "old": {"type": "string"}, "new": {"type": "string"}}}},
        {"name": "write_file",
         "description": "Create or overwrite a file with the given content.",
         "input_schema": {"type": "object", "required": ["path", "content"], "properties": {
             "path": path_prop, "content": {"type": "string"}}}},
        {"name": "delete_file",
         "description": "Delete a file.",
         "input_schema": {"type": "object", "required": ["path"], "properties": {
             "path": path_prop}}},
    ]
    if allow_commands:
        tools.append(
            {"name": "run_command",
             "description": "Run a shell command in the repository root (no secrets in its "
                            "environment) and return the tail of its output. The harness, "
                            "not you, measures the metric: use this to compile or smoke-test.",
             "input_schema": {"type": "object", "required": ["command"], "properties": {
                 "command": {"type": "string"},
                 "timeout_s": {"type": "number", "minimum": 1,
                               "maximum": COMMAND_TIMEOUT_S}}}})
    tools.append(
        {"name": "finish",
         "description": "Call once when your change is complete. The harness then measures "
                        "it and keeps it only if the metric improves.",
         "input_schema": {"type": "object", "required": ["description"], "properties": {
             "description": {"type": "string",
                             "description": "One line: what you changed (the commit title)."},
             "hypothesis": {"type": "string",
                            "description": "Why it should improve the metric."},
             "learned": {"type": "string",
                         "description": "What the next experiment should know."}}}})
    return tools


# ---------------------------------------------------------------------------------------
# The sandbox


@dataclass
class Sandbox:
    """Resolves model-given paths inside `root` and runs the tools on them."""

    root: Path
    is_protected: Callable[[str], bool] = lambda path: False
    is_hidden: Callable[[str], bool] = lambda path: False
    allow_commands: bool = False
    isolation: Isolation | None = None
    """How `run_command` is isolated (the session's sandbox; None: not at all)."""
    policy: EnvPolicy | None = None
    """The session's environment allowlist (`process.command_env`: no secrets)."""
    changed: set[str] = field(default_factory=set)
    """Repo-relative paths the tools wrote or deleted (for the 'did anything change' test)."""

    def __post_init__(self) -> None:
        self.root = Path(os.path.realpath(self.root))

    # -- paths ----------------------------------------------------------------------------

    def resolve(self, path: Any, *, write: bool = False, allow_root: bool = False
                ) -> tuple[Path, str]:
        """(absolute path, repo-relative posix path) for a model-given path, or ToolError."""
        if not isinstance(path, str):
            raise ToolError("path must be a string")
        raw = path
        if "\0" in raw:
            raise ToolError("refused: the path contains a NUL byte")
        if len(raw) > MAX_PATH_CHARS:
            raise ToolError(f"refused: the path is longer than {MAX_PATH_CHARS} characters")
        for ch in raw:
            if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
                raise ToolError(f"refused: the path contains the control or invisible "
                                f"character U+{ord(ch):04X}")
        if raw != raw.strip():
            raise ToolError("refused: the path starts or ends with white space")
        if raw.startswith("/") or raw.startswith("~") or re.match(r"^[A-Za-z]:[\\/]", raw):
            raise ToolError("refused: absolute paths are not allowed; give a path relative "
                            "to the repository root")
        if "\\" in raw:
            raise ToolError("refused: use forward slashes in paths")
        parts = [p for p in PurePosixPath(raw).parts if p != "."]
        if ".." in parts:
            raise ToolError("refused: `..` is not allowed in paths; give a path inside the "
                            "repository")
        for part in parts:
            if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
                raise ToolError(f"refused: a path component is longer than {MAX_NAME_BYTES} "
                                "bytes")
        rel = "/".join(parts)
        if not rel and not allow_root:
            raise ToolError("refused: the path names the repository root, not a file")
        self._check_rel(rel, write)
        target = self.root / rel if rel else self.root
        real = Path(os.path.realpath(target))
        if real != self.root and self.root not in real.parents:
            raise ToolError(f"refused: {rel} leads outside the repository (a symlink)")
        real_rel = real.relative_to(self.root).as_posix() if real != self.root else ""
        if real_rel != rel:
            # A symlink inside the repository: the rules apply to where it leads as well.
            self._check_rel(real_rel, write, shown=rel)
        return target, rel

    def _check_rel(self, rel: str, write: bool, shown: str | None = None) -> None:
        if not rel:
            return
        shown = shown or rel
        parts = rel.split("/")
        for part in parts:
            # Compared without case: on macOS `.GIT/config` is `.git/config`.
            if part.lower() in FORBIDDEN_DIRS:
                raise ToolError(f"refused: {shown} is inside {part}/, which belongs to git or "
                                "to the harness")
        if self.is_hidden(rel):
            raise ToolError(f"refused: {shown} does not exist or may not be read")
        if write and self.is_protected(rel):
            raise ToolError(f"refused: {shown} is protected (the benchmark, the checks, the "
                            "tests or the config); you may read it but not change it")

    def _visible(self, rel: str) -> bool:
        """Whether list_files/search may show `rel` (hidden and forbidden paths are not)."""
        parts = rel.split("/")
        return not any(p.lower() in FORBIDDEN_DIRS for p in parts) and not self.is_hidden(rel)

    def _real(self, target: Path) -> tuple[Path, str]:
        """The real folder behind `target` (resolved by `resolve`, so inside the root) and
        its repo-relative path: list_files and search walk that folder and test every entry
        by its real path, so a symlinked folder (`lnk -> bench/`) cannot show the hidden
        files inside it under another name."""
        real = Path(os.path.realpath(target))
        return real, (real.relative_to(self.root).as_posix() if real != self.root else "")

    # -- dispatch ---------------------------------------------------------------------------

    def run(self, name: str, args: dict[str, Any]) -> str:
        """Run tool `name`; ToolError for refusals and bad arguments."""
        if not isinstance(args, dict):
            raise ToolError("the tool input must be an object")
        handlers: dict[str, Callable[..., str]] = {
            "list_files": self.list_files, "read_file": self.read_file, "search": self.search,
            "edit_file": self.edit_file, "write_file": self.write_file,
            "delete_file": self.delete_file, "run_command": self.run_command}
        handler = handlers.get(name)
        if handler is None or (name == "run_command" and not self.allow_commands):
            raise ToolError(f"unknown tool {name!r}")
        try:
            return cap(handler(**args))
        except ToolError:
            raise
        except UnicodeDecodeError:
            raise ToolError(f"{name}: the file is not UTF-8 text") from None
        except (TypeError, ValueError) as exc:
            raise ToolError(f"bad arguments for {name}: {exc}") from None
        except OSError as exc:
            raise ToolError(f"{name} failed: {exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - one odd call must not end a night
            raise ToolError(f"{name} failed: {type(exc).__name__}: {exc}") from None

    # -- the tools --------------------------------------------------------------------------

    def list_files(self, path: str = ".", depth: int = 3) -> str:
        target, rel = self.resolve(path, allow_root=True)
        if not target.exists():
            raise ToolError(f"{rel or '.'} does not exist")
        if not target.is_dir():
            return f"{rel} ({target.stat().st_size} bytes)"
        depth = max(1, min(int(depth), 8))
        lines: list[str] = []
        more = 0
        real_root = self.root

        def walk(folder: Path, folder_rel: str, level: int) -> None:
            # folder_rel is the folder's real path: symlinks below it are never followed.
            nonlocal more
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            for entry in entries:
                child_rel = f"{folder_rel}/{entry.name}" if folder_rel else entry.name
                if not self._visible(child_rel):
                    continue
                if len(lines) >= MAX_LIST_ENTRIES:
                    more += 1
                    continue
                indent = "  " * (level - 1)
                if entry.is_symlink():
                    real = Path(os.path.realpath(entry.path))
                    inside = real == real_root or real_root in real.parents
                    lines.append(f"{indent}{entry.name} -> "
                                 f"{'(inside)' if inside else '(outside the repository)'}")
                    continue
                if entry.is_dir():
                    skipped = entry.name in SKIPPED_DIRS
                    lines.append(f"{indent}{entry.name}/" + (" (not listed)" if skipped
                                                             else ""))
                    if level < depth and not skipped:
                        walk(Path(entry.path), child_rel, level + 1)
                else:
                    try:
                        size = entry.stat().st_size
                    except OSError:
                        size = 0
                    lines.append(f"{indent}{entry.name} ({size} bytes)")

        walk(*self._real(target), 1)
        if more:
            lines.append(f"[... {more} more entries; list a subfolder]")
        return "\n".join(lines) or "(empty folder)"

    def read_file(self, path: str, start_line: int | None = None,
                  end_line: int | None = None) -> str:
        target, rel = self.resolve(path)
        data = self._read_bytes(target, rel)
        if b"\0" in data[:8192]:
            raise ToolError(f"{rel} is a binary file")
        text = data.decode("utf-8", errors="replace")
        lines = text.splitlines()
        total = len(lines)
        start = max(1, int(start_line or 1))
        end = total if end_line is None else min(int(end_line), total)
        if start > max(total, 1):
            raise ToolError(f"{rel} has {total} lines; start_line {start} is past the end")
        end = min(end, start + MAX_READ_LINES - 1)
        out = []
        for number in range(start, end + 1):
            line = lines[number - 1]
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + f" [... {len(line) - MAX_LINE_CHARS} more chars]"
            out.append(f"{number:>5}  {line}")
        header = f"{rel} (lines {start}-{end} of {total})"
        if end < total:
            header += f"; read on with start_line={end + 1}"
        return header + "\n" + "\n".join(out)

    def _read_bytes(self, target: Path, rel: str) -> bytes:
        if not target.exists():
            raise ToolError(f"{rel} does not exist")
        if target.is_dir():
            raise ToolError(f"{rel} is a folder; use list_files")
        if not target.is_file():
            raise ToolError(f"{rel} is not a regular file")
        size = target.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ToolError(f"{rel} is {size} bytes, too large to read")
        return target.read_bytes()

    def search(self, pattern: str, path: str = ".", glob: str | None = None) -> str:
        if not isinstance(pattern, str) or not pattern:
            raise ToolError("pattern must be a non-empty string")
        if len(pattern) > 1000:
            raise ToolError("pattern is too long (1000 characters at most)")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"bad regular expression: {exc}") from None
        target, rel = self.resolve(path, allow_root=True)
        if not target.exists():
            raise ToolError(f"{rel or '.'} does not exist")
        real, real_rel = self._real(target)
        files = [real] if real.is_file() else self._walk_files(real, real_rel)
        matches: list[str] = []
        more = 0
        deadline = time.monotonic() + 10.0
        for file in files:
            file_rel = file.relative_to(self.root).as_posix()
            if not self._visible(file_rel):
                continue  # by its real path, whatever name the search was given
            if glob and not PurePosixPath(file.name).match(glob):
                continue
            if time.monotonic() > deadline:
                matches.append("[search stopped after 10 s; narrow the path or pattern]")
                break
            try:
                if file.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = file.read_bytes()
            except OSError:
                continue
            if b"\0" in data[:8192]:
                continue
            for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if regex.search(line):
                    if len(matches) >= MAX_SEARCH_MATCHES:
                        more += 1
                        continue
                    shown = line.strip()
                    if len(shown) > 200:
                        shown = shown[:200] + " [...]"
                    matches.append(f"{file_rel}:{number}: {shown}")
        if more:
            matches.append(f"[... {more} more matches; narrow the pattern or path]")
        return "\n".join(matches) or "no matches"

    def _walk_files(self, folder: Path, folder_rel: str) -> list[Path]:
        """Regular files under `folder`, skipping hidden, forbidden and noise folders and
        every symlink (a symlink could lead outside or into a hidden file)."""
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(folder):
            base = Path(dirpath)
            base_rel = base.relative_to(self.root).as_posix() if base != self.root else ""
            keep = []
            for d in sorted(dirnames):
                d_rel = f"{base_rel}/{d}" if base_rel else d
                if d in SKIPPED_DIRS or not self._visible(d_rel) or (base / d).is_symlink():
                    continue
                keep.append(d)
            dirnames[:] = keep
            for f in sorted(filenames):
                f_rel = f"{base_rel}/{f}" if base_rel else f
                p = base / f
                if self._visible(f_rel) and not p.is_symlink() and p.is_file():
                    found.append(p)
            if len(found) > 20_000:
                break
        return found

    def edit_file(self, path: str, old: str, new: str) -> str:
        target, rel = self.resolve(path, write=True)
        if not isinstance(old, str) or not isinstance(new, str):
            raise ToolError("old and new must be strings")
        if not old:
            raise ToolError("old must not be empty; use write_file to create a file")
        text = self._read_bytes(target, rel).decode("utf-8", errors="strict")
        count = text.count(old)
        if count == 0:
            raise ToolError(f"the snippet occurs 0 times in {rel}; read the file and copy the "
                            "exact text, white space included")
        if count > 1:
            raise ToolError(f"the snippet occurs {count} times in {rel}; include more "
                            "surrounding lines so it occurs exactly once")
        updated = text.replace(old, new, 1)
        if len(updated) > MAX_WRITE_CHARS:
            raise ToolError(f"the result would exceed {MAX_WRITE_CHARS} characters")
        self._write(target, updated)
        self.changed.add(rel)
        return (f"edited {rel}: replaced {old.count(chr(10)) + 1} line(s) with "
                f"{new.count(chr(10)) + 1} line(s)")

    def write_file(self, path: str, content: str) -> str:
        target, rel = self.resolve(path, write=True)
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        if len(content) > MAX_WRITE_CHARS:
            raise ToolError(f"content is longer than {MAX_WRITE_CHARS} characters")
        if target.is_dir():
            # Also through a symlink: the atomic write's temporary sibling of a folder
            # (the worktree root itself, for `l -> .`) would land outside it.
            raise ToolError(f"{rel} is a folder")
        existed = target.exists()
        # Create the parent folders one by one, re-checking each, so that a folder created
        # here cannot be swapped for a symlink in between (there is no other writer, but
        # the check is cheap).
        parent = target.parent
        missing: list[Path] = []
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            folder.mkdir()
            real = Path(os.path.realpath(folder))
            if real != self.root and self.root not in real.parents:
                raise ToolError(f"refused: {rel} leads outside the repository")
        self._write(target, content)
        self.changed.add(rel)
        return f"{'overwrote' if existed else 'created'} {rel} ({content.count(chr(10)) + 1} lines)"

    def _write(self, target: Path, text: str) -> None:
        # Write through a temporary sibling and rename, so a crash never leaves half a file;
        # a symlink in the last component was resolved and checked by resolve().
        real = Path(os.path.realpath(target))
        tmp = real.with_name(f".{real.name}.autoresearch-tmp")
        mode = real.stat().st_mode & 0o7777 if real.exists() else None
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, real)

    def delete_file(self, path: str) -> str:
        target, rel = self.resolve(path, write=True)
        if target.is_symlink():
            target.unlink()
        elif not target.exists():
            raise ToolError(f"{rel} does not exist")
        elif target.is_dir():
            raise ToolError(f"{rel} is a folder; delete its files one by one")
        else:
            target.unlink()
        self.changed.add(rel)
        return f"deleted {rel}"

    def run_command(self, command: str, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        timeout = max(1.0, min(float(timeout_s), COMMAND_TIMEOUT_S))
        from app.engine.process import run_command

        result = run_command(command, self.root, timeout, isolation=self.isolation,
                             policy=self.policy, merge_stderr=True)
        if result.timed_out:
            status = f"timed out after {timeout:g} s (killed)"
        else:
            status = f"exit status {result.exit_code}"
        text = result.output
        # Anything the command changed counts as a change of the proposal.
        self.changed.add("(run_command)")
        return f"{status}\n" + cap(text, COMMAND_OUTPUT_CHARS, keep="tail")


def summarize_call(name: str, args: Any) -> str:
    """One line for the UI: the tool and its arguments, long values shortened."""
    if not isinstance(args, dict):
        return name
    path = args.get("path")
    if name == "read_file":
        rng = ""
        if args.get("start_line") or args.get("end_line"):
            rng = f":{args.get('start_line') or 1}-{args.get('end_line') or ''}"
        return f"read_file {path}{rng}"
    if name == "edit_file":
        old, new = str(args.get("old", "")), str(args.get("new", ""))
        return (f"edit_file {path} (-{old.count(chr(10)) + 1} +{new.count(chr(10)) + 1} "
                "lines)")
    if name == "write_file":
        return f"write_file {path} ({len(str(args.get('content', '')))} chars)"
    if name == "search":
        where = f" in {path}" if path and path != "." else ""
        return f"search /{_short(str(args.get('pattern', '')), 60)}/{where}"
    if name == "run_command":
        return f"run_command $ {_short(str(args.get('command', '')), 100)}"
    if name == "finish":
        return f"finish: {_short(str(args.get('description', '')), 100)}"
    if name == "list_files":
        return f"list_files {path or '.'}"
    if path is not None:
        return f"{name} {_short(str(path), 100)}"
    return name


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
