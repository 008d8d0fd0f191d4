"""Every run an experiment makes keeps its stored output (`runs/<n>/*.log`): runs of
different phases that count from 1 again (the confirmation of a keep, the new champion's
top-up, the outside clock's fresh pairs) never write over each other's logs."""

from __future__ import annotations

from app.engine.events import SampleMeasured
from app.engine.records import Status
from tests.conftest import Project, run_session


def test_a_keeps_confirmation_and_top_up_runs_each_keep_their_log(project: Project) -> None:
    # More calibration runs than the candidate's: the new champion is topped up after
    # the confirmation, both counting champion runs on from the candidate's.
    project.config(calibration_runs=8)
    project.commit("calibrate on 8 runs")
    project.patch("0001.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.commit("patches")
    status, events, engine = run_session(project)
    assert status == 0
    assert [e.status for e in engine.experiments] == [Status.BASELINE, Status.KEEP]
    runs = [e for e in events if isinstance(e, SampleMeasured) and e.n == 1]
    champion_runs = [e for e in runs if e.role == "champion"]
    # The keep was confirmed on fresh champion runs, then the new champion topped up.
    assert len(champion_runs) >= 4, [(e.role, e.index) for e in runs]
    logs = sorted(p.name for p in (engine.paths.runs / "1").glob("*.log"))
    assert len([n for n in logs if n.startswith("champion-")]) == len(champion_runs), logs
    assert len([n for n in logs if n.startswith("bench-")]) == \
        len([e for e in runs if e.role == "candidate"]), logs
    assert all((engine.paths.runs / "1" / n).read_text().startswith("$ ") for n in logs)
