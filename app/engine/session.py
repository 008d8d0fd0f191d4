"""Open a session: validate everything, then create or resume the branch, worktree and log.

`open_session(LaunchOptions)` raises `UsageError` for bad input before it writes anything;
for a new session whose baseline then fails, `Session.run` removes what it created, so
nothing is left half-made. `Session` is what the TUI and headless mode drive; where its
files live is app/engine/layout.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import CONFIG_NAME, Config, check_parallel, load_config
from app.engine import git_cli, gitops
from app.engine.agents.base import Agent
from app.engine.budgets import Budgets
from app.engine.champion import latest_champion_samples
from app.engine.controller import LoopController
from app.engine.events import Event, EventSink, ExperimentDecided, SessionStarted, WarningRaised
from app.engine.faults import fault_point
from app.engine.gitops import MeasurementTree, ObjectPacker, SessionGit, parse_result_trailer
from app.engine.guard import Guard, changed_fingerprint, glob_match
from app.engine.history import LogWriter, first_record, read_log
from app.engine.launch import LaunchOptions
from app.engine.layout import (
    RepoPaths,
    SessionLock,
    SessionPaths,
    choose_tag,
    find_repo,
    list_sessions,
)
from app.engine.loop import Loop
from app.engine.loop_setup import LoopSetup
from app.engine.process import CommandResult, output_clause, run_command
from app.engine.records import Experiment, Status
from app.engine.sandbox import SessionSandbox, session_sandbox
from app.engine.setup_outputs import SetupInputs, SetupOutputs
from app.engine.worker_git import remove_leftovers
from app.errors import UsageError, out_of_space

SHELL_WORDS = {"cd", "exec", "env", "time", "nice", "timeout", "command", "sh", "bash", "set",
               "export", "source", ".", "true", "false", "test", "[", "if", "for", "while",
               "echo", "printf", "(", "{",
               # what `sh -c` runs itself, with no program on PATH (POSIX's builtins)
               "exit", "return", ":", "!", "eval", "trap", "ulimit", "umask", "unset", "wait",
               "read", "shift", "readonly", "alias", "type", "hash", "getopts", "kill", "pwd",
               "times", "until", "case", "[[", "local"}


def _check_command_exists(command: str, root: Path, key: str) -> None:
    """Catch the obvious 'benchmark not found' before anything is created."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"`{key}` is not a valid shell command ({exc}); fix its quoting.") \
            from None
    while words and "=" in words[0] and not words[0].startswith(("=", "./", "/")):
        words = words[1:]  # VAR=value prefixes
    if words and words[0][:1] in ("(", "{"):
        # A subshell or a group: `(cd sub; make)` has "(cd" for its first word.
        words = [words[0].lstrip("({")] + words[1:] if words[0].lstrip("({") else words[1:]
    if not words or words[0] in SHELL_WORDS:
        return
    first = words[0]
    if "/" in first:
        if not (root / first).exists() and not Path(first).exists():
            raise UsageError(f"`{key}` runs {first}, which does not exist in the repository; "
                             "fix the path (it is relative to the repository root).")
    elif shutil.which(first) is None:
        raise UsageError(f"`{key}` runs {first!r}, which is not found on PATH; install it or "
                         "fix the command.")
    for word in words[1:3]:
        if word.endswith((".py", ".sh", ".js", ".ts", ".rb", ".pl")) and "/" not in word[:1] \
                and not word.startswith("-") and not (root / word).exists():
            raise UsageError(f"`{key}` names {word}, which does not exist in the repository; "
                             "fix the path (it is relative to the repository root).")


def config_digest(config_path: Path) -> str:
    return hashlib.sha256(config_path.read_bytes()).hexdigest()


@dataclass
class Session:
    repo: RepoPaths
    paths: SessionPaths
    config: Config
    config_path: Path
    git: SessionGit
    lock: SessionLock
    experiments: list[Experiment]
    setup: LoopSetup
    agent: Agent
    created: bool
    """A new session (its branch, worktree and state are removed if the baseline fails)."""
    notice: str = ""
    warnings: list[str] = field(default_factory=list)
    review: bool = False
    """Review mode as the session last had it (the TUI restores it on relaunch)."""
    _other_logs: dict[str, list[Experiment]] = field(default_factory=dict, repr=False)
    """Other sessions' experiments, by tag, as read by `other_sessions` (for their diffs)."""

    @property
    def tag(self) -> str:
        return self.paths.tag

    @property
    def branch(self) -> str:
        return self.paths.branch

    @property
    def worktree(self) -> Path:
        return self.paths.worktree

    @property
    def state_dir(self) -> Path:
        return self.paths.state_dir

    def run(self, sink: EventSink, controller: LoopController) -> int:
        m = self.config.metric
        sink(SessionStarted(self.tag, self.branch, str(self.worktree), not self.created,
                            m.name, m.unit, m.direction, tuple(self.experiments), self.notice,
                            self.setup.sandbox.describe() if self.setup.sandbox else "",
                            workers=self.config.parallel.workers))
        for warning in self.warnings:  # a torn or invalid log line, skipped when loading
            sink(WarningRaised(warning))
        packer = ObjectPacker(self.repo.common_dir)
        decided = 0

        def sink_and_pack(event: Event) -> None:
            nonlocal decided
            sink(event)
            if isinstance(event, ExperimentDecided):
                decided += 1
                if decided % gitops.PACK_EVERY == 0:
                    packer.start()  # in the background: the loop goes on

        loop = Loop(self.setup, self.agent, sink_and_pack, controller)
        if self.setup.remote is not None:  # a lost head cannot be waited for: stop, exit 3
            self.setup.remote.watch_head(lambda why: controller.stop(
                f"{why}: the session stopped (Ray ends a driver that loses its head); "
                "start the cluster again, then launch again to resume", exit_status=3))
        try:
            status = loop.run()
            packer.start()  # the session's end: leave no pile of loose objects behind
            return status
        except UsageError:
            if self.created and not any(e.status is Status.BASELINE
                                        for e in self.experiments):
                self.discard_new_session()
            raise

    def discard_new_session(self) -> None:
        """Undo a new session whose baseline failed: nothing half-created stays behind."""
        self.setup.writer.close()
        _close_logging()
        self.git.remove_worktree()
        self.git.delete_branch()  # never candidate refs: only prune deletes those
        self.lock.release()
        shutil.rmtree(self.paths.state_dir, ignore_errors=True)
        wt_root = self.repo.root / ".autoresearch" / "worktrees"
        for folder in (wt_root, wt_root.parent):
            try:
                folder.rmdir()
            except OSError:
                break

    def diff_of(self, n: int, tag: str | None = None) -> str:
        """Experiment `n`'s change against its parent: this session's, or session `tag`'s
        (any session's candidates are commits of this repository)."""
        # Called from UI threads while the loop thread uses self.git: a pygit2
        # Repository is not safe to share across threads, so this opens a private one.
        git = SessionGit(self.repo, self.paths)
        if tag is not None and tag != self.tag:
            exp = next((e for e in self._experiments_of(tag) if e.n == n), None)
            commit = (exp.candidate or exp.commit) if exp else None
        else:
            exp = next((e for e in list(self.experiments) if e.n == n), None)
            commit = (exp.candidate or exp.commit) if exp else git.candidate(n)
        if not commit or (exp is not None and exp.status is Status.BASELINE):
            return ""
        try:
            return git.diff_of_commit(commit)
        except Exception:  # noqa: BLE001 - a pruned object must not crash a history view
            return ""

    def _experiments_of(self, tag: str) -> list[Experiment]:
        """Another session's experiments, read from its log (once per launch)."""
        cached = self._other_logs.get(tag)
        if cached is None:
            info = next((i for i in list_sessions(self.repo) if i.tag == tag), None)
            cached = read_log(info.state_dir / "log.jsonl").experiments if info else []
            self._other_logs[tag] = cached
        return cached

    def remember_review(self, on: bool) -> None:
        """Record review mode as session state, so that a relaunch restores it (a session
        quit with proposals awaiting review must not measure the next one unasked)."""
        self.review = on
        try:
            self.setup.writer.append({"type": "review", "on": on})
        except (OSError, ValueError):
            pass  # the session closed meanwhile: nothing runs unreviewed without a loop

    def add_note(self, n: int, text: str) -> None:
        """Keep the user's note on experiment `n` (a `note` record of the log)."""
        record = {"type": "note", "n": n, "text": text}
        try:
            self.setup.writer.append(record)
        except ValueError:  # the session closed: append on its own
            writer = LogWriter(self.paths.log)
            try:
                writer.append(record)
            finally:
                writer.close()

    def output_of(self, n: int, tag: str | None = None) -> dict[str, str]:
        runs = self.paths.runs
        if tag is not None and tag != self.tag:
            info = next((i for i in list_sessions(self.repo) if i.tag == tag), None)
            if info is None:
                return {}
            runs = info.state_dir / "runs"
        folder = runs / str(n)
        if not folder.is_dir():
            return {}
        return {p.stem: p.read_text(encoding="utf-8", errors="replace")
                for p in sorted(folder.glob("*.log"))}

    def other_sessions(self) -> list[tuple[str, list[Experiment]]]:
        out = []
        for info in list_sessions(self.repo):
            if info.tag != self.tag:
                experiments = read_log(info.state_dir / "log.jsonl").experiments
                self._other_logs[info.tag] = experiments
                out.append((info.tag, experiments))
        return out

    def close(self) -> None:
        self.setup.writer.close()
        _close_logging()
        if self.setup.remote is not None:
            self.setup.remote.executor.close()  # leave the cluster (a private one stops)
        self.lock.release()


def open_session(options: LaunchOptions, *, agent: Agent | None = None,
                 pause_on_agent_errors: bool = False) -> Session:
    """Validate everything, then create or resume the session `options` names. `agent`
    replaces the configured one (tests, benchmarks)."""
    cwd, config_path, tag, new = options.cwd, options.config_path, options.tag, options.new
    max_experiments, max_hours = options.max_experiments, options.max_hours
    max_cost = options.max_cost
    repo = find_repo(cwd)
    path = Path(config_path) if config_path else repo.root / CONFIG_NAME
    if not path.is_absolute():
        path = (cwd / path).resolve()
    if not path.exists():
        raise UsageError(f"no {path.name} in {path.parent}; create one with "
                         "`autoresearch-tui init` (or pass --config PATH).")
    config = load_config(path)
    if options.workers is not None:
        config = with_workers(config, options.workers, path)
    executor = None
    if config.executor.kind == "ray":  # before anything is created: one sentence, exit 2
        from app.engine.executors.ray_exec import RayExecutor

        executor = RayExecutor(config.executor)
    _check_command_exists(config.metric.command, repo.root, "metric.command")
    if config.checks.command:
        _check_command_exists(config.checks.command, repo.root, "checks.command")
    if config.holdout.command:
        _check_command_exists(config.holdout.command, repo.root, "holdout.command")
    if config.agent.kind == "scripted":
        patches = repo.root / config.agent.scripted.patches
        if not patches.is_dir():
            raise UsageError(f"`agent.scripted.patches` is {config.agent.scripted.patches!r}, "
                             "which is not a folder; create it or fix the "
                             "path.")
    if config.agent.kind != "scripted" and agent is None and not (
            (repo.root / config.agent.program).is_file()
            or git_cli.git_succeeds(repo.root, "cat-file", "-e",
                                    f"HEAD:{config.agent.program}")):
        # The agent's goal, scope and ideas: without it the agent works blind.
        raise UsageError(f"`agent.program` is {config.agent.program!r}, which does not exist; "
                         "write the agent's goal and ideas there (`autoresearch-tui init` "
                         "writes one) or fix the path.")
    if config.agent.kind == "anthropic" and agent is None and not os.environ.get(
            "ANTHROPIC_API_KEY"):
        raise UsageError("ANTHROPIC_API_KEY is not set; export your API key, or use "
                         "`[agent] kind = \"scripted\"` or \"command\" to run without one.")
    chosen, exists = choose_tag(repo, cli_tag=tag, config_tag=config.session.tag, new=new)
    paths = repo.session(chosen)
    if exists and _is_read_only(paths):
        raise UsageError(f"session {chosen!r} is an imported, read-only session; choose "
                         "another tag with --tag or start one with --new.")

    # From here on things are created; a failure undoes a new session.
    lock = SessionLock(paths.lock)
    state_existed = paths.state_dir.exists()
    try:
        lock.acquire()
    except OSError as exc:
        raise _state_error(paths, exc) from None
    git = SessionGit(repo, paths)
    # A session with a log is never new, even when its branch was deleted by hand: it is
    # restored, and nothing of it (its candidate refs above all) is undone on a failure.
    created = not git.branch_exists() and not _has_records(paths.log)
    try:
        return _prepare(repo, paths, path, config, git, lock, created, agent, Budgets(
            max_experiments=max_experiments or config.session.max_experiments,
            max_hours=max_hours or config.session.max_hours,
            max_cost_usd=max_cost or config.session.max_cost_usd,
            max_total_tokens=config.session.max_total_tokens,
            from_command_line=frozenset(name for name, value in (
                ("max_experiments", max_experiments), ("max_hours", max_hours),
                ("max_cost_usd", max_cost)) if value is not None)), pause_on_agent_errors,
            executor)
    except BaseException as exc:
        if executor is not None:
            executor.close()
        if created:
            git.remove_worktree()
            git.delete_branch()  # never candidate refs: only prune deletes those
        lock.release()
        if not state_existed:
            shutil.rmtree(paths.state_dir, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _state_error(paths, exc) from None
        raise


def with_workers(config: Config, workers: int, path: Path) -> Config:
    """The config with `--workers` in place of `[parallel] workers`, validated the same way."""
    parallel = dataclasses.replace(config.parallel, workers=workers)
    config = dataclasses.replace(config, parallel=parallel)
    check_parallel(parallel, path)
    return config


def _state_error(paths: SessionPaths, exc: OSError) -> UsageError:
    """A state folder that cannot be written (read-only, immutable, a file where a folder
    should be, a full disk) is one sentence, not a traceback."""
    where = exc.filename or paths.state_dir
    if out_of_space(exc):
        return UsageError(f"the disk is full: no space left to write the session's files "
                          f"({where}); free some space on it, then launch again.")
    return UsageError(f"cannot write the session's files ({exc.strerror or exc}: {where}); "
                      f"make {paths.state_dir} a writable folder, or start another session "
                      "with --new or --tag.")


def _is_read_only(paths: SessionPaths) -> bool:
    """Imported sessions say so in their first record."""
    return bool(first_record(paths.log).get("read_only"))


def _prepare(repo: RepoPaths, paths: SessionPaths, config_path: Path, config: Config,
             git: SessionGit, lock: SessionLock, created: bool, agent: Agent | None,
             budgets: Budgets, pause_on_agent_errors: bool, executor: Any = None) -> Session:
    notice = ""
    branch_reset = ""
    contents = read_log(paths.log)
    if contents.broken is not None:
        raise UsageError(contents.broken_message(paths.log))
    if created:
        git.create_branch(git.user_head())
        if _user_checkout_dirty(repo):
            notice = ("your uncommitted changes are not part of the session: it starts from "
                      "your last commit")
    elif not git.branch_exists():
        notice, branch_reset = _restore_branch(git, contents.records)
    worktree_made = git.ensure_worktree()
    remove_leftovers(repo, paths)  # worker worktrees of a killed parallel launch
    _link_paths(config, repo.root, paths.worktree)
    sandbox = make_sandbox(config, repo)
    git.linked = {p.strip("/") for p in config.session.link}
    _setup_logging(paths)
    writer = LogWriter(paths.log)
    experiments = contents.experiments
    recovered = _recover(git, writer, experiments, contents.of_type("experiment_started"))
    git.reset_to(git.champion())
    # On a cluster nothing is measured here: `[session] setup` runs on the nodes, in
    # their measurement trees (this machine may not even be able to run it: no GPU).
    remote = executor is not None
    outputs_gone = _setup_outputs_gone(paths) if config.session.setup and not remote else []
    if config.session.setup and not remote and (worktree_made or outputs_gone):
        fault_point("setup")
        if outputs_gone and not worktree_made:
            notice = "; ".join(x for x in (notice, (
                f"`session.setup` ran again: what it made is gone ({', '.join(outputs_gone[:3])})"
            )) if x)
        result = run_command(config.session.setup, paths.worktree, 3600,
                             isolation=sandbox.setup(paths.worktree), policy=sandbox.policy)
        (paths.state_dir / "setup.log").write_text(result.output, encoding="utf-8")
        if not result.ok:
            raise UsageError(f"`session.setup` failed in the new worktree ({result.failure()}); "
                             f"fix the command.{output_clause(result.output_tail)}")
        _record_setup_outputs(paths, git.ignored_entries())
    tree = None if remote else _measurement_tree(config, repo, paths, git, sandbox)
    tracked = git.tracked_files()
    base_commit = (contents.of_type("session_start") or [{}])[0].get("base_commit") \
        or git.champion()
    base_tracked = tracked if base_commit == git.champion() else git.tracked_files(base_commit)
    guard = Guard.from_config(config, paths.worktree, base_tracked)
    digest = config_digest(config_path)
    starts = contents.of_type("session_start")
    data_files, holdout_data, data_warning = _data_files(
        config, tree.path if tree else None, base_tracked, starts, digest,
        lambda: _audit_on_node(executor, config, paths, repo, git, base_tracked))
    data_files = [p for p in data_files if not any(  # `[guard] unprotected` wins
        glob_match(p, g) for g in config.guard.unprotected)]
    guard.protected_paths |= set(data_files)
    # Data only the held-out benchmark reads is held out too: hidden from the agent like
    # the holdout's own files (its file tools; under bwrap, its commands).
    guard.hidden_paths |= set(holdout_data)
    fingerprint = guard.fingerprint(paths.worktree, tracked)
    needs_baseline = branch_reset
    if starts and not needs_baseline:
        last = starts[-1]
        if last.get("config_sha256") not in (None, digest):
            needs_baseline = f"{CONFIG_NAME} changed since the last launch"
        else:
            changed = changed_fingerprint(last.get("protected") or {}, fingerprint)
            if changed and last.get("protected") is not None:
                needs_baseline = (f"protected files changed since the last launch: "
                                  f"{', '.join(changed[:5])}")
    program_path = repo.root / config.agent.program
    if not program_path.exists():
        program_path = paths.worktree / config.agent.program
    writer.append({"type": "session_start", "tag": paths.tag, "branch": paths.branch,
                   "base_commit": base_commit, "champion": git.champion(),
                   "metric_name": config.metric.name, "unit": config.metric.unit,
                   "direction": config.metric.direction, "agent": config.agent.kind,
                   "config_sha256": digest, "protected": fingerprint, "pid": os.getpid(),
                   "goal": _goal(program_path), "resumed": bool(starts),
                   "recovered": recovered, "isolation": sandbox.describe(),
                   "data_files": data_files, "holdout_data_files": holdout_data})
    # The champion's samples: the latest top-up or re-measurement since the last keep.
    segment_start = contents.segment_start
    drift_samples = None if needs_baseline else latest_champion_samples(contents.records,
                                                                         experiments)
    if agent is None:
        from app.engine.agents import make_agent

        agent = make_agent(config, repo.root, paths.state_dir)
    setup = LoopSetup(
        config=config, git=git, guard=guard, writer=writer, runs_dir=paths.runs,
        program_path=program_path, experiments=experiments, segment_start=segment_start,
        fingerprint=fingerprint, budgets=budgets, needs_new_baseline=needs_baseline,
        drift_samples=drift_samples,
        pause_on_agent_errors=pause_on_agent_errors, tracked=tracked, sandbox=sandbox,
        tree=tree, remote=_remote_bench(executor, config, repo, paths, guard, tracked),
        drifted=bool(contents.of_type("drift")) and not needs_baseline,
        instructions=contents.of_type("instruction"))
    reviews = contents.of_type("review")
    warnings = contents.warnings + ([data_warning] if data_warning else [])
    return Session(repo, paths, config, config_path, git, lock, experiments, setup, agent,
                  created, notice, warnings,
                  review=bool(reviews and reviews[-1].get("on")))


def _audit_on_node(executor: Any, config: Config, paths: SessionPaths, repo: RepoPaths,
                   git: SessionGit, tracked: list[str]) -> tuple[list[str], str]:
    from app.engine.executors.remote_bench import audit_on_node, session_key

    return audit_on_node(executor, config, key=session_key(paths.tag, repo.common_dir),
                         common_dir=repo.common_dir, commit=git.champion(), tracked=tracked)


def _remote_bench(executor: Any, config: Config, repo: RepoPaths, paths: SessionPaths,
                  guard: Guard, tracked: list[str]) -> Any:
    """Measured commands through `executor` (None: here): the node hashes the protected
    files before and after every run, as the local measurement tree does."""
    if executor is None:
        return None
    from app.engine.executors.remote_bench import RemoteBench

    protected = tuple(sorted({p for p in tracked if guard.is_protected(p)}
                             | set(guard.protected_paths)))
    return RemoteBench(executor, config, common_dir=repo.common_dir, tag=paths.tag,
                       protected=protected)


def _data_files(config: Config, worktree: Path | None, tracked: list[str],
                starts: list[dict[str, object]], digest: str,
                on_node: Callable[[], tuple[list[str], str]]
                ) -> tuple[list[str], list[str], str]:
    """The repository data the benchmark and the holdout read (app/engine/data_reads.py),
    and the part of it only the holdout reads: found by one traced run of each at a
    session's first launch (or after the config changed), then taken from the session
    start record. Without a measurement tree here (a cluster) the traced runs are made on
    a node (`on_node`), which does not tell the holdout's own data apart."""
    last = starts[-1] if starts else {}
    recorded, held = last.get("data_files"), last.get("holdout_data_files")
    if isinstance(recorded, list) and last.get("config_sha256") == digest \
            and (isinstance(held, list) or not config.holdout.command or worktree is None):
        return ([p for p in recorded if isinstance(p, str)],
                [p for p in held if isinstance(p, str)] if isinstance(held, list) else [], "")
    if worktree is None:
        found, warning = on_node()
        return found, [], warning
    from app.engine import data_reads

    bench, warning = data_reads.audit((config.metric.command,), worktree, tracked,
                                      config.metric.timeout_s)
    holdout: list[str] = []
    if config.holdout.command and not warning:
        holdout, warning = data_reads.audit((config.holdout.command,), worktree, tracked,
                                            config.metric.timeout_s)
    return sorted(set(bench) | set(holdout)), sorted(set(holdout) - set(bench)), warning


def _setup_outputs_path(paths: SessionPaths) -> Path:
    return paths.state_dir / "setup_outputs.json"


def _record_setup_outputs(paths: SessionPaths, entries: list[str]) -> None:
    import json

    _setup_outputs_path(paths).write_text(json.dumps(entries) + "\n", encoding="utf-8")


def _setup_outputs_gone(paths: SessionPaths) -> list[str]:
    """What the last `[session] setup` made (ignored files) and is no longer in the worktree:
    then setup runs again, instead of every experiment crashing on a missing `deps/`."""
    import json

    try:
        entries = json.loads(_setup_outputs_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, str) and not os.path.lexists(
        paths.worktree / e.rstrip("/"))]


def _has_records(log: Path) -> bool:
    try:
        return log.stat().st_size > 0
    except OSError:
        return False


def champion_in_log(records: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The champion the log last recorded (a launch's `champion`, a baseline's or a keep's
    commit, whichever came last) and, for a keep, its candidate commit (same tree)."""
    champion = candidate = None
    for record in records:
        kind = record.get("type")
        if kind == "session_start" and isinstance(record.get("champion"), str):
            if record["champion"] != champion:
                champion, candidate = record["champion"], None
        elif kind == "experiment" and record.get("status") in ("keep", "baseline") and \
                isinstance(record.get("commit"), str):
            champion = record["commit"]
            found = record.get("candidate")
            candidate = found if isinstance(found, str) and record["status"] == "keep" \
                else None
    return champion, candidate


def _restore_branch(git: SessionGit, records: list[dict[str, Any]]) -> tuple[str, str]:
    """The session branch was deleted while its log lives on: put it back at the champion
    the log recorded. When `git gc` has removed that commit, its candidate ref still holds
    the same tree (and the earlier champion as parent): the keep is made again from it.
    Only when neither is left does the session start a new baseline segment from the
    user's HEAD. Returns (the one-line notice, the new-baseline reason or "")."""
    branch = git.paths.branch
    champion, candidate = champion_in_log(records)
    if champion and git.has_commit(champion):
        git.create_branch(champion)
        return (f"the session branch {branch} was missing: restored at the champion "
                f"{champion[:12]} recorded in the log", "")
    if champion and candidate and git.has_commit(candidate):
        remade = git.remake_keep(candidate, champion)
        return (f"the session branch {branch} was missing and its champion {champion[:12]} "
                f"was gone: restored from candidate {candidate[:12]} (same files) as "
                f"{remade[:12]}", "")
    head = git.user_head()
    git.create_branch(head)
    gone = (f"its champion {champion[:12]} is no longer in the repository" if champion
            else "the log names no champion")
    reason = (f"the session branch {branch} was missing and {gone}: a new baseline from "
              f"your HEAD {head[:12]}")
    return reason, reason


def _measurement_tree(config: Config, repo: RepoPaths, paths: SessionPaths, git: SessionGit,
                      sandbox: SessionSandbox) -> MeasurementTree:
    """The clean tree measured commands run in; `[session] setup` runs once in a new one,
    and what it made (the new paths, `untracked_outputs`) survives the resets before
    every run."""
    links = {rel.strip("/"): (repo.root / rel).resolve() for rel in config.session.link
             if (repo.root / rel).exists()}
    tree = MeasurementTree(repo, paths, links=links)
    record = paths.state_dir / "measure-setup.json"
    champion = git.champion()
    made = tree.ensure(champion)
    command = config.session.setup
    outputs = None
    if command:
        def run_setup(folder: Path, state: str) -> CommandResult:
            done = run_command(command, folder, 3600, isolation=sandbox.setup(folder),
                               policy=sandbox.policy)
            log = f"setup-measure-{state}.log" if state else "setup-measure.log"
            (paths.state_dir / log).write_text(done.output, encoding="utf-8")
            return done

        outputs = SetupOutputs(tree, SetupInputs.of(command, tree.path,
                                                    config.session.setup_inputs),
                               run_setup, record)
        tree.setup_outputs = outputs
    if made:
        record.unlink(missing_ok=True)
        if outputs is not None:
            outputs.remove()
    if made and outputs is not None:
        result = outputs.run_setup(tree.path, "")
        if not result.ok:
            tree.remove()
            raise UsageError(f"`session.setup` failed in the measurement tree "
                             f"({result.failure()}); fix the command."
                             f"{output_clause(result.output_tail)}")
        tree.kept = tree.untracked_outputs()
        outputs.made_for(champion)
    elif record.exists():
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            kept = data.get("kept", []) if isinstance(data, dict) else data
            tree.kept = {k for k in kept if isinstance(k, str)}
        except (OSError, ValueError, AttributeError):
            tree.kept = set()
        if outputs is not None:
            outputs.load(champion)
    return tree


def make_sandbox(config: Config, repo: RepoPaths) -> SessionSandbox:
    """The session's isolation (`[session] sandbox`) and environment allowlist."""
    s = config.session
    sandbox = session_sandbox(
        wanted=s.sandbox, network=s.network, env=s.env, env_secrets=s.env_secrets,
        agent_env=config.agent.command.env, repo_root=repo.root,
        common_dir=repo.common_dir,
        links=[(repo.root / rel).resolve() for rel in s.link if (repo.root / rel).exists()])
    if s.sandbox == "bwrap" and sandbox.kind != "bwrap":
        raise UsageError(f"`session.sandbox` is \"bwrap\" but {sandbox.note}; install "
                         "bubblewrap (Debian: apt install bubblewrap), or set it to "
                         "\"auto\" or \"none\".")
    return sandbox


def _goal(program_path: Path) -> str:
    try:
        text = program_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines()]
    for i, line in enumerate(lines):
        if line.lower().startswith("## goal"):
            body = [x for x in lines[i + 1:] if x and not x.startswith("#")][:3]
            return " ".join(body)
    return next((x for x in lines if x and not x.startswith("#")), "")


def _recover(git: SessionGit, writer: LogWriter, experiments: list[Experiment],
             started: list[dict[str, Any]] | None = None) -> list[int]:
    """Candidates stored by a run that was killed before it logged them get a record now:
    `keep` if the branch holds them (the keep happened), else `interrupted`. With parallel
    workers, every number logged as started (`experiment_started`) without a record gets
    one too, with or without a candidate: no number is lost."""
    logged = {e.n for e in experiments}
    top = max(logged) if logged else -1
    workers = {r["n"]: r.get("worker", 0) for r in started or []
               if isinstance(r.get("n"), int) and not isinstance(r.get("n"), bool)}
    orphans = sorted({n for n in git.candidate_numbers() if n > top}
                     | {n for n in workers if n not in logged})
    if not orphans:
        return []
    tip = git.champion()
    trailer = parse_result_trailer(git.message(tip)) or {}
    for n in orphans:
        commit = git.candidate(n)
        worker = workers.get(n, 0) if isinstance(workers.get(n, 0), int) else 0
        if commit is None:  # killed while its agent was still proposing
            exp = Experiment(n=n, status=Status.INTERRUPTED, worker=worker,
                             reason="the harness stopped before deciding (killed?)")
            writer.append_experiment(exp)
            experiments.append(exp)
            continue
        message = git.message(commit)
        description = message.strip().splitlines()[0] if message.strip() else ""
        source = next((line.split(":", 1)[1].strip() for line in message.splitlines()
                       if line.startswith("Autoresearch-Source:")), None)
        if trailer.get("n") == n:
            metric = trailer.get(next((k for k in trailer if k not in (
                "n", "status", "metrics", "samples", "confidence", "p_value")), ""), None)
            exp = Experiment(n=n, status=Status.KEEP, reason="recovered after a restart",
                             metric=metric, metrics=trailer.get("metrics") or {},
                             samples=trailer.get("samples") or [], commit=tip,
                             candidate=commit, description=description,
                             confidence=trailer.get("confidence"),
                             p_value=trailer.get("p_value"), source=source, worker=worker)
        else:
            exp = Experiment(n=n, status=Status.INTERRUPTED, candidate=commit, commit=commit,
                             reason="the harness stopped before deciding (killed?)",
                             description=description, source=source, worker=worker)
        writer.append_experiment(exp)
        experiments.append(exp)
    return orphans


def _user_checkout_dirty(repo: RepoPaths) -> bool:
    import pygit2

    try:
        status = pygit2.Repository(str(repo.root)).status(untracked_files="no")
    except pygit2.GitError:
        return False
    return any(True for _ in status)


def prepare_slot_tree(setup: LoopSetup, index: int) -> MeasurementTree:
    """Measurement slot `index`'s own tree (`[parallel] measure_slots` > 1), made like the
    session's (`[session] setup` runs once in a new one)."""
    git = setup.git
    paths = dataclasses.replace(git.paths, tag=f"{git.paths.tag}.slot{index}",
                                state_dir=git.paths.state_dir / f"slot{index}")
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    sandbox = setup.sandbox or make_sandbox(setup.config, git.repo_paths)
    return _measurement_tree(setup.config, git.repo_paths, paths, git, sandbox)


def link_paths(config: Config, root: Path, worktree: Path) -> None:
    """`[session] link` paths as symlinks into `worktree` (a worker's too)."""
    _link_paths(config, root, worktree)


def _link_paths(config: Config, root: Path, worktree: Path) -> None:
    for rel in config.session.link:
        source = root / rel
        target = worktree / rel
        if not source.exists():
            continue
        if target.is_symlink() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve(), target_is_directory=source.is_dir())


def _close_logging() -> None:
    logger = logging.getLogger("autoresearch")
    for handler in list(logger.handlers):
        if getattr(handler, "_autoresearch", False):
            logger.removeHandler(handler)
            handler.close()


def _setup_logging(paths: SessionPaths) -> None:
    logger = logging.getLogger("autoresearch")
    _close_logging()
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(paths.debug_log, encoding="utf-8")
    handler._autoresearch = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.info("session %s opened at %s (pid %d)", paths.tag, time.ctime(), os.getpid())
