"""`autoresearch-tui instruct [--tag TAG] [--standing] TEXT` and `instruct --clear`: a note
for the agent, from another shell, picked up by the running session at its next experiment
(app/engine/steering.py)."""

from __future__ import annotations

from pathlib import Path

from app.command_options import InstructOptions
from app.config import CONFIG_NAME, load_config
from app.engine.layout import SessionLock, choose_tag, find_repo
from app.engine.steering import Note, clean_text, post
from app.errors import UsageError


def run_instruct(options: InstructOptions) -> int:
    text = options.text
    clear, standing = options.clear, options.standing
    if clear and (text.strip() or standing):
        raise UsageError("--clear takes no note and no --standing; run it alone to clear the "
                         "standing notes, then add a new note if you want one.")
    note = Note(clear=True) if clear else Note(text=clean_text(text), standing=standing)
    repo = find_repo(Path.cwd())
    config_path = Path(options.config) if options.config else \
        repo.root / CONFIG_NAME
    config_tag = load_config(config_path).session.tag if config_path.is_file() else None
    tag, exists = choose_tag(repo, cli_tag=options.tag, config_tag=config_tag,
                             new=False)
    if not exists and (options.tag or config_tag):
        raise UsageError(f"there is no session {tag!r} in this repository; check the tag "
                         "(--tag or [session] tag), or start it with `autoresearch-tui`.")
    if not exists:
        raise UsageError("there is no unfinished session to take the note; start one with "
                         "`autoresearch-tui`, or name one with --tag.")
    paths = repo.session(tag)
    post(paths.state_dir, note)
    what = ("standing notes cleared" if note.clear else
            f"standing note: {note.text}" if note.standing else
            f"note for the next experiment: {note.text}")
    running = SessionLock(paths.lock).held()
    print(f"session {tag}: {what}" + ("" if running else
          " (the session is not running: it takes the note when launched again)"))
    return 0
