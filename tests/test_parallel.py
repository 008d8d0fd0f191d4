"""Parallel experiments (issue #14): the contract (config, launch options, controller,
events) and the behaviour of N workers on real repositories with the scripted agent."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.config import load_config
from app.engine.agents.base import AgentContext, Proposal
from app.engine.agents.scripted import ScriptedAgent
from app.engine.controller import LoopController
from app.engine.events import BudgetReached, ExperimentDecided, WorkerChanged, WorkerState
from app.engine.gitops import parse_result_trailer
from app.engine.history import read_log
from app.engine.launch import LaunchOptions
from app.engine.records import Status
from app.engine.session import open_session
from app.errors import UsageError
from tests.conftest import Project, run_session

ROOT = Path(__file__).resolve().parents[1]


# -- the contract: config and launch options ----------------------------------------------

@pytest.mark.parametrize(("table", "needle"), [
    ("workers = 0", "`parallel.workers` is 0"),
    ("workers = 1000", "`parallel.workers` is 1000"),
    ("measure_slots = 0", "`parallel.measure_slots` is 0"),
    ("cpus_per_slot = -1", "`parallel.cpus_per_slot` is -1"),
    ("cpus_per_slot = 100000", "`parallel.cpus_per_slot` is 100000"),
    ("gpus_per_slot = -2", "`parallel.gpus_per_slot` is -2"),
    ("gpus_per_slot = 9223372036854775807", "`parallel.gpus_per_slot` is 9223372036854775807"),
    ("workers = \"4\"", "`parallel.workers` must be a whole number"),
])
def test_bad_parallel_settings_are_one_sentence(project: Project, table: str,
                                                 needle: str) -> None:
    project.config(f"\n[parallel]\n{table}\n")
    with pytest.raises(UsageError) as caught:
        load_config(project.root / "autoresearch.toml")
    message = str(caught.value)
    assert needle in message and "\n" not in message, message


def test_parallel_defaults_are_the_sequential_loop(project: Project) -> None:
    parallel = load_config(project.root / "autoresearch.toml").parallel
    assert (parallel.workers, parallel.measure_slots, parallel.cpus_per_slot,
            parallel.gpus_per_slot) == (1, 1, 0, 0)


def test_workers_flag_is_checked_and_exits_2(project: Project) -> None:
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless", "--workers", "0"],
                          cwd=project.root, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert "--workers must be between 1 and 64" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_flag_overrides_the_config(project: Project) -> None:
    project.config("\n[parallel]\nworkers = 2\n")
    project.commit("two workers")
    session = open_session(LaunchOptions(cwd=project.root, workers=3))
    try:
        assert session.config.parallel.workers == 3
    finally:
        session.close()


# -- the contract: the controller ---------------------------------------------------------

def test_a_veto_reaches_only_its_worker() -> None:
    """Attack: a veto for worker 2 must not cancel worker 1's measurement nor be taken by
    worker 0; a veto without a worker goes to the one waiting for approval."""
    c = LoopController(review=True)
    w0, w1, w2 = c.for_worker(0), c.for_worker(1), c.for_worker(2)
    for w in (w0, w1, w2):
        w.begin_experiment()
    c.veto("too slow", worker=2)
    assert w2.cancel.is_set() and not w1.cancel.is_set() and not w0.cancel.is_set()
    assert w0.take_veto() is None and w1.take_veto() is None
    assert w2.take_veto() == "too slow" and not w2.cancel.is_set()

    answers: dict[int, str] = {}
    waiting = threading.Thread(target=lambda: answers.setdefault(1, w1.wait_for_approval()))
    waiting.start()
    while c.awaiting_approval != (1,):
        threading.Event().wait(0.01)
    c.veto("no")  # no worker named: the one waiting
    waiting.join(5)
    assert answers == {1: "vetoed"} and w1.take_veto() == "no"
    assert w0.take_veto() is None

    waiting = threading.Thread(target=lambda: answers.setdefault(2, w2.wait_for_approval()))
    waiting.start()
    while c.awaiting_approval != (2,):
        threading.Event().wait(0.01)
    c.approve(worker=0)  # not the waiting one: it keeps waiting
    waiting.join(0.3)
    assert waiting.is_alive()
    c.approve()
    waiting.join(5)
    assert answers[2] == "approved"


def test_an_approval_for_a_worker_not_waiting_is_not_kept_for_its_next_proposal() -> None:
    """Attack: `a` pressed for worker 2 while it is still proposing must not approve, in
    advance and unseen, the proposal it is about to show; approve says it found nothing."""
    c = LoopController(review=True)
    w2 = c.for_worker(2)
    w2.begin_experiment()
    assert c.approve(worker=2) is False
    answers: list[str] = []
    waiting = threading.Thread(target=lambda: answers.append(w2.wait_for_approval()))
    waiting.start()
    while c.awaiting_approval != (2,):
        threading.Event().wait(0.01)
    waiting.join(0.3)
    assert waiting.is_alive() and answers == []
    assert c.approve(worker=2) is True
    waiting.join(5)
    assert answers == ["approved"]


def test_parallel_time_is_wall_time_not_the_sum_over_workers() -> None:
    """Three workers' experiments that overlap in time: the summary's time and `max_hours`
    count the wall clock once, not once per worker (the night would end at a third)."""
    from app.engine.budgets import Budgets, Spent
    from app.engine.records import Experiment, busy_seconds, summarize

    t0 = 1_800_000_000.0
    records = [Experiment(0, Status.BASELINE, metric=10.0, timestamp=t0 - 600,
                          duration_s=600.0)]
    for w in (1, 2, 3):  # each worker: two experiments of 40 min, side by side
        records += [Experiment(2 * w - 1, Status.DISCARD, worker=w, timestamp=t0,
                               duration_s=2400.0),
                    Experiment(2 * w, Status.DISCARD, worker=w, timestamp=t0 + 2400,
                               duration_s=2400.0)]
    spent = Spent()
    for e in sorted(records, key=lambda e: e.n):
        spent.add(e)
    assert spent.duration_s == pytest.approx(600 + 4800)
    assert busy_seconds(records) == pytest.approx(600 + 4800)
    summary = summarize("t", records, metric_name="m", unit="ms", direction="lower")
    assert summary.duration_s == pytest.approx(5400)
    assert Budgets(max_hours=2.0).reached(spent) == ("", "")
    assert Budgets(max_hours=1.5).reached(spent)[1] == "max_hours"


def test_stop_cancels_every_worker_even_later_ones() -> None:
    c = LoopController()
    w1 = c.for_worker(1)
    c.stop()
    assert c.cancel.is_set() and w1.cancel.is_set() and c.cancel_of(5).is_set()
    w1.begin_experiment()
    assert w1.cancel.is_set() and w1.stopping


# -- the behaviour: N workers on a real repository ------------------------------------------

class BarrierAgent(ScriptedAgent):
    """The scripted agent whose first proposals wait until every worker has proposed:
    so all of them start from the baseline and the champion moves under the later ones
    (the timing is forced; the patches, the loop and git are real)."""

    def __init__(self, patches: Path, workers: int, claims: Any = None,
                 barrier: threading.Barrier | None = None) -> None:
        super().__init__(patches, claims)
        self.barrier = barrier or threading.Barrier(workers)
        self.workers = workers
        self.waited = False

    def for_worker(self, worker: int) -> BarrierAgent:
        return BarrierAgent(self.patches_dir, self.workers, self._claims, self.barrier)

    prompts: list[tuple[int, int, str]] = []
    """(worker, experiment, what the prompt said about the others), every agent's."""

    def propose(self, ctx: AgentContext) -> Proposal:
        self.prompts.append((ctx.worker, ctx.n, ctx.others))
        proposal = super().propose(ctx)
        if not self.waited:
            self.waited = True
            self.barrier.wait(30)
        return proposal


def three_workers(project: Project, extra: str = "") -> None:
    project.config("\n[parallel]\nworkers = 3\n" + extra)


def decided_events(events: list[Any]) -> list[ExperimentDecided]:
    return [e for e in events if isinstance(e, ExperimentDecided) and e.experiment.n]


def kept_chain(project: Project, branch: str) -> list[dict[str, Any]]:
    """The session branch from its tip down to the base: each commit's Result trailer."""
    out = []
    for line in project.git("log", "--first-parent", "--format=%H %P", branch).splitlines():
        commit, *parents = line.split()
        assert len(parents) <= 1, f"{commit} is a merge: the branch must stay linear"
        out.append(parse_result_trailer(project.git("log", "-1", "--format=%B", commit))
                   or {})
    return out


@pytest.mark.slow  # real sessions of several workers
def test_three_workers_rebase_stale_numbers_and_one_slot(project: Project) -> None:
    """Attack: three candidates proposed on the same champion; two of them change the same
    line. Whichever keeps first, the other of those two no longer applies (`stale`, not
    measured), the independent one is re-applied onto the new champion and measured
    against it; numbers stay gapless; with one slot no two measurements overlap; the
    branch stays linear and each keep names its worker."""
    project.patch("01-a10.patch", {"nums/a.txt": "10\n"}, "a to 10")
    project.patch("02-a20.patch", {"nums/a.txt": "20\n"}, "a to 20")
    project.patch("03-c.patch", {"nums/c.txt": "-5\n"}, "add c")
    three_workers(project)
    project.commit("patches")
    agent = BarrierAgent(project.root / "patches", 3)
    status, events, engine = run_session(project, agent=agent)
    assert status == 0
    records = read_log(engine.paths.log).experiments
    assert sorted(e.n for e in records) == [0, 1, 2, 3], records
    by_source = {e.source: e for e in records if e.source}
    assert sorted(by_source) == ["01-a10.patch", "02-a20.patch", "03-c.patch"]
    a10, a20, c = (by_source[s] for s in ("01-a10.patch", "02-a20.patch", "03-c.patch"))
    assert sorted([str(a10.status), str(a20.status)]) == ["keep", "stale"], records
    stale = a10 if a10.status is Status.STALE else a20
    assert "no longer applies" in stale.reason and "conflicts in nums/a.txt" in stale.reason
    other = a20 if stale is a10 else a10
    assert f"#{other.n} ({other.description})" in stale.reason
    assert stale.samples == [] and stale.candidate  # recorded with its diff, not measured
    assert engine.diff_of(stale.n).count("nums/a.txt") >= 1
    assert c.status is Status.KEEP, c
    assert {e.worker for e in records if e.n} <= {1, 2, 3}
    assert len({e.worker for e in records if e.n}) == 3  # each worker proposed once
    # one slot: measurement intervals never overlap
    spans = sorted((e.measured_from, e.measured_to) for e in records
                   if e.measured_from is not None)
    assert len(spans) == 3  # the stale one held the slot for its rebase only
    for (a_from, a_to), (b_from, _) in zip(spans, spans[1:], strict=False):
        assert a_from is not None and a_to is not None and b_from is not None
        assert a_from < a_to <= b_from, spans
    # the branch: linear, keeps in the order logged, each naming its worker
    chain = kept_chain(project, engine.branch)
    by_n = {e.n: e for e in records}
    keeps = [by_n[t["n"]] for t in reversed(chain) if "n" in t]  # in the order kept
    assert sorted(e.n for e in keeps) == sorted(e.n for e in records if e.status is Status.KEEP)
    assert [t.get("worker") for t in reversed(chain) if "n" in t] == [e.worker for e in keeps]
    # the later keep was re-applied onto the earlier keep and measured against it
    second = keeps[1]
    assert second.parent == keeps[0].commit and "re-applied onto" in second.reason
    assert second.champion_metric is not None and second.champion_metric < 50
    # worktrees of the workers are gone
    assert not (project.root / ".autoresearch" / "workers").exists()
    assert "/.autoresearch/workers/" not in project.git("worktree", "list")
    # every worker said what it did and stopped
    changes = [e for e in events if isinstance(e, WorkerChanged)]
    assert {e.worker for e in changes} == {1, 2, 3}
    for e in decided_events(events):  # right after its record, its worker is idle again
        after = [c for c in changes if c.worker == e.worker and
                 events.index(c) > events.index(e)]
        assert after and after[0].state is WorkerState.IDLE, (e.experiment.n, after[:1])
    assert {e.state for e in changes} >= {WorkerState.PROPOSING, WorkerState.MEASURING,
                                          WorkerState.IDLE, WorkerState.STOPPED}
    decided = [e for e in events if isinstance(e, ExperimentDecided) and e.experiment.n]
    assert all(e.worker == e.experiment.worker != 0 for e in decided)


@pytest.mark.slow  # real sessions of several workers
def test_headless_lines_name_their_worker(project: Project) -> None:
    """`run --headless --workers 2`: each experiment line says which worker proposed it,
    the summary gives per-worker figures, and every patch is taken exactly once."""
    project.patch("01-a.patch", {"nums/a.txt": "10\n"}, "a to 10")
    project.patch("02-b.patch", {"nums/b.txt": "-3\n"}, "b to -3")
    project.patch("03-c.patch", {"nums/c.txt": "-1\n"}, "add c")
    project.config()
    project.commit("patches")
    done = subprocess.run([sys.executable, "-m", "app", "run", "--headless", "--workers", "2"],
                          cwd=project.root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "2 workers propose at once" in lines
    numbered = [line for line in lines if line.startswith("[w")]
    assert len(numbered) == 3, done.stdout
    assert all(line.split()[0] in ("[w1]", "[w2]") for line in numbered)
    assert sorted(line.split()[1] for line in numbered) == ["#1", "#2", "#3"]
    assert any(line.startswith("#0 baseline") for line in lines)  # the session's, no worker
    assert any(line.strip().startswith("worker 1:") for line in lines) or \
        any(line.strip().startswith("worker 2:") for line in lines)
    for name in ("a to 10", "b to -3", "add c"):
        assert sum(name in line for line in numbered) == 1
    # the report has per-worker figures
    out = project.root.parent / "report.md"
    report = subprocess.run([sys.executable, "-m", "app", "report", "--out", str(out)],
                            cwd=project.root, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert report.returncode == 0, report.stderr
    text = out.read_text()
    assert "## Workers" in text
    section = text.split("## Workers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert sum(int(row.split("|")[2]) for row in rows) == 3, rows


AGENT_SH = """\
sleep 0.5
mkdir -p out
{ echo "arg=$1 env=$AUTORESEARCH_WORKER"; sed -n '/Other workers/,$p' "$2"; } \\
  > "out/w$1-$AUTORESEARCH_EXPERIMENT.txt"
echo "DESCRIPTION: note from worker $1"
"""


@pytest.mark.slow  # real sessions of several workers
def test_command_agent_knows_its_worker_and_what_the_others_try(project: Project) -> None:
    """The command agent gets `{worker}` and AUTORESEARCH_WORKER (they agree with the
    record's worker), and its prompt lists the other workers' experiments in flight."""
    project.write("agent.sh", AGENT_SH)
    project.config('\n[parallel]\nworkers = 2\n[session]\nmax_experiments = 4\n',
                   repeats=1, max_repeats=1, calibration_runs=2)
    text = (project.root / "autoresearch.toml").read_text().replace(
        '[agent]\nkind = "scripted"',
        '[agent]\nkind = "command"\n\n[agent.command]\n'
        'command = "sh agent.sh {worker} {prompt_file}"')
    (project.root / "autoresearch.toml").write_text(text)
    project.commit("command agent")
    status, _, engine = run_session(project)
    assert status == 0
    done = [e for e in engine.experiments if e.n > 0]
    assert sorted(e.n for e in done) == [1, 2, 3, 4]
    listed_others = 0
    for e in done:
        assert e.candidate, e
        note = project.git("show", f"{e.candidate}:out/w{e.worker}-{e.n}.txt")
        assert note.startswith(f"arg={e.worker} env={e.worker}\n"), note
        assert e.description == f"note from worker {e.worker}"
        others = [line for line in note.splitlines() if line.startswith("- #")]
        assert all(f"(worker {e.worker})" not in line for line in others), note
        listed_others += bool(others)
    assert listed_others >= 1


PINNED_BENCH = """\
import os
print(f"METRIC score={len(os.sched_getaffinity(0))}")
print(f"METRIC gpu={os.environ.get('CUDA_VISIBLE_DEVICES', '-1').split(',')[-1]}")
"""


@pytest.mark.slow  # a real session
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs Linux and two cores")
def test_slots_pin_their_commands_to_cores_and_gpus(project: Project) -> None:
    """`cpus_per_slot = 1`: the benchmark (and what it starts) sees one core, not all;
    `gpus_per_slot = 2`: it sees CUDA devices 0,1."""
    project.write("bench.py", PINNED_BENCH)
    project.config("\n[parallel]\ncpus_per_slot = 1\ngpus_per_slot = 2\n"
                   "[session]\nmax_experiments = 1\n", calibration_runs=1, repeats=1,
                   max_repeats=1)
    project.commit("a benchmark that reports its cores")
    status, _, engine = run_session(project)
    assert status == 0
    baseline = engine.experiments[0]
    assert baseline.metric == 1.0, baseline.samples
    assert baseline.metrics["gpu"] == 1.0


@pytest.mark.slow  # real sessions of several workers
def test_budget_counts_every_worker_and_those_in_flight(project: Project) -> None:
    """Attack: three workers, `max_experiments = 2`, five patches. Three workers starting
    at once must not run three experiments: the budget counts those in flight."""
    for i in range(5):
        project.patch(f"0{i}-x.patch", {f"nums/x{i}.txt": "-1\n"}, f"shave {i}")
    three_workers(project, "[session]\nmax_experiments = 2\n")
    project.commit("patches")
    status, events, engine = run_session(project)
    assert status == 0
    assert [e.n for e in engine.experiments] == [0, 1, 2] or \
        sorted(e.n for e in engine.experiments) == [0, 1, 2]
    assert [e.reason for e in events if isinstance(e, BudgetReached)] == [
        "reached max_experiments (2)"]
    started = read_log(engine.paths.log).of_type("experiment_started")
    assert sorted(r["n"] for r in started) == [1, 2]


@pytest.mark.slow  # real sessions of several workers
def test_a_veto_in_review_mode_reaches_only_that_worker(project: Project) -> None:
    """Review mode with two workers: vetoing worker 2's proposal vetoes exactly that one;
    worker 1's is approved and measured."""
    project.patch("01-a.patch", {"nums/a.txt": "10\n"}, "a to 10")
    project.patch("02-b.patch", {"nums/x.txt": "-1\n"}, "add x")
    project.config("\n[parallel]\nworkers = 2\n")
    project.commit("patches")
    controller = LoopController(review=True)
    events: list[Any] = []
    acted: set[int] = set()

    def sink(event: Any) -> None:
        events.append(event)
        if isinstance(event, WorkerChanged) and event.state is WorkerState.REVIEW \
                and event.worker not in acted:
            acted.add(event.worker)
            if event.worker == 2:
                threading.Thread(target=controller.veto, args=("not this one", 2)).start()
            else:
                threading.Thread(target=controller.approve, args=(1,)).start()

    engine = open_session(LaunchOptions(cwd=project.root))
    try:
        assert engine.run(sink, controller) == 0
    finally:
        engine.close()
    by_worker = {e.worker: e for e in engine.experiments if e.n}
    assert by_worker[2].status is Status.VETOED and "not this one" in by_worker[2].reason
    assert by_worker[1].status is Status.KEEP, by_worker[1]


@pytest.mark.slow  # a real session of two workers
def test_two_slots_measure_at_once_and_a_late_keep_is_measured_again(project: Project) -> None:
    """Attack: with two slots, two candidates proposed on the same champion are measured
    side by side; the first keeps. The second must not keep on a comparison with the old
    champion: it is re-applied onto the new one and measured again before its keep."""
    project.patch("01-a.patch", {"nums/a.txt": "10\n"}, "a to 10")
    project.patch("02-x.patch", {"nums/x.txt": "-5\n"}, "add x")
    project.config("\n[parallel]\nworkers = 2\nmeasure_slots = 2\n")
    project.commit("patches")
    status, _, engine = run_session(project, agent=BarrierAgent(project.root / "patches", 2))
    assert status == 0
    done = {e.n: e for e in read_log(engine.paths.log).experiments if e.n}
    assert sorted(str(e.status) for e in done.values()) == ["keep", "keep"], done
    assert {e.slot for e in done.values()} == {0, 1}
    chain = [t for t in kept_chain(project, engine.branch) if "n" in t]
    first, second = done[chain[-1]["n"]], done[chain[0]["n"]]
    assert second.parent == first.commit and "re-applied onto" in second.reason
    assert second.champion_metric == first.metric  # measured against the new champion
    assert not (project.root / ".autoresearch" / "workers").exists()


@pytest.mark.slow  # a real session of two workers
def test_a_stale_workers_agent_is_told_in_its_next_prompt(project: Project) -> None:
    """The worker whose candidate went stale hears it in its next prompt, with the reason."""
    project.patch("01-a10.patch", {"nums/a.txt": "10\n"}, "a to 10")
    project.patch("02-a20.patch", {"nums/a.txt": "20\n"}, "a to 20")
    project.patch("03-x.patch", {"nums/x.txt": "-1\n"}, "add x")
    project.patch("04-y.patch", {"nums/y.txt": "-1\n"}, "add y")
    project.config("\n[parallel]\nworkers = 2\n")
    project.commit("patches")
    BarrierAgent.prompts = []
    status, _, engine = run_session(project, agent=BarrierAgent(project.root / "patches", 2))
    assert status == 0
    stale = [e for e in engine.experiments if e.status is Status.STALE]
    assert len(stale) == 1, engine.experiments
    later = [(n, text) for w, n, text in BarrierAgent.prompts
             if w == stale[0].worker and n > stale[0].n]
    assert later, BarrierAgent.prompts  # the keeper took 03 first; it proposed 04
    text = later[0][1]
    assert f"Your last proposal (#{stale[0].n}" in text and "went stale" in text
    assert "conflicts in nums/a.txt" in text
    told = [t for _, _, t in BarrierAgent.prompts if "went stale" in t]
    assert len(told) == 1  # once, and only to that worker
