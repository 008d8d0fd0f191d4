"""How every command the harness runs is isolated (`Isolation`), and each session's
isolations and environment allowlist together (`SessionSandbox`).

The isolation wraps a command line in bubblewrap where it works: a read-only view of the
system, the measurement tree (or the agent's worktree) writable, a private `/tmp` and
`$HOME`, the session's state and the agent's worktrees masked, a PID namespace
(`--unshare-pid --die-with-parent`: nothing outlives the command) and no network unless
allowed. Without bubblewrap ("none") commands still run in their own session and process
group. The environment filter, the process group, and the sweep of leftovers (the
subreaper) are `process.py`'s: the one module that starts commands.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.engine.process import EnvPolicy

if TYPE_CHECKING:
    from app.engine.agent_git import AgentGitView

# ---------------------------------------------------------------------------------------
# Isolation

SANDBOX_KINDS = ("auto", "bwrap", "none")


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str:
    """'' when bubblewrap can make a sandbox here, else why not (one sentence)."""
    path = shutil.which("bwrap")
    if path is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        done = subprocess.run([path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                               "--unshare-pid", "--unshare-net", "--die-with-parent", "true"],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap cannot run ({exc})"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap cannot make a sandbox here ({why[-1] if why else done.returncode})"
    return ""


def resolve_kind(wanted: str) -> tuple[str, str]:
    """(`bwrap` or `none`, a note): `auto` takes bwrap when it works."""
    if wanted == "none":
        return "none", "sandbox = \"none\""
    problem = bwrap_problem() if sys.platform.startswith("linux") else "not Linux"
    if not problem:
        return "bwrap", ""
    return "none", problem


@dataclass(frozen=True)
class Isolation:
    """How one command is isolated. `kind` is "bwrap" or "none"; `mounts` are bubblewrap
    operations applied in order over a read-only view of `/` with a private `/tmp`:
    ("rw", path) binds it writable, ("ro", path) read-only, ("mask", path) hides a folder
    under an empty tmpfs, ("hide", path) hides a file behind an empty one."""

    kind: str = "none"
    network: bool = False
    mounts: tuple[tuple[str, Path], ...] = ()
    private_home: bool = True
    """HOME is a fresh folder per run; False keeps the user's (the command agent's login)."""
    private_tmp: bool = True
    """/tmp is an empty tmpfs; False leaves the host's /tmp visible, read-only (the command
    agent: its own tools may live there). TMPDIR is private and writable either way."""
    overlays: tuple[tuple[Path, Path], ...] = ()
    """(file, where): `file` bound read-only at `where` after the mounts (the agent's
    worktree's `.git`, naming its throwaway git dir: app/engine/agent_git.py)."""

    def describe(self) -> str:
        if self.kind == "bwrap":
            return "bwrap" + (", network on" if self.network else ", no network")
        return "none (process group + subreaper)"

    def may_write(self, folder: Path) -> bool:
        """Whether a command under this isolation can change files in `folder`: always
        without bubblewrap; with it, when the last mount over `folder` is writable (a later
        mount over a folder hides what earlier ones put there, as bwrap applies them)."""
        if self.kind != "bwrap":
            return True
        state = "ro"  # the read-only view of /
        if self.private_tmp and _under(folder, Path("/tmp")):
            state = "tmpfs"
        for op, path in self.mounts:
            applied = path.is_dir() if op == "mask" else path.exists()  # as `wrap` does
            if applied and _under(folder, path):
                state = op
        return state == "rw"

    def wrap(self, argv: list[str], *, cwd: Path, home: Path, tmpdir: Path) -> list[str]:
        if self.kind != "bwrap":
            return argv
        bwrap = shutil.which("bwrap") or "bwrap"
        out = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--unshare-pid", "--die-with-parent", "--new-session",
               # The command itself is the namespace's init: when it exits the kernel
               # kills what is left, and its CPU time reaches our wait4 (with bwrap's own
               # init in between, the outside clock saw 0 s of CPU).
               "--as-pid-1"]
        if self.private_tmp:
            out += ["--tmpfs", "/tmp"]
            # Tools installed under /tmp (a virtualenv, the Python running us) stay
            # visible, read-only: the private /tmp would otherwise hide the interpreter.
            for keep in _tools_under_tmp():
                out += ["--ro-bind", keep, keep]
        if not self.network:
            out.append("--unshare-net")
        for op, path in self.mounts:
            if op == "mask" and path.is_dir():
                out += ["--tmpfs", str(path)]
            elif op == "hide" and path.is_file():
                out += ["--ro-bind", "/dev/null", str(path)]
            elif op == "hide" and path.is_dir():
                out += ["--tmpfs", str(path), "--remount-ro", str(path)]
            elif op in ("rw", "ro") and path.exists():
                out += ["--bind" if op == "rw" else "--ro-bind", str(path), str(path)]
        for source, where in self.overlays:
            out += ["--ro-bind", str(source), str(where)]
        for folder in (home, tmpdir):
            if not self.private_home and folder == home:
                continue
            out += ["--bind", str(folder), str(folder)]
        out += ["--chdir", str(cwd), "--"]
        return out + argv


NO_ISOLATION = Isolation()


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class SessionSandbox:
    """The isolation and environment of one session's commands (built from `[session]`)."""

    kind: str
    """"bwrap" or "none": what is in force."""
    note: str
    """Why it is not bwrap (empty when it is)."""
    network: bool
    policy: EnvPolicy
    repo_root: Path
    common_dir: Path
    state_root: Path
    """<git-common-dir>/autoresearch: every session's log and outputs."""
    links: tuple[Path, ...] = ()
    """Resolved `[session] link` targets (read-only inside the sandbox)."""
    agent_env: tuple[str, ...] = ()

    @property
    def harness_dir(self) -> Path:
        return self.repo_root / ".autoresearch"

    def describe(self) -> str:
        if self.kind == "bwrap":
            return "bwrap" + (", network on" if self.network else ", no network")
        return "none" + (f" ({self.note})" if self.note else "")

    def _hidden_state(self) -> list[tuple[str, Path]]:
        return [("ro", self.common_dir), ("mask", self.state_root),
                ("mask", self.harness_dir)]

    def measure(self, tree: Path, *, network: bool | None = None,
                read_only: Iterable[Path] = (), writable: Iterable[Path] = ()) -> Isolation:
        """Benchmark, checks, holdout: only the measurement tree is writable (less
        `read_only`: the setup's outputs); the session's state and the agent's worktree
        are not there."""
        mounts = self._hidden_state() + [("ro", p) for p in self.links] + [("rw", tree)]
        mounts += [("ro", p) for p in read_only]
        mounts += [("rw", p) for p in writable]  # e.g. the run's fresh {output} folder
        return Isolation(self.kind, self.network if network is None else network,
                         tuple(mounts))

    def setup(self, tree: Path) -> Isolation:
        """`[session] setup` installs dependencies: network on."""
        return self.measure(tree, network=True)

    def hook(self, cwd: Path) -> Isolation:
        """Hooks are the user's own committed scripts (protected, run from the user's
        checkout) that log or notify anywhere: no bubblewrap, but the allowlisted
        environment, a private HOME and TMPDIR and the leftover sweep."""
        return Isolation("none", True)

    def agent(self, worktree: Path, *, hidden: Iterable[str] = (),
              readable: Iterable[Path] = (),
              git_view: AgentGitView | None = None) -> Isolation:
        """The command agent: its worktree writable, network on, the user's HOME (its login)
        writable, the repository read-only, the holdout's files (repo-relative `hidden`)
        hidden in its worktree and in the user's checkout.

        Under bubblewrap the git dir, and every other worktree git knows of, are not there
        at all: the agent's git is `git_view`, a throwaway git dir (agent_git.py) that holds
        no object of the hidden files (without one, its git does not work)."""
        home = Path(os.path.expanduser("~"))
        mounts: list[tuple[str, Path]] = []
        if home != Path("/"):
            mounts.append(("rw", home))
        mounts += [("ro", self.repo_root)] + self._hidden_state()
        mounts += self._secret_git(worktree, hidden, git_view)
        mounts += [("ro", p) for p in self.links]
        mounts.append(("rw", worktree))
        overlays: tuple[tuple[Path, Path], ...] = ()
        if git_view is not None:
            mounts += [("ro", git_view.store), ("rw", git_view.gitdir)]
            overlays = ((git_view.gitlink, worktree / ".git"),)
        mounts += [("hide", worktree / p) for p in hidden]
        mounts += [("ro", p) for p in readable]
        return Isolation(self.kind, True, tuple(mounts), private_home=False,
                         private_tmp=False, overlays=overlays)

    def tool(self, worktree: Path, *, hidden: Iterable[str] = (),
             git_view: AgentGitView | None = None) -> Isolation:
        """The API agent's `run_command`: like a measured command, in its worktree, with
        the holdout's files hidden (and with `git_view`, the agent's git as `agent`'s)."""
        mounts = self._hidden_state() + self._secret_git(worktree, hidden, git_view)
        mounts += [("ro", p) for p in self.links] + [("rw", worktree)]
        overlays: tuple[tuple[Path, Path], ...] = ()
        if git_view is not None:
            mounts += [("ro", git_view.store), ("rw", git_view.gitdir)]
            overlays = ((git_view.gitlink, worktree / ".git"),)
        mounts += [("hide", worktree / p) for p in hidden]
        return Isolation(self.kind, False, tuple(mounts), overlays=overlays)

    def _secret_git(self, worktree: Path, hidden: Iterable[str],
                    git_view: AgentGitView | None) -> list[tuple[str, Path]]:
        """What an agent must not read beside its worktree: the hidden files in the user's
        checkout, the git dir and the other worktrees (under bubblewrap, with or without its
        own git view: with none, its git does not work, and the held-out files stay hidden)."""
        mounts: list[tuple[str, Path]] = [("hide", self.repo_root / p) for p in hidden]
        if self.kind != "bwrap":
            return mounts
        mounts.append(("mask", self.common_dir))
        own = Path(os.path.realpath(worktree))
        for tree in registered_worktrees(self.common_dir):
            if tree != own and tree not in own.parents:
                mounts.append(("mask", tree))
        return mounts


def registered_worktrees(common_dir: Path) -> list[Path]:
    """Every linked worktree git has registered (the user's own `git worktree add` ones
    too), by the path git recorded."""
    found = []
    try:
        entries = list(os.scandir(common_dir / "worktrees"))
    except OSError:
        return []
    for entry in entries:
        try:
            recorded = Path(entry.path, "gitdir").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if recorded:
            found.append(Path(os.path.realpath(os.path.join(entry.path, recorded))).parent)
    return found


def session_sandbox(*, wanted: str, network: bool, env: Iterable[str],
                    env_secrets: Iterable[str], agent_env: Iterable[str], repo_root: Path,
                    common_dir: Path, links: Iterable[Path]) -> SessionSandbox:
    kind, note = resolve_kind(wanted)
    return SessionSandbox(kind, note, network, EnvPolicy(tuple(env), tuple(env_secrets)),
                          repo_root, common_dir, common_dir / "autoresearch",
                          tuple(links), tuple(agent_env))

# ---------------------------------------------------------------------------------------
def _tools_under_tmp() -> list[str]:
    """Folders under /tmp that commands need to run: this Python's prefix and the PATH
    entries there (never /tmp itself)."""
    found: list[str] = []
    for path in [sys.prefix, sys.base_prefix,
                 *os.environ.get("PATH", "").split(os.pathsep)]:
        if not path:
            continue
        for candidate in {os.path.abspath(path), os.path.realpath(path)}:
            if candidate.startswith("/tmp/") and os.path.isdir(candidate) \
                    and candidate not in found:
                found.append(candidate)
    return found
