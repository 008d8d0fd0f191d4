"""`sessions` and `prune`: list a repository's sessions; remove one after asking."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from app.command_options import PruneOptions, SessionsOptions
from app.engine.layout import SessionLock, find_repo, list_sessions
from app.engine.records import Status, change_words, count_experiments
from app.errors import UsageError
from app.session_data import load_session
from app.tags import validate_tag


def run_sessions(options: SessionsOptions) -> int:
    repo = find_repo(Path.cwd())
    sessions = list_sessions(repo)
    if not sessions:
        print("no sessions yet; start one with `autoresearch-tui` or `autoresearch-tui run "
              "--headless`")
        return 0
    width = max(20, *(len(info.tag) for info in sessions))
    print(f"{'tag':<{width}} {'state':<11} {'experiments':>11}  best")
    for info in sessions:
        state = "imported" if info.read_only else "finished" if info.finished else "open"
        try:
            data = load_session(info.state_dir)
        except UsageError:
            print(f"{info.tag:<{width}} {'broken log':<11} {'':>11}  run `autoresearch-tui "
                  f"history --tag {info.tag} --repair`")
            continue
        # The last segment, as `history` and the report show it: a log whose metric changed
        # has a baseline per segment, and the best of one is no change from another's.
        segment = data.segments[-1] if data.segments else None
        base = segment.baseline if segment else None
        best_e = segment.best if segment else None
        best = ""
        if segment and base and best_e and base.metric is not None \
                and best_e.metric is not None:
            best = (f"{base.metric:g} -> {best_e.metric:g} {segment.unit} "
                    f"({change_words(base.metric, best_e.metric, segment.direction)})"
                    ).replace("  ", " ")
        print(f"{info.tag:<{width}} {state:<11} {count_experiments(data.experiments):>11}  "
              f"{best}")
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
