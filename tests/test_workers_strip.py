"""The workers strip (issue #14) on its own: one line per worker, hidden with one worker,
the selected one highlighted, descriptions shown literally, elapsed time ticking."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from widgets.workers_strip import WorkerLine, WorkersStrip, worker_label

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Host(App[None]):
    def __init__(self, strip: WorkersStrip) -> None:
        super().__init__()
        self.strip = strip
        self.selected: list[int] = []

    def compose(self) -> ComposeResult:
        yield self.strip

    def on_workers_strip_selected(self, message: WorkersStrip.Selected) -> None:
        self.selected.append(message.worker)


def three(now: float = 100.0) -> list[WorkerLine]:
    return [WorkerLine(1, "measuring", 7, "Count words with Counter", now - 42),
            WorkerLine(2, "proposing", 8, "", now - 5),
            WorkerLine(3, "review", 6, "Precompile the regex", now - 61)]


def plain(strip: WorkersStrip) -> list[str]:
    return [line.rstrip() for line in strip.render().plain.split("\n")]


async def test_one_worker_hides_the_strip_three_show_one_line_each() -> None:
    strip = WorkersStrip(clock=Clock())
    async with Host(strip).run_test(size=(100, 10)) as pilot:
        strip.set_workers([WorkerLine(1, "proposing", 1, "x", 90.0)])
        await pilot.pause()
        assert not strip.display and strip.region.height == 0
        strip.set_workers(three())
        await pilot.pause()
        assert strip.display and strip.region.height == 3
        lines = plain(strip)
        assert lines[0].startswith("▸ w1  measuring") and "#7" in lines[0]
        assert "0:42" in lines[0] and lines[0].endswith("Count words with Counter")
        assert lines[1].startswith("  w2  proposing") and "#8" in lines[1]
        assert "0:05" in lines[1]
        assert lines[2].startswith("  w3  review") and "1:01" in lines[2]
        strip.set_workers([WorkerLine(1, "idle")])
        await pilot.pause()
        assert not strip.display


async def test_descriptions_are_text_never_markup_nor_terminal_codes() -> None:
    strip = WorkersStrip(clock=Clock())
    hostile = "[/tmp] [bold]x[/bold] \x1b[2J list[str]\nsecond line"
    async with Host(strip).run_test(size=(120, 10)) as pilot:
        strip.set_workers([WorkerLine(1, "measuring", 3, hostile, 90.0),
                           WorkerLine(2, "idle")])
        await pilot.pause()
        first = plain(strip)[0]
        assert first.endswith("[/tmp] [bold]x[/bold] ␛[2J list[str]")
        assert "second line" not in first and "\x1b" not in first


async def test_the_selected_worker_is_marked_and_highlighted() -> None:
    strip = WorkersStrip(clock=Clock())
    async with Host(strip).run_test(size=(100, 10)) as pilot:
        strip.set_workers(three(), selected=3)
        await pilot.pause()
        lines = plain(strip)
        assert [line[:4] for line in lines] == ["  w1", "  w2", "▸ w3"]
        rendered = strip.render()
        row3 = rendered.split("\n")[2]
        row1 = rendered.split("\n")[0]
        # The highlight covers the whole row, not only its text.
        assert row3.cell_len == strip.content_size.width
        assert any(span.style for span in row3.spans if span.end >= row3.cell_len)
        assert row1.cell_len < strip.content_size.width


async def test_elapsed_time_ticks_and_quiet_states_show_none() -> None:
    clock = Clock()
    strip = WorkersStrip(clock=clock)
    async with Host(strip).run_test(size=(100, 10)) as pilot:
        strip.set_workers([WorkerLine(1, "measuring", 1, "a", 100.0),
                           WorkerLine(2, "idle", None, "", 50.0),
                           WorkerLine(3, "stopped", None, "", 50.0)])
        await pilot.pause()
        assert "0:00" in plain(strip)[0]
        clock.now = 100.0 + 75
        assert "1:15" in plain(strip)[0]
        assert ":" not in plain(strip)[1] and ":" not in plain(strip)[2]


async def test_clicking_a_line_selects_that_worker() -> None:
    strip = WorkersStrip(clock=Clock())
    host = Host(strip)
    async with host.run_test(size=(100, 10)) as pilot:
        strip.set_workers(three())
        await pilot.pause()
        await pilot.click(WorkersStrip, offset=(10, 1))
        await pilot.pause()
        assert host.selected == [2] and strip.selected == 2


def test_labels_are_the_workers_numbers_like_the_keys_that_select_them() -> None:
    assert [worker_label(w) for w in (1, 2, 3)] == ["w1", "w2", "w3"]
