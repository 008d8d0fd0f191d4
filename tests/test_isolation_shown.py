"""The sandbox in force is shown where the user looks (issue #11): the TUI's status line
(plain data from the session's `SessionStarted`), the headless start lines
(tests/test_clean_room.py::test_the_isolation_in_force_is_recorded_and_announced) and the
report."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.engine.history import LogWriter
from app.engine.records import Experiment, Status
from app.report import build_report
from app.tui.launch import make_app
from app.tui.state import AppOptions
from tests.tui_replay import ReplaySource, count_messages, fixed_clock, mid_run_events
from widgets.status_line import StatusLine


@pytest.mark.parametrize(("isolation", "width", "shown"), [
    ("bwrap, no network", 160, "│ bwrap, no network  │ autoresearch/nov27"),
    ("none (bubblewrap (bwrap) is not installed)", 160,
     "│ no sandbox (bubblewrap (bwrap) is not installed)  │ autoresearch/nov27"),
    # Narrow: the short form; the branch gives way whole rather than cut to "autoresea…".
    ("none (bubblewrap (bwrap) is not installed)", 80, "│ no sandbox"),
    ("bwrap, network on", 80, "│ bwrap"),
])
def test_the_status_line_names_the_sandbox_from_the_session_start(
        isolation: str, width: int, shown: str) -> None:
    events = mid_run_events(isolation=isolation)
    source = ReplaySource(events, block=True)
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))

    async def scenario() -> str:
        async with app.run_test(size=(width, 30)) as pilot:
            for _ in range(400):
                if app.events_seen >= count_messages(events):
                    break
                await asyncio.sleep(0.01)
            await pilot.pause()
            return app.main.query_one(StatusLine).render().plain.splitlines()[0]

    first = asyncio.run(scenario())
    assert shown in first, first
    assert "…" not in first, first


def test_no_sandbox_named_before_the_session_says_which() -> None:
    """Until `SessionStarted` arrives nothing is claimed."""
    source = ReplaySource([], block=True)
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))

    async def scenario() -> str:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            return app.main.query_one(StatusLine).render().plain

    text = asyncio.run(scenario())
    assert "bwrap" not in text and "sandbox" not in text, text


def _log(state: Path, isolations: list[str]) -> None:
    writer = LogWriter(state / "log.jsonl")
    for i, isolation in enumerate(isolations):
        start: dict[str, object] = {"type": "session_start", "tag": "t", "metric_name": "ms",
                                    "unit": "ms", "direction": "lower"}
        if isolation:
            start["isolation"] = isolation
        writer.append(start)
        writer.append_experiment(Experiment(i, Status.BASELINE if i == 0 else Status.DISCARD,
                                            metric=10.0, samples=[10.0, 10.0, 10.0],
                                            champion_metric=None if i == 0 else 10.0))
    writer.close()


@pytest.mark.parametrize(("isolations", "row"), [
    (["bwrap, no network"], "| Sandbox | bwrap, no network |"),
    (["bwrap, no network", "bwrap, no network", "none (bubblewrap (bwrap) is not installed)"],
     "| Sandbox | bwrap, no network (launches 1, 2); none (bubblewrap (bwrap) is not "
     "installed) (launch 3) |"),
])
def test_the_report_names_the_sandbox_of_every_launch(
        tmp_path: Path, isolations: list[str], row: str) -> None:
    from app.engine.history import read_log

    _log(tmp_path, isolations)
    contents = read_log(tmp_path / "log.jsonl")
    start = next(r for r in contents.records if r.get("type") == "session_start")
    out = build_report(tmp_path, contents.experiments, start, tmp_path / "report.md",
                       records=contents.records, png=False)
    assert row in out.read_text(), out.read_text()


def test_a_log_without_isolation_gets_no_sandbox_row(tmp_path: Path) -> None:
    """Logs of 0.1.0 and imported logs recorded none: the report claims nothing."""
    from app.engine.history import read_log

    _log(tmp_path, ["", ""])
    contents = read_log(tmp_path / "log.jsonl")
    out = build_report(tmp_path, contents.experiments, contents.records[0],
                       tmp_path / "report.md", records=contents.records, png=False)
    assert "Sandbox" not in out.read_text()
