"""Building and running the App: `make_app` is the one way to build it (the CLI and the
tests both use it); `app_options` is the CLI's launch options and the user's
config; `run_tui` is `autoresearch-tui` with no subcommand."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.tui.app import AutoresearchApp
from app.tui.state import AppOptions, LoopSource

if TYPE_CHECKING:
    from app.engine.launch import LaunchOptions


def make_app(options: AppOptions) -> AutoresearchApp:
    """The App, ready to `run()` (the CLI) or `run_test()` (the tests)."""
    return AutoresearchApp(options)


def find_repo_root(start: Path) -> Path | None:
    """The working tree's top, found without git or pygit2 (this runs before the first
    frame, so it must be cheap)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def app_options(options: LaunchOptions) -> AppOptions:
    """The CLI's launch options and the user's config (`[keymap]`, `[ui] theme`) as the
    App's options. Opens nothing: the session is opened by the App, on the loop's thread,
    after the first frame."""
    from app.config import CONFIG_NAME, load_user_config

    user = load_user_config()
    cwd = options.cwd
    config_path = options.config_path
    root = find_repo_root(cwd)
    needs_init = None
    if config_path is None and root is not None and not (root / CONFIG_NAME).exists():
        needs_init = root

    def open_source() -> LoopSource:
        from app.engine.session import open_session

        return open_session(options)

    return AppOptions(open_source=open_source, paused=options.paused,
                      keymap=dict(user.keymap), theme=user.ui.theme, needs_init=needs_init)


def run_tui(options: LaunchOptions) -> int:
    """`autoresearch-tui [--tag] [--new] [--paused]`: open the TUI and run the session."""
    app = make_app(app_options(options))
    try:
        status = app.run()
    finally:
        app.stop_watching_terminal()
    if not app.loop_finished.is_set() and app.view.loop_running:
        # The app closed while the loop still ran (a forced quit): ask it to stop and give
        # it a moment to record the experiment as interrupted.
        app.controller.stop("interrupted")
        app.loop_finished.wait(10)
    for line in app.farewell:
        print(line, flush=True)
    if app.usage_error is not None:
        raise app.usage_error
    return status if isinstance(status, int) else (app.return_code or 0)
