"""Every status of `app/engine/records.py` is listed wherever statuses are listed: the help
screen, the README, the report's sections, the chart's legend and the colours of the
table. A status added to the enum and forgotten in one of them fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.engine.records import Experiment, Status

ROOT = Path(__file__).resolve().parent.parent


def test_the_help_screen_explains_every_status() -> None:
    from app.screens.help import STATUSES

    listed = [name for name, _ in STATUSES]
    assert sorted(listed) == sorted(str(s) for s in Status)
    assert len(listed) == len(set(listed))


def test_the_readme_lists_every_status() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Statuses", 1)[1].split("\n#", 1)[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert sorted(listed) == sorted(str(s) for s in Status)


def test_the_report_has_a_section_for_every_status_that_is_not_kept() -> None:
    from app.report import DEAD_END_ORDER, DEAD_END_TITLES

    assert set(DEAD_END_ORDER) == set(DEAD_END_TITLES) == set(Status) - {
        Status.BASELINE, Status.KEEP}


def test_every_status_has_a_look_in_the_table_and_status_line() -> None:
    from widgets.status_style import STATUS_LOOK

    assert set(Status) <= set(STATUS_LOOK)


@pytest.mark.parametrize("status", list(Status))
def test_the_chart_legend_names_every_status_it_draws(status: Status) -> None:
    from app.chart_svg import _legend_items

    experiments = [Experiment(n=0, status=Status.BASELINE, metric=10.0),
                   Experiment(n=1, status=status, metric=9.0 if status.measured else None)]
    labels = " / ".join(label for _, _, label in _legend_items(experiments))
    words = {"keep": "kept", "discard": "discarded"}.get(str(status),
                                                          str(status).replace("_", " "))
    assert words in labels, (status, labels)
