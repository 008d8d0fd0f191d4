"""The loop's measured commands sent through an executor (`[executor] kind = "ray"`).

The loop keeps its own rule: it plans the runs (calibration, champion and candidate
interleaved, sequential looks, checks, holdout), parses every output and decides. What the
bench is about to run (`plan`: a look's interleaved pairs, the baseline's runs, the
holdout's alternation, a top-up) goes to one node as one task, streamed back run by run,
so each sample still arrives as it is measured; a run that was not planned is a task of
its own. Every run of one experiment is pinned to the node of its first run (their samples
are only comparable on one machine); between experiments the last node is preferred, so
its cache already holds the commits. What comes back is the raw `CommandResult` (the
node's own wall and CPU time for the outside clock), the `{output}` file's text, and which
protected files the run changed or planted, which the loop judges as it judges a local run.
"""

from __future__ import annotations

import copy
import hashlib
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Config
from app.engine.events import Event, LoopState, StateChanged, WarningRaised
from app.engine.executors.base import InfraError, JobResult, MeasureJob, RunSpec
from app.engine.formats import OUTPUT
from app.engine.interrupts import Cancelled
from app.engine.process import CommandResult


def session_key(tag: str, common_dir: Path) -> str:
    """The session's identity on a node (its cache folder there)."""
    digest = hashlib.sha256(str(common_dir.resolve()).encode()).hexdigest()[:12]
    return f"{tag}-{digest}"


def audit_on_node(executor: Any, config: Config, *, key: str, common_dir: Path, commit: str,
                  tracked: list[str]) -> tuple[list[str], str]:
    """The data files the benchmark and the held-out benchmark read (app/engine/data_reads.py),
    found by one run of each under strace on a node, in its measurement tree of `commit`:
    on a cluster nothing runs here. (data files, a warning or '')."""
    from app.engine import data_reads

    commands = [c for c in (config.metric.command, config.holdout.command) if c]
    s = config.session
    specs = tuple(RunSpec("audit", commit, "strace -f -qq -e trace=open,openat -o {output} -- "
                          f"sh -c {shlex.quote(c.replace(OUTPUT, '/dev/null'))}",
                          config.metric.timeout_s, f"audit-{i + 1}")
                  for i, c in enumerate(commands))
    job = MeasureJob(key, specs, setup=s.setup, setup_inputs=tuple(s.setup_inputs),
                     sandbox=s.sandbox, network=s.network,
                     env=tuple(s.env), env_secrets=tuple(s.env_secrets))
    try:
        result = executor.measure(job, common_dir=common_dir)
    except InfraError as exc:
        return [], (f"the files the benchmark reads could not be traced on the node ({exc}): "
                    "list its data files in [guard] protected")
    found: set[str] = set()
    for run in result.runs:
        if not run.output_file:
            return sorted(found), ("the benchmark could not run under strace on the node "
                                   f"({run.result.failure() or 'no trace'}), so the files "
                                   "it reads are not detected: list its data files in "
                                   "[guard] protected")
        found |= set(data_reads.data_files(data_reads.opened_paths(run.output_file),
                                           Path(run.cwd), tracked))
    if result.status != "ok" or len(result.runs) < len(specs):
        return sorted(found), (f"the files the benchmark reads could not be traced on the "
                               f"node ({result.reason or result.status}): list its data "
                               "files in [guard] protected")
    return sorted(found), ""


BACKOFF_S = [2.0, 60.0]
"""The first wait for a cluster that cannot take measurements, and the longest."""


@dataclass
class NodeInfo:
    node: str
    host: str
    gpus: list[str] = field(default_factory=list)


@dataclass
class RemoteRun:
    result: CommandResult
    changed: list[str]
    """Protected paths the run changed, and paths it left behind (to be judged)."""
    left: list[str]
    node: NodeInfo


class RemoteBench:
    def __init__(self, executor: Any, config: Config, *, common_dir: Path, tag: str,
                 protected: tuple[str, ...]) -> None:
        self.executor = executor
        self.config = config
        self.common_dir = common_dir
        self.key = session_key(tag, common_dir)
        self.protected = protected
        self._pins: dict[int, str] = {}
        self.nodes: dict[int, NodeInfo] = {}
        """Experiment number -> the node that measured it."""
        self.runs = 0
        """Runs measured remotely (a test and the summary read it)."""
        self._plan: _Plan | None = None

    def for_slot(self) -> RemoteBench:
        """Another measurement slot's view: the same executor, pins and nodes, its own
        plan (slots measure different experiments at once)."""
        other = copy.copy(self)
        other._plan = None
        return other

    def watch_head(self, on_lost: Callable[[str], None]) -> None:
        """Call `on_lost` (with why) if the cluster's head node goes away (Ray executor)."""
        watch = getattr(self.executor, "watch_head", None)
        if watch is not None:
            watch(on_lost)

    def slots(self, workers: int) -> int:
        """Decisions measured at once with `workers` workers (`[executor] max_concurrent`,
        by default what the cluster can run at once)."""
        concurrent = getattr(self.executor, "concurrent_decisions", None)
        return concurrent(workers) if concurrent is not None else 1

    def wait_for_cluster(self, n: int, controller: Any, emit: Callable[[Event], None]) -> None:
        """Until some node can take a measurement again: one warning per retry naming the
        next wait (doubling from `BACKOFF_S[0]` to `BACKOFF_S[1]`), the loop's state
        paused meanwhile. A veto or stop ends the wait (Cancelled)."""
        why = self.executor.unavailable()
        if not why:
            return
        wait, attempt, since = BACKOFF_S[0], 0, time.monotonic()
        while why:
            attempt += 1
            emit(StateChanged(LoopState.PAUSED, f"waiting for the Ray cluster (retry {attempt} "
                              f"in {wait:g} s)", n))
            emit(WarningRaised(f"the Ray cluster cannot take measurements ({why}); waiting: "
                               f"retry {attempt} in {wait:g} s"))
            if controller.cancel.wait(wait):
                raise Cancelled()
            why = self.executor.unavailable()
            wait = min(wait * 2, BACKOFF_S[1])
        emit(WarningRaised(f"the Ray cluster is back after {time.monotonic() - since:.0f} s; "
                           f"measuring #{n}"))
        emit(StateChanged(LoopState.MEASURING, "the cluster is back", n))

    def pinned(self, n: int) -> str | None:
        """The node experiment `n` is measured on (None before its first run)."""
        return self._pins.get(n)

    def note_node(self, exp: Any) -> None:
        """Which machine measured `exp` (an Experiment), in its record."""
        node = self.nodes.get(exp.n)
        if node is not None:
            exp.executor, exp.node, exp.host = self.executor.kind, node.node, node.host
            exp.gpus = list(node.gpus)

    def unpin(self, n: int) -> None:
        """Measure experiment `n` elsewhere from now on (its node was lost)."""
        self._pins.pop(n, None)

    def plan(self, n: int, runs: list[tuple[str, str, str, float]], *,
             cancel: threading.Event | None) -> None:
        """The runs the bench is about to ask for, in order ((commit, name, command,
        timeout) each): they go to the node as one task, and `run` hands out their
        results as they come. A run asked for that is not the next planned one ends the
        plan (the rest of the task is cancelled) and is measured on its own."""
        self.end_plan()
        if not runs:
            return
        specs = tuple(RunSpec(name, commit, command, timeout, name)
                      for commit, name, command, timeout in runs)
        parts = self.executor.stream(self._job(specs), common_dir=self.common_dir,
                                     node=self._pins.get(n), cancel=cancel)
        self._plan = _Plan(n, deque(specs), parts)

    def end_plan(self) -> None:
        """Cancel what is left of the planned task (the bench no longer needs it)."""
        plan, self._plan = self._plan, None
        if plan is not None:
            plan.parts.close()

    def _job(self, specs: tuple[RunSpec, ...]) -> MeasureJob:
        s = self.config.session
        return MeasureJob(self.key, specs, setup=s.setup,
                          setup_inputs=tuple(s.setup_inputs), sandbox=s.sandbox,
                          network=s.network, env=tuple(s.env),
                          env_secrets=tuple(s.env_secrets), protected=self.protected)

    def run(self, n: int, commit: str, name: str, command: str, timeout_s: float, *,
            output: Path | None, cancel: threading.Event | None) -> RemoteRun:
        if output is not None:  # the node makes its own `{output}` path
            command = command.replace(shlex.quote(str(output)), "{output}")
        plan = self._plan
        if plan is not None and plan.n == n and plan.specs and \
                (plan.specs[0].commit, plan.specs[0].name, plan.specs[0].command) == \
                (commit, name, command):
            plan.specs.popleft()
            try:
                result = next(plan.parts)
            except StopIteration:
                self._plan = None
                raise InfraError(f"the measurement task ended before its run {name}") from None
            except BaseException:
                self._plan = None
                raise
            if not plan.specs and result.status == "ok":
                # Every planned run is handed out: read the task to its end rather than
                # cancel it. A cancel that crosses the finished task's reply crashes this
                # whole process (Ray 2.x: "Tried to complete task that was not pending").
                self._plan = None
                next(plan.parts, None)
                plan.parts.close()
            elif not plan.specs or result.status != "ok":
                self.end_plan()
        else:
            self.end_plan()
            result = self.executor.measure(
                self._job((RunSpec(name, commit, command, timeout_s, name),)),
                common_dir=self.common_dir, node=self._pins.get(n), cancel=cancel)
        info = NodeInfo(result.node, result.host, list(result.gpus))
        if result.status == "cancelled":
            return RemoteRun(CommandResult(command, None, 0.0, "", "", cancelled=True),
                             [], [], info)
        if result.status == "setup_failed":
            return RemoteRun(CommandResult(command, 1, 0.0, "", result.reason,
                                           isolation=result.isolation), [], [], info)
        if result.status != "ok" or not result.runs:
            raise InfraError(result.reason or f"the measurement came back {result.status}")
        self._pins[n] = result.node
        self.nodes[n] = info
        self.runs += 1
        run = result.runs[0]
        if output is not None and run.output_file is not None:
            output.write_text(run.output_file, encoding="utf-8")
        return RemoteRun(run.result, list(run.changed), list(run.left), info)


@dataclass
class _Plan:
    n: int
    specs: deque[RunSpec]
    """Planned runs not handed out yet."""
    parts: Generator[JobResult, None, None]
