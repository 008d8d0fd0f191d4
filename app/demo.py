"""`autoresearch-tui demo`: the sample project in a fresh git repo, and the loop on it.

The sample (`app/demo_project/`, shipped as package data) is a deliberately slow word
statistics library with tests, a benchmark, a held-out benchmark and a series of patches
for the scripted agent that tell the whole story offline: kept speed-ups, a patch that
breaks the tests, one that is only noise, one that edits the benchmark, one that overfits,
one that crashes. With `--agent anthropic` the real agent works on the same sample.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from app.command_options import DemoOptions
from app.config import CONFIG_NAME, load_config
from app.engine.launch import LaunchOptions
from app.errors import UsageError
from app.onboard import _git

PATCHES_DIR = "demo_patches"
DEMO_COMMIT = "textstats: the demo's sample project"
"""The message of the sample repo's one commit (how a second demo run knows its folder)."""
STORY = {
    "01": "keep",
    "02": "keep",
    "03": "checks_failed",
    "04": "discard",
    "05": "rejected",
    "06": "overfit",
    "07": "crash",
    "08": "keep",
    "09": "keep",
}
"""What each scripted patch is meant to show: the same story on every machine. The
benchmarks time CPU (not wall) time, take the best of three calls and are interleaved with
the champion, so other work on the machine hardly moves them; `story_check` says so when a
machine was still too noisy for one of them."""


def run_demo(options: DemoOptions) -> int:
    """Create the sample repo (at `options.dir` or a printed temporary folder) and run on it."""
    agent = options.agent
    if agent == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError("`demo --agent anthropic` needs ANTHROPIC_API_KEY; export your key, "
                         "or run `autoresearch-tui demo` for the offline scripted demo.")
    # Before the chdir below: a relative argv[0] (`make demo` runs .venv/bin/...) would
    # otherwise resolve inside the demo's folder, where no such file exists.
    exe = program_command()
    earlier = _earlier_demo(options.dir)
    tag = None
    if earlier is not None:
        # `demo --dir` again on the folder an earlier demo made: go on with it.
        target = earlier
        tag, how = relaunch_plan(target)
        print(f"Sample project: {target} (made by an earlier demo): {how}", flush=True)
    else:
        target = _target_dir(options.dir)
        existed = options.dir is not None and target.is_dir()
        try:
            create_sample_repo(target, agent=agent)
        except BaseException:
            # A half-made sample repo is worse than none: the next try would refuse it.
            _remove_created(target, existed=existed)
            raise
        print(f"Sample project: {target}", flush=True)
    os.chdir(target)
    launch = LaunchOptions(cwd=target, tag=tag, workers=options.workers)
    try:
        if options.headless:
            from app.headless import run_headless

            return run_headless(launch)
        from app.tui.launch import run_tui

        return run_tui(launch)
    finally:
        # Also after Ctrl-C or an error: the repo and its log stay, worth a look.
        if agent == "scripted":
            note = story_check(target)
            if note:
                print(note, flush=True)
        print(next_steps(target, exe), flush=True)


def _earlier_demo(requested: str | None) -> Path | None:
    """The folder of `--dir` if an earlier demo made its sample repo there (its first and
    only root commit is the demo's), else None."""
    if requested is None:
        return None
    target = Path(requested).expanduser().resolve()
    if not (target / ".git").exists() or not (target / CONFIG_NAME).is_file():
        return None
    done = subprocess.run(["git", "log", "--format=%s", "--max-parents=0", "HEAD"],
                          cwd=target, capture_output=True, text=True)
    return target if done.returncode == 0 and done.stdout.splitlines() == [
        DEMO_COMMIT] else None


def relaunch_plan(target: Path) -> tuple[str | None, str]:
    """Which session a demo launched again on its folder opens (None: the usual choice),
    and the words that say so: the unfinished one resumes; when every session has ended,
    the newest is shown to browse (a plain launch would start a new one, which replays
    no patch: they are all used)."""
    from app.engine.layout import find_repo, list_sessions

    sessions = list_sessions(find_repo(target))  # newest first
    unfinished = [info for info in sessions if not info.finished and not info.read_only]
    if unfinished:
        return None, f"resuming its session {unfinished[0].tag}."
    if sessions:
        return sessions[0].tag, (f"its session {sessions[0].tag} has ended; showing it to "
                                 "browse (for a new run, give --dir a new folder).")
    return None, "starting its session."


def story_check(target: Path) -> str:
    """'' when every decided patch came out as the story means it to, else a sentence that
    names the ones that did not: the machine was too noisy for a fair measurement."""
    from app.engine.history import read_log

    odd = []
    for log in sorted((target / ".git" / "autoresearch" / "sessions").glob("*/log.jsonl")):
        for e in read_log(log).experiments:
            expected = STORY.get(Path(e.source or "").name[:2])
            # Vetoed and interrupted: the user's doing, not the machine's.
            if expected and str(e.status) not in (expected, "interrupted", "vetoed") and not (
                    e.source or "").startswith("cherry-pick"):
                what = e.description.splitlines()[0] if e.description else e.source
                odd.append(f"#{e.n} ({what}) came out {e.status} where the story expects "
                           f"{expected}")
    if not odd:
        return ""
    return ("\nThis machine was too noisy for the demo's story: " + "; ".join(odd) + ". "
            "The harness decided from what it measured; with less other work on the machine "
            "(or more [metric] repeats) the same patches tell the intended story.")


def next_steps(target: Path, exe: str | None = None) -> str:
    """What to try after the demo: the commands that read what the session left behind;
    `exe` is how this program was run (taken before the demo changed directory)."""
    exe = exe or program_command()
    where = shlex.quote(str(target))
    return (f"\nThe demo's repo stays at {target}. Next, try:\n"
            f"  cd {where} && {exe} history    # every experiment and its status\n"
            f"  cd {where} && {exe} report     # a Markdown report with a chart\n"
            f"  cd {where} && {exe} finalize   # kept experiments as branches\n"
            f"  cd {where} && {_tui_hint(target, exe)}")


def _tui_hint(target: Path, exe: str) -> str:
    """Launching again resumes an unfinished session; a finished one would make the launch
    start a new session (replaying the patches), so name the session to browse it."""
    try:
        from app.engine.layout import find_repo, list_sessions

        sessions = list_sessions(find_repo(target))
    except Exception:  # noqa: BLE001 - a hint must never fail the demo's ending
        sessions = []
    if sessions and all(info.finished for info in sessions):
        tag = sessions[0].tag  # the newest
        return (f"{exe} --tag {tag}  # the TUI on the finished session, to browse it "
                "(without --tag a new session starts)")
    return f"{exe}            # the TUI, resuming the session"


def program_command(argv0: str | None = None) -> str:
    """How to run this program again from anywhere: `autoresearch-tui` when PATH finds this
    very program, else its absolute path (`make demo` runs .venv/bin/autoresearch-tui, which
    a new user rarely has on PATH), else `python -m app` with this interpreter."""
    name = "autoresearch-tui"
    argv0 = sys.argv[0] if argv0 is None and sys.argv else (argv0 or "")
    if Path(argv0).name == name:
        started = Path(os.path.abspath(argv0))  # not resolve(): keep the venv's own path
        on_path = shutil.which(name)
        if on_path and Path(on_path).resolve() == started.resolve():
            return name
        return shlex.quote(str(started))
    return f"{shlex.quote(sys.executable)} -m app"


def _target_dir(requested: str | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="autoresearch-demo-")).resolve()
    target = Path(requested).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise UsageError(f"--dir {requested} is a file; give a new or empty folder.")
    if target.is_dir() and any(target.iterdir()):
        raise UsageError(f"--dir {requested} is not empty; give a new or empty folder, or "
                         f"leave out --dir to use a temporary one.")
    return target


def _remove_created(target: Path, existed: bool) -> None:
    if not target.exists():
        return
    if existed:
        # The folder was the user's (empty) one: empty it again, keep the folder.
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    else:
        shutil.rmtree(target, ignore_errors=True)


def create_sample_repo(target: Path, agent: str = "scripted") -> None:
    """Copy the sample project into `target`, make it a git repo on `main`, commit it.

    `agent="anthropic"` switches the config to the real agent and leaves the scripted
    patches out, so the agent cannot read the story's answers.
    """
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("app").joinpath("demo_project")
    with resources.as_file(source) as src:
        shutil.copytree(src, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if agent == "anthropic":
        shutil.rmtree(target / PATCHES_DIR, ignore_errors=True)
        _use_anthropic(target / CONFIG_NAME)
    load_config(target / CONFIG_NAME)  # a broken shipped config must fail here, loudly
    _git(target, "init", "-q", "-b", "main")
    if not _git_config_set(target, "user.name"):
        _git(target, "config", "user.name", "autoresearch demo")
    if not _git_config_set(target, "user.email"):
        _git(target, "config", "user.email", "demo@autoresearch.invalid")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", DEMO_COMMIT)


def _use_anthropic(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    scripted_table = f'[agent.scripted]\npatches = "{PATCHES_DIR}"\n'
    if 'kind = "scripted"' not in text or scripted_table not in text:
        raise RuntimeError("the demo's autoresearch.toml changed shape; update _use_anthropic")
    text = text.replace('kind = "scripted"', 'kind = "anthropic"').replace(scripted_table, "")
    config_path.write_text(text.rstrip() + "\n", encoding="utf-8")


def _git_config_set(cwd: Path, key: str) -> bool:
    done = subprocess.run(["git", "config", "--get", key], cwd=cwd, capture_output=True,
                          text=True)
    return done.returncode == 0 and bool(done.stdout.strip())
