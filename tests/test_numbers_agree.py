"""One fixed session log through every view: the numbers must agree (issue 19 item 5).

One definition each: a signed percentage is the metric's own change, (new - old) / |old|
(so a lower-is-better metric that drops shows a minus sign, in green); the baseline is a
measurement of the starting point, not an experiment; a Δ is green only for a change that
was kept. The log is test_report's `own_session` (baseline 200 ms, best 150 ms, six
experiments, among them a `checks_failed` that measured faster than its champion).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.engine.history import read_log
from app.engine.records import Status, summarize
from tests.conftest import Project
from tests.test_report import own_session

pytestmark = pytest.mark.anyio

SESSION_CHANGE = "-25.0%"  # 200 -> 150 ms
KEEP_6_CHANGE = "-11.8%"  # 170 -> 150 ms against its champion
EXPERIMENTS = 6


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def test_every_view_tells_the_same_numbers(repo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from app.headless import format_experiment, format_summary
    from app.screens.modals import summary_text

    state = own_session(repo)
    experiments = read_log(state / "log.jsonl").experiments
    summary = summarize("nov27", experiments, metric_name="wall_ms", unit="ms",
                        direction="lower")
    views = {
        "headless summary": "\n".join(format_summary(summary)),
        "summary screen": summary_text(summary, "nov27").plain,
        "sessions": cli(["sessions"], capsys),
        "history": cli(["history"], capsys),
        "report": (cli(["report"], capsys), (state / "report.md").read_text())[1],
    }
    for name, text in views.items():
        assert SESSION_CHANGE in text, f"{name} does not show the session's change"
        assert "+25.0%" not in text, f"{name} shows the session's change with the other sign"
    six = next(e for e in experiments if e.n == 6)
    assert f"({KEEP_6_CHANGE} vs champion)" in format_experiment(six, "ms")
    assert "+11.8%" not in views["report"] and KEEP_6_CHANGE in views["report"]
    assert "+11.8%" not in views["history"] and KEEP_6_CHANGE in views["history"]
    # Counts: six experiments after the baseline, wherever they are counted.
    assert f"{EXPERIMENTS} experiments" in views["headless summary"]
    assert "baseline" not in views["headless summary"].split("experiments")[1]
    assert f"Experiments: {EXPERIMENTS} " in views["summary screen"]
    assert f"{EXPERIMENTS} experiments" in views["history"]
    assert f"| Experiments | {EXPERIMENTS} after the baseline" in views["report"]
    row = next(line for line in views["sessions"].splitlines() if line.startswith("nov27"))
    assert row.split()[2] == str(EXPERIMENTS)


async def test_the_tui_tells_the_same_numbers(repo: Path) -> None:
    from app.engine.events import SessionStarted
    from app.tui.launch import make_app
    from app.tui.state import AppOptions
    from tests.tui_replay import ReplaySource, fixed_clock
    from widgets.experiment_table import ExperimentTable
    from widgets.status_line import StatusLine

    state = own_session(repo)
    experiments = read_log(state / "log.jsonl").experiments
    source = ReplaySource([SessionStarted("nov27", "autoresearch/nov27", str(repo), True,
                                          "wall_ms", "ms", "lower", tuple(experiments))])
    app = make_app(AppOptions(open_source=lambda: source, clock=fixed_clock))
    async with app.run_test(size=(160, 40)) as pilot:
        while app.events_seen < 1:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        status = app.main.query_one(StatusLine)
        line = status.render().plain
        assert SESSION_CHANGE in line and "+25.0%" not in line
        counted = sum(int(word) for word, status_word in zip(line.split(), line.split()[1:])
                      if word.isdigit() and status_word.strip("·│") in {str(s) for s in Status})
        assert counted == EXPERIMENTS, line
        table = app.main.query_one(ExperimentTable)
        cells = {int(str(table.get_row(key)[0])): table.get_row(key) for key in table.rows}
        assert str(cells[6][3]) == KEEP_6_CHANGE
        better = table._style("better")
        assert cells[6][3].style == better, "a kept improvement is green"
        checks_failed = cells[4][3]
        assert str(checks_failed) == "-11.8%"
        assert checks_failed.style != better, "a checks_failed row's Δ is green"
        app.controller.stop("test over")


@pytest.mark.slow  # a whole session, then finalize's verification
def test_finalize_tells_the_same_numbers_and_commits(
        project: Project, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A real session (baseline 50, keep 40, discard, keep 35): finalize's lines carry the
    same signed changes as the history and the report, and name the kept commit that the
    history's notes label as such (beside the candidate commit)."""
    from app.engine.records import format_change, relative_change
    from app.screens.history import notes_text
    from tests.conftest import run_session

    project.patch("01-lower-a.patch", {"nums/a.txt": "40\n"}, subject="Lower a to 40")
    project.patch("02-raise-b.patch", {"nums/b.txt": "30\n"}, subject="Raise b to 30")
    project.patch("03-add-c.patch", {"nums/c.txt": "-5\n"}, subject="Add c, a negative")
    project.commit("patches")
    status, _, engine = run_session(project, tag="s1")
    assert status == 0
    experiments = read_log(Path(engine.state_dir) / "log.jsonl").experiments
    keeps = [e for e in experiments if e.status is Status.KEEP]
    assert [e.n for e in keeps] == [1, 3]
    monkeypatch.chdir(project.root)
    views = {"finalize": cli(["finalize", "--dry-run", "--tag", "s1"], capsys),
             "history": cli(["history", "--tag", "s1"], capsys),
             "report": (cli(["report", "--tag", "s1"], capsys),
                        (Path(engine.state_dir) / "report.md").read_text())[1]}
    for e in keeps:
        assert e.champion_metric is not None and e.metric is not None and e.commit
        change = format_change(relative_change(e.champion_metric, e.metric))
        for name, text in views.items():
            assert change in text, f"{name} does not show #{e.n}'s change {change}"
        assert f"#{e.n} {e.commit[:7]}" in views["finalize"], "finalize names the kept commit"
        notes = notes_text(e, "s1").plain
        assert f"kept as commit: {e.commit}" in notes or (
            e.candidate == e.commit and f"candidate commit: {e.commit}" in notes)
        if e.candidate and e.candidate != e.commit:
            assert f"candidate commit: {e.candidate}" in notes, "both ids, labelled"
    assert "2 kept experiments" in views["finalize"]


def test_the_delta_shown_is_the_one_the_reason_gives_when_runs_are_paired(
        project: Project, tmp_path: Path) -> None:
    """Attack: a machine that slows down through the session. With `interleave` on, the
    rule compares a candidate with the champion runs paired with it, not with the
    champion's older (faster) samples; the record's Δ was taken over all of them and
    disagreed with the reason's own "median X vs champion" (the demo's #4 showed
    "Δ champion -2.0%" beside "median +2.78% vs champion")."""
    import re

    from tests.conftest import run_session

    counter = tmp_path / "runs-so-far"
    project.write("bench.py", (
        "import os\n"
        f"path = {str(counter)!r}\n"
        "n = int(open(path).read()) if os.path.exists(path) else 0\n"
        "open(path, 'w').write(str(n + 1))\n"
        "total = sum(float(open(os.path.join('nums', f)).read()) for f in os.listdir('nums'))\n"
        "print(f'METRIC score={total + n}')  # each run 1 slower than the one before\n"))
    project.config('\n[session]\nsandbox = "none"\n')
    config = project.root / "autoresearch.toml"
    config.write_text(config.read_text().replace("[metric]\n", "[metric]\ninterleave = true\n"))
    project.commit("a slowing machine, paired runs")
    project.patch("01.patch", {"nums/a.txt": "49\n"}, "a little less")
    project.commit("the patch")
    status, _, engine = run_session(project)
    assert status == 0
    measured = [e for e in engine.experiments if e.n and e.samples]
    assert measured, engine.experiments
    for e in measured:
        said = re.search(r"median ([+-]\d+\.\d+)% vs champion,", e.reason)
        assert said, e.reason
        delta = e.delta()
        assert delta is not None and f"{delta:+.2%}" == said.group(1) + "%", (delta, e.reason)
        older = [v for v in e.champion_samples if v < min(e.samples) - 10]
        assert not older, f"samples the rule did not compare: {older}"
