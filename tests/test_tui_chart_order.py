"""The metric chart's champion line with parallel workers: the same live and after a
relaunch.

Two workers: #3 is kept (650) before #2 (600, kept later, measured again on #3's champion),
as the engine decides them. Live, the App gets the decisions in that order; a relaunch reads
the log, which the engine wrote in the same order, by experiment number. The chart drew
keeps in the order it got them: live its line ran back from #3 to #2; relaunched it stepped
up to 650 at #3, a champion that never was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from app.engine.events import Event, SessionStarted
from app.engine.history import LogWriter, read_log
from app.engine.records import Experiment, Status
from tests.test_tui_snapshots import replay_app
from tests.tui_replay import count_messages, decided_events, experiment, session_started, settle
from widgets.metric_chart import MetricChart, champion_steps

pytestmark = pytest.mark.anyio
SIZE = (120, 40)


def decided_in_parallel() -> list[Experiment]:
    """In the order two workers decide them."""
    return [
        experiment(0, Status.BASELINE, 812.0, None),
        experiment(1, Status.KEEP, 700.0, 812.0, worker=1),
        experiment(3, Status.KEEP, 650.0, 700.0, worker=1),
        experiment(2, Status.KEEP, 600.0, 650.0, worker=2),
        experiment(4, Status.DISCARD, 640.0, 600.0, worker=1),
    ]


def started(experiments: tuple[Experiment, ...] = ()) -> SessionStarted:
    return SessionStarted(**{**session_started().__dict__, "workers": 2,
                             "experiments": experiments})


async def chart_of(events: list[Event]) -> tuple[list[int], tuple[list[float], list[float]],
                                                 str]:
    """The App on `events`: the chart's experiments (by number), its champion line, and
    what the plot paints."""
    app, _ = replay_app(events)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, count_messages(events), pilot)
        chart = app.screen.query_one(MetricChart)
        await pilot.pause(0.1)
        assert chart._plot is not None and chart._plot.display
        painted: Any = chart._plot.render()
        return ([e.n for e in chart.experiments],
                champion_steps(chart.experiments, chart.direction), str(painted))


@pytest.mark.slow  # two Apps, about 3 s
async def test_the_champion_line_is_the_same_live_and_after_a_relaunch(tmp_path: Path) -> None:
    decided = decided_in_parallel()
    live = await chart_of([started(), *decided_events(decided, toasts=False)])

    log = tmp_path / "log.jsonl"
    writer = LogWriter(log)
    for e in decided:  # the engine appends each decision as it is made
        writer.append_experiment(e)
    writer.close()
    relaunched = await chart_of([started(tuple(read_log(log).experiments))])

    assert live == relaunched
    numbers, (xs, ys), _ = live
    assert numbers == [0, 1, 2, 3, 4]
    assert xs == sorted(xs), "the line runs back along x"
    assert list(zip(xs, ys)) == [(0, 812.0), (1, 812.0), (1, 700.0), (2, 700.0), (2, 600.0),
                                 (4, 600.0)]


async def test_a_redecided_experiment_replaces_its_point_wherever_it_is() -> None:
    """A decision that comes again for an experiment already shown (a record updated
    after a later one was decided) replaces it: it was added a second time unless it was
    the last one."""
    decided = decided_in_parallel()
    again = dataclasses.replace(decided[2], veto_reason="noted later")
    numbers, _, _ = await chart_of([started(), *decided_events(decided, toasts=False),
                                    *decided_events([again], toasts=False)[-1:]])
    assert numbers == [0, 1, 2, 3, 4]
