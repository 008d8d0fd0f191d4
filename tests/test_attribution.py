"""Attribution figures on a deterministic benchmark: alone on the base, left out of the
final tree, and the verdicts a reviewer reads in the report."""

from __future__ import annotations

import statistics

import pytest

from app.attribution import load_attribution, report_parts
from app.cli import main
from app.finalize import finalize, plan_groups
from tests.conftest import Project
from tests.finalize_fixtures import Change, make_session


def test_alone_and_left_out_figures_match_for_independent_changes(project: Project) -> None:
    # Base score 50 (a=50, b=0): A saves 40, B saves 10, N changes code but not the score.
    make_session(project, [Change("A: shrink a", {"nums/a.txt": "10\n"}),
                           Change("N: tidy lib", {"src/lib.py": "def f():\n    return 2\n"}),
                           Change("B: add c", {"nums/c.txt": "-10\n"})])

    result = finalize(plan_groups(), progress=lambda line: None)

    a, n, b = result.attribution.groups
    assert (a.experiments, n.experiments, b.experiments) == ([1], [2], [3])
    assert statistics.median(a.alone.reference_samples) == 50
    assert statistics.median(a.alone.candidate_samples) == 10
    assert statistics.median(b.alone.candidate_samples) == 40
    assert a.alone_gain == 0.8 and b.alone_gain == 0.2 and n.alone_gain == 0.0
    # Left out of the final tree (score 0): without A it is 40, without B 10.
    assert a.left_out is not None and b.left_out is not None
    assert statistics.median(a.left_out.reference_samples) == 40
    assert statistics.median(a.left_out.candidate_samples) == 0
    assert a.left_out_loss == a.alone_gain and b.left_out_loss == b.alone_gain
    assert n.left_out_loss == 0.0
    assert a.alone.credible and a.left_out.credible and b.alone.credible
    assert not n.alone.credible
    assert a.verdict == "carries part of the result"
    assert n.verdict == "noise: no credible effect alone or left out"
    # Stored beside the log, read back the same.
    stored = load_attribution(result.attribution_path.parent)
    assert stored is not None and [g.alone_gain for g in stored.groups] == [0.8, 0.0, 0.2]
    assert stored.groups[0].left_out is not None
    # And in the report: a section, and columns in the kept-changes table.
    report = result.report.read_text() if result.report else ""
    assert "| 1 | #1 | +80.0% | -80.0% | carries part of the result |" in report
    assert "| 2 | #2 | +0.0% (noise) | +0.0% (noise) | noise" in report
    assert "| group | alone on base | left out |" in report


def test_a_change_the_others_need_only_works_together(project: Project) -> None:
    # x_on and y_on together fail the checks unless z_fix is there: each alone passes, but
    # the final tree without z_fix does not.
    make_session(project, [Change("z: the fix", {"z_fix": "1\n"}),
                           Change("x: on", {"x_on": "1\n", "nums/a.txt": "30\n"}),
                           Change("y: on", {"y_on": "1\n", "nums/c.txt": "-5\n"})])

    result = finalize(plan_groups(), progress=lambda line: None)

    z, x, y = result.attribution.groups
    assert z.left_out is None
    assert z.left_out_note == "only works together: the other changes fail the checks " \
        "without it"
    assert z.verdict == "only works together with the others"
    assert x.verdict == "carries part of the result" and x.alone_gain == 0.4
    sections, columns = report_parts(result.attribution)
    assert "| 1 | #1 | +0.0% (noise) | only together | only works together" in sections[0][1]
    assert columns["left out"][1] == "only together"
    assert columns["alone on base"][2] == "+40.0%"


def test_the_report_command_shows_the_stored_attribution(project: Project,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    make_session(project, [Change("A: shrink a", {"nums/a.txt": "10\n"})])
    finalize(plan_groups(), progress=lambda line: None)
    state = project.root / ".git" / "autoresearch" / "sessions" / "s1"
    (state / "report.md").unlink()

    assert main(["report"]) == 0

    report = (state / "report.md").read_text()
    assert "## Attribution" in report
    assert "| 1 | #1 | +80.0% | -80.0% | carries the result |" in report
    assert capsys.readouterr().out.startswith("wrote ")
