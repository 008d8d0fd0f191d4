"""`sessions` and `prune`: list a repository's sessions; remove one after asking."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from app.command_options import PruneOptions, SessionsOptions
from app.engine.history import read_log
from app.engine.layout import SessionLock, find_repo, list_sessions
from app.engine.records import Status, change_words, summarize
from app.errors import UsageError
from app.tags import validate_tag


def run_sessions(options: SessionsOptions) -> int:
    repo = find_repo(Path.cwd())
    sessions = list_sessions(repo)
    if not sessions:
        print("no sessions yet; start one with `autoresearch-tui` or `autoresearch-tui run "
              "--headless`")
        return 0
    print(f"{'tag':<20} {'state':<11} {'experiments':>11}  best")
    for info in sessions:
        contents = read_log(info.state_dir / "log.jsonl")
        start = (contents.of_type("session_start") or [{}])[0]
        summary = summarize(info.tag, contents.experiments,
                            metric_name=start.get("metric_name", "metric"),
                            unit=start.get("unit", ""),
                            direction=start.get("direction", "lower"))
        state = "imported" if info.read_only else "finished" if info.finished else "open"
        best = ""
        if summary.baseline is not None and summary.best is not None:
            best = (f"{summary.baseline:g} -> {summary.best:g} {summary.unit} "
                    f"({change_words(summary.baseline, summary.best, summary.direction)})"
                    ).replace("  ", " ")
        print(f"{info.tag:<20} {state:<11} {summary.experiments:>11}  {best}")
    return 0


def run_prune(options: PruneOptions) -> int:
    import pygit2

    from app.engine.gitops import SessionGit

    tag = validate_tag(options.tag)
    repo = find_repo(Path.cwd())
    paths = repo.session(tag)
    git = SessionGit(repo, paths)
    if not paths.state_dir.exists() and not git.branch_exists():
        raise UsageError(f"there is no session {tag!r}; `autoresearch-tui sessions` lists them.")
    refs = git.candidate_numbers()
    print(f"This removes session {tag!r}: its worktree {paths.worktree}, branch {paths.branch},"
          f" {len(refs)} candidate refs and its log in {paths.state_dir}.")
    if not options.yes:
        if not sys.stdin.isatty():
            raise UsageError("prune needs confirmation; run it in a terminal or pass --yes.")
        if input("Remove it? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    lock = SessionLock(paths.lock)
    if paths.state_dir.exists():
        lock.acquire()  # refuses while the session runs
    try:
        git.remove_worktree()
        try:
            git.delete_session_refs()
        except pygit2.GitError as exc:
            raise UsageError(f"could not delete the session's refs: {exc}") from None
    finally:
        lock.release()
    shutil.rmtree(paths.state_dir, ignore_errors=True)
    print(f"removed session {tag}")
    return 0


__all__ = ["run_prune", "run_sessions", "Status"]
