"""Steering: notes to the agent from another shell (`instruct`) and the inbox they travel
through (app/engine/steering.py), checked in the prompt files of a real command agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.engine.controller import LoopController
from app.engine.history import read_log
from app.engine.steering import Note, post
from tests.conftest import Project


def open_engine(cwd: Path, **options: Any) -> Any:
    """The session on `cwd`, opened as the CLI opens it."""
    from app.engine.launch import LaunchOptions
    from app.engine.session import open_session

    return open_session(LaunchOptions(cwd=cwd, **options))


NOTES = "## Notes from the user"


def use_command_agent(project: Project, tmp_path: Path) -> None:
    """A script agent that sets nums/b.txt to the experiment number (a new change each
    time, so none is a duplicate)."""
    project.use_script_agent(
        tmp_path / "agent.sh",
        'echo "$AUTORESEARCH_EXPERIMENT" > nums/b.txt\n'
        'echo "DESCRIPTION: b is $AUTORESEARCH_EXPERIMENT"\n')


def instruct(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "instruct", *args], cwd=root,
                          capture_output=True, text=True, timeout=60)


def prompt(engine: Any, n: int) -> str:
    return (engine.state_dir / "runs" / str(n) / "agent-prompt.md").read_text()


def test_instruct_reaches_the_next_prompt_and_a_standing_note_every_later_one(
        project: Project, tmp_path: Path) -> None:
    use_command_agent(project, tmp_path)
    said: list[str] = []

    def sink(event: Any) -> None:
        if type(event).__name__ != "ExperimentDecided":
            return
        n = event.experiment.n
        if n == 1:  # from another shell, while the session runs
            for args in (["try the parser, not the I/O"], ["--standing", "keep it simple"]):
                done = instruct(project.root, *args)
                assert done.returncode == 0, done.stderr
                said.append(done.stdout)
        if n == 3:
            done = instruct(project.root, "--clear")
            assert done.returncode == 0, done.stderr
            said.append(done.stdout)

    engine = open_engine(cwd=project.root, max_experiments=4)
    try:
        assert engine.run(sink, LoopController()) == 0
    finally:
        engine.close()
    assert NOTES not in prompt(engine, 1)
    second = prompt(engine, 2)
    assert "- for this experiment: try the parser, not the I/O" in second
    assert "- standing: keep it simple" in second
    third = prompt(engine, 3)
    assert "try the parser" not in third and "- standing: keep it simple" in third
    assert NOTES not in prompt(engine, 4)
    assert said[0].strip() == (f"session {engine.tag}: note for the next experiment: try the "
                               "parser, not the I/O")  # running: no "not running" remark
    # Every note is in the log, and each experiment records the notes it was given.
    contents = read_log(engine.state_dir / "log.jsonl")
    assert [(r["n"], r.get("text"), r.get("standing"), r.get("clear"))
            for r in contents.of_type("instruction")] == [
        (2, "try the parser, not the I/O", False, None), (2, "keep it simple", True, None),
        (4, None, None, True)]
    by_n = {e.n: e for e in contents.experiments}
    assert by_n[2].instructions == ["for this experiment: try the parser, not the I/O",
                                    "standing: keep it simple"]
    assert by_n[3].instructions == ["standing: keep it simple"]
    assert by_n[4].instructions == []
    assert not list((engine.state_dir / "inbox").glob("*.json"))


def test_a_standing_note_survives_a_relaunch(project: Project, tmp_path: Path) -> None:
    use_command_agent(project, tmp_path)
    done = instruct(project.root, "--standing", "no new dependencies")
    assert done.returncode == 2 and "no unfinished session" in done.stderr  # none yet
    engine = open_engine(cwd=project.root, max_experiments=1)
    post(engine.state_dir, Note(text="no new dependencies", standing=True))
    try:
        assert engine.run(lambda e: None, LoopController()) == 0
    finally:
        engine.close()
    done = instruct(project.root, "--tag", engine.tag, "measure twice")
    assert done.returncode == 0 and "not running" in done.stdout, done.stdout
    engine = open_engine(cwd=project.root, tag=engine.tag, max_experiments=2)
    try:
        assert engine.run(lambda e: None, LoopController()) == 0
    finally:
        engine.close()
    later = prompt(engine, 2)
    assert "- standing: no new dependencies" in later  # from the log, not the inbox
    assert "- for this experiment: measure twice" in later


def test_a_hostile_inbox_file_is_a_warning_not_a_crash(project: Project, tmp_path: Path
                                                        ) -> None:
    use_command_agent(project, tmp_path)
    events: list[Any] = []
    engine = open_engine(cwd=project.root, max_experiments=1)
    inbox = engine.state_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "0-bad.json").write_text("{not json")
    (inbox / "1-list.json").write_text("[1, 2]")
    (inbox / "2-markup.json").write_text('{"text": "[bold]hi[/bold]\\n- #9 keep"}')
    try:
        assert engine.run(events.append, LoopController()) == 0
    finally:
        engine.close()
    warnings = [e.message for e in events if type(e).__name__ == "WarningRaised"]
    assert sum("ignored" in w and "notes inbox" in w for w in warnings) == 2
    assert "- for this experiment: [bold]hi[/bold] - #9 keep" in prompt(engine, 1)
    assert not list(inbox.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    ([], "the note is empty"),
    (["--clear", "text"], "--clear takes no note"),
    (["x" * 2001], "keep it to one line of at most 2,000"),
    (["--tag", "nope", "hello"], "there is no session 'nope'"),
])
def test_instruct_bad_input_is_one_sentence_and_exit_2(project: Project, args: list[str],
                                                       message: str) -> None:
    done = instruct(project.root, *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_note_for_an_experiment_whose_agent_failed_carries_to_the_next_proposal(
        project: Project, tmp_path: Path) -> None:
    """A one-off note is for the next *proposal*: when the agent fails on that experiment
    (agent_error: no proposal came of it), the note is not used up; the next one gets it."""
    project.use_script_agent(
        tmp_path / "agent.sh",
        'if [ "$AUTORESEARCH_EXPERIMENT" = 2 ]; then\n'
        '  echo "the model is overloaded" >&2; exit 1\nfi\n'
        'echo "$AUTORESEARCH_EXPERIMENT" > nums/b.txt\n'
        'echo "DESCRIPTION: b is $AUTORESEARCH_EXPERIMENT"\n',
        "a command agent that fails on #2")

    def sink(event: Any) -> None:
        if type(event).__name__ == "ExperimentDecided" and event.experiment.n == 1:
            post(engine.state_dir, Note(text="try the parser, not the I/O"))

    engine = open_engine(cwd=project.root, max_experiments=3)
    try:
        assert engine.run(sink, LoopController()) == 0
    finally:
        engine.close()
    experiments = read_log(engine.state_dir / "log.jsonl").experiments
    assert [(e.n, str(e.status)) for e in experiments][2] == (2, "agent_error")
    assert "- for this experiment: try the parser, not the I/O" in prompt(engine, 3)
    assert experiments[3].instructions == ["for this experiment: try the parser, not the I/O"]


def test_a_note_taken_when_the_agent_has_nothing_left_waits_for_the_next_launch(
        project: Project) -> None:
    from app.engine.steering import take

    project.patch("01-keep.patch", {"nums/a.txt": "10\n"}, "shrink a")
    project.commit("one patch")

    def sink(event: Any) -> None:
        if type(event).__name__ == "ExperimentDecided" and event.experiment.n == 1:
            post(engine.state_dir, Note(text="try the parser, not the I/O"))

    engine = open_engine(cwd=project.root)
    try:
        assert engine.run(sink, LoopController()) == 0  # the scripted patches ran out
    finally:
        engine.close()
    notes, _ = take(engine.state_dir)
    assert [note.text for note in notes] == ["try the parser, not the I/O"]
