"""The Ray executor: each measurement job is one Ray task on one node (docs/cluster.md).

The champion's and candidate's commits travel as a `git bundle` through the object store
(`ray.put`), not as a `working_dir` (100 MiB limit, per job). The harness remembers which
commits each node has received, so a repeat on the same node sends only the new commits;
a node whose cache is gone says so and gets the whole bundle, pinned to it. Follow-up jobs
of one decision are pinned to the node of the first (`NodeAffinitySchedulingStrategy`,
hard), because samples are only comparable on one machine. Tasks never retry
(`max_retries = 0`): a node lost mid-measurement is an `InfraError`, which the harness
records as `infra_error` and measures again.

This module imports `ray` only when an executor is made (`require_ray`).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.config import ExecutorConfig
from app.engine.executors import require_ray
from app.engine.executors.base import (
    ClusterUnavailable,
    HeadLost,
    InfraError,
    JobResult,
    MeasureJob,
    RunOutput,
)
from app.engine.executors.node import iter_job
from app.engine.gitops import make_bundle
from app.errors import UsageError

MAX_BASIS = 64
"""Commits named as already on a node, at most (the newest ones)."""
CANCEL_GRACE_S = 5.0
HEAD_PROBE_S = 1.0
"""How often the head's GCS port is tried (`watch_head`)."""
HEAD_LOST_AFTER = 3
"""Failed tries in a row that mean the head is gone (well within Ray's minute)."""


def _remote_iter_job(job: MeasureJob, bundle: bytes) -> Generator[JobResult, None, None]:
    """Runs on the node (a Ray worker process): a streaming task that yields each run's
    result as it ends (`iter_job`)."""
    import ray

    context = ray.get_runtime_context()
    node, gpus = context.get_node_id(), [str(g) for g in ray.get_gpu_ids()]
    for part in iter_job(job, bundle, None, "ray"):
        part.node, part.gpus = node, gpus
        yield part


def connect(config: ExecutorConfig, *, num_cpus: int | None = None) -> None:
    """Join the cluster at `config.address` (or start a private one for "local"); a cluster
    that cannot be reached is one sentence naming the address."""
    ray = require_ray()
    if ray.is_initialized():
        return
    # A private cluster reports nothing home (Ray's usage stats); a user's own cluster
    # keeps whatever its `ray start` chose.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                              "configure_logging": True}
    if config.runtime_env:
        kwargs["runtime_env"] = dict(config.runtime_env)
    try:
        if config.address == "local":
            # Room for `max_concurrent` tasks (one by default: measurements on one
            # machine disturb each other's timings).
            per_task = config.resources.get("CPU", 1.0)
            # `address="local"` always starts a new one: without it Ray joins whatever
            # RAY_ADDRESS or /tmp/ray/ray_current_cluster names (a `ray start` of the user,
            # a test cluster) and then refuses `num_cpus`.
            ray.init(address="local",
                     num_cpus=num_cpus or math.ceil((config.max_concurrent or 1) * per_task),
                     include_dashboard=False, **kwargs)
        else:
            ray.init(address=config.address, **kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UsageError(f"cannot reach the Ray cluster at `executor.address = "
                         f"\"{config.address}\"` ({first}); start it (`ray start --head`) "
                         "or fix the address.") from None


class RayExecutor:
    kind = "ray"

    def __init__(self, config: ExecutorConfig, *, connect_now: bool = True) -> None:
        self.config = config
        self.ray = require_ray()
        self.head_lost = ""
        """Why the cluster's head is taken for gone ('' while it answers): from then on
        nothing here calls Ray but `shutdown` (`watch_head`)."""
        self._closed = threading.Event()
        self._owns_connection = connect_now and not self.ray.is_initialized()
        """Joined (or started) Ray itself: leaves it on close. A program that had Ray
        open already keeps it."""
        if connect_now:
            connect(config)
        if connect_now and config.address == "local":
            self._check_feasible()
        self._task = self.ray.remote(max_retries=0)(_remote_iter_job)
        self.tasks = 0
        """Tasks submitted so far (the benchmark and the tests read it)."""
        self.stopped_early = 0
        """Tasks whose results were not read to the end (veto, quit, a decision settled
        early): each is cancelled unless it has finished."""
        self._known: dict[tuple[str, str], list[str]] = {}
        """(node id, job key) -> commits that node's cache for that key received."""
        self._last_node: str | None = None
        self._busy: dict[str, int] = {}
        """Node id -> this session's tasks running there now (concurrent decisions go to
        other nodes first)."""
        self._slots = threading.BoundedSemaphore(config.max_concurrent) \
            if config.max_concurrent else None
        self._lock = threading.Lock()

    def _check_feasible(self) -> None:
        """A private Ray has what this machine has: a task asking for more would wait
        forever (a cluster's autoscaler may add it later; this machine will not)."""
        have = self.ray.cluster_resources()
        for name, amount in {"CPU": 1.0, **self.config.resources}.items():
            if have.get(name, 0.0) < amount:
                self.close()
                raise UsageError(f"`executor.resources` asks for {name} = {amount:g} per "
                                 f"measurement, but the private Ray on this machine has "
                                 f"{have.get(name, 0.0):g}; lower it, or point "
                                 "`executor.address` at a cluster that has it.")

    def watch_head(self, on_lost: Callable[[str], None]) -> bool:
        """From now until `close`, try the head's GCS port every `HEAD_PROBE_S`; when it
        has refused `HEAD_LOST_AFTER` times in a row, set `head_lost` and call `on_lost`
        with why, once. A plain TCP connect: Ray's own calls (`ray.nodes()`) block while
        the GCS is gone, and Ray ends this process after a minute without it. False when
        there is no GCS address to watch (Ray Client: its connection fails by itself)."""
        try:
            address = str(self.ray.get_runtime_context().gcs_address or "")
        except Exception:  # noqa: BLE001 - Ray Client, or not connected: nothing to watch
            address = ""
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            return False
        threading.Thread(target=self._watch_head, args=(host, int(port), address, on_lost),
                         name="ray-head-watch", daemon=True).start()
        return True

    def _watch_head(self, host: str, port: int, address: str,
                    on_lost: Callable[[str], None]) -> None:
        failures = 0
        while not self._closed.wait(HEAD_PROBE_S):
            try:
                socket.create_connection((host, port), timeout=2.0).close()
                failures = 0
                continue
            except OSError as exc:
                failures += 1
                problem = exc.strerror or type(exc).__name__
            if failures >= HEAD_LOST_AFTER:
                self.head_lost = (f"the Ray cluster's head node (GCS at {address}) is gone "
                                  f"({problem})")
                on_lost(self.head_lost)
                return

    def _need(self) -> dict[str, float]:
        return {"CPU": 1.0, **self.config.resources}

    def capacity(self) -> int:
        """How many measurement tasks the live nodes can run at once: per node, the least
        over the asked resources of what it has divided by what a task asks."""
        need = self._need()
        total = 0
        for node in self.ray.nodes():
            have = node.get("Resources") or {}
            if node.get("Alive"):
                total += min(math.floor(have.get(k, 0.0) / v + 1e-9) for k, v in need.items())
        return total

    def concurrent_decisions(self, workers: int) -> int:
        """How many decisions the session measures at once (`[parallel] workers` > 1):
        `max_concurrent`, by default the cluster's capacity now; never more than there are
        workers, never fewer than one."""
        return max(1, min(workers, self.config.max_concurrent or self.capacity()))

    def unavailable(self) -> str:
        """'' when a live node of the cluster could take a measurement task, else why not
        (every node that had the resources is gone, or the cluster does not answer)."""
        if self.head_lost:  # ray.nodes() would block until Ray ends this process
            return self.head_lost
        need = self._need()
        try:
            nodes = self.ray.nodes()
        except Exception as exc:  # noqa: BLE001 - whatever Ray raises: the cluster is away
            return f"the cluster does not answer: {type(exc).__name__}"
        for node in nodes:
            have = node.get("Resources") or {}
            if node.get("Alive") and all(have.get(k, 0.0) >= v for k, v in need.items()):
                return ""
        wanted = ", ".join(f"{k} = {v:g}" for k, v in need.items())
        return f"no live node has {wanted}"

    def _options(self, node: str | None, hard: bool) -> dict[str, Any]:
        resources = dict(self.config.resources)
        options: dict[str, Any] = {"num_cpus": resources.pop("CPU", 1),
                                   "num_gpus": resources.pop("GPU", 0)}
        if resources:
            options["resources"] = resources
        if node:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            # A preferred node (soft) that is busy, with another decision of this session
            # or anyone's task, must not hold this one back: it spills to a free node
            # (which then asks for the whole bundle).
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                node, soft=not hard, _spill_on_unavailable=not hard)
        return options

    def _preferred(self, key: str) -> str | None:
        """For a decision not pinned yet: the last node used, unless another decision of
        this session runs there now; then another node whose cache has the session's
        commits and that runs none (under the lock)."""
        warm = [self._last_node] if self._last_node else []
        warm += [node for (node, k) in reversed(self._known) if k == key and node not in warm]
        return next((node for node in warm if not self._busy.get(node)), self._last_node)

    def measure(self, job: MeasureJob, *, common_dir: object, node: str | None = None,
                cancel: threading.Event | None = None) -> JobResult:
        """All of `job` on one node (`stream`, gathered)."""
        outputs: list[RunOutput] = []
        last: JobResult | None = None
        for part in self.stream(job, common_dir=common_dir, node=node, cancel=cancel):
            outputs.extend(part.runs)
            last = part
        assert last is not None
        last.runs = outputs
        return last

    def stream(self, job: MeasureJob, *, common_dir: object, node: str | None = None,
               cancel: threading.Event | None = None) -> Generator[JobResult, None, None]:
        """Run `job` as one task on one node, `node` when given (hard), else preferably
        the last one used (its cache holds most commits already); yields each run's result
        as it ends, then stops (after a result whose status is not "ok": cancelled, setup
        failed). Closing the iterator early cancels the task. Raises InfraError when the
        node is lost or cannot receive the commits."""
        assert isinstance(common_dir, Path)
        if self.head_lost:
            raise HeadLost(self.head_lost)
        commits = list(dict.fromkeys(r.commit for r in job.runs))
        if node is None:  # unpinned, a task nothing can run would wait for ever
            why = self.unavailable()
            if why:
                raise ClusterUnavailable(f"the Ray cluster cannot take measurements: {why}")
        with self._lock:
            target = node or self._preferred(job.key)
            basis = tuple(self._known.get((target, job.key), [])[-MAX_BASIS:]) \
                if target else ()
        if self._slots is not None:
            self._slots.acquire()
        parts: Generator[JobResult, None, None] | None = None
        busy: str | None = None
        try:
            parts = self._submit(replace(job, basis=basis),
                                 make_bundle(common_dir, commits, basis), target,
                                 node is not None, cancel)
            first = next(parts, None)
            if first is not None and first.status == "needs_full_bundle":
                with self._lock:
                    self._known.pop((first.node, job.key), None)
                parts = self._submit(replace(job, basis=()), make_bundle(common_dir, commits),
                                     first.node or target, True, cancel)
                first = next(parts, None)
            if first is None:
                raise InfraError("the measurement task ended without a result")
            if first.status == "needs_full_bundle":
                raise InfraError(f"the node could not receive the commits: {first.reason}")
            if first.status == "ok":
                with self._lock:
                    have = self._known.setdefault((first.node, job.key), [])
                    have.extend(c for c in commits if c not in have)
                    self._last_node = busy = first.node
                    self._busy[busy] = self._busy.get(busy, 0) + 1
            yield first
            yield from parts
        finally:
            if parts is not None:
                parts.close()  # stopped early: the task is cancelled
            if busy is not None:
                with self._lock:
                    self._busy[busy] -= 1
            if self._slots is not None:
                self._slots.release()

    def _submit(self, job: MeasureJob, bundle: bytes, node: str | None, hard: bool,
                cancel: threading.Event | None) -> Generator[JobResult, None, None]:
        """The task's results as they come; cancels the task when the consumer stops early
        or `cancel` is set (then a last "cancelled" result)."""
        ray = self.ray
        exceptions = ray.exceptions
        self.tasks += 1
        gen = self._task.options(**self._options(node, hard)).remote(job, ray.put(bundle))
        ended = False
        try:
            while True:
                ready, _ = ray.wait([gen], timeout=0.2)
                if not ready:
                    if self.head_lost:  # before the cancel that its stop sets: say why
                        ended = True
                        raise HeadLost(self.head_lost)
                    if cancel is not None and cancel.is_set():
                        self._cancel(gen)
                        ended = True
                        yield JobResult("cancelled", executor="ray", node=node or "",
                                        reason="stopped")
                        return
                    continue
                try:
                    ref = next(gen)
                except StopIteration:
                    ended = True
                    return
                try:
                    part: JobResult = ray.get(ref)
                except exceptions.TaskCancelledError:
                    ended = True
                    yield JobResult("cancelled", executor="ray", node=node or "",
                                    reason="stopped")
                    return
                except exceptions.RayTaskError as exc:  # the node's code raised
                    ended = True
                    raise InfraError(f"the measurement task failed on node {node or '?'}: "
                                     f"{_first_line(exc)}") from None
                except exceptions.RayError as exc:  # node died, worker crashed, object lost
                    ended = True
                    raise InfraError(f"the Ray node {(node or '?')[:12]} was lost during the "
                                     f"measurement ({type(exc).__name__}: {_first_line(exc)})"
                                     ) from None
                part.bundle_bytes = len(bundle)
                node = part.node or node
                if part.status != "ok":
                    ended = True
                yield part
                if ended:
                    return
        finally:
            if not ended:  # the consumer stopped early: the rest is not wanted
                self.stopped_early += 1
                self._cancel(gen)

    def _cancel(self, gen: Any) -> None:
        """Interrupt the task (its commands' process groups are killed as run_command
        unwinds); force-kill its worker if it does not end within the grace period. A task
        that has already finished is left alone: Ray aborts the whole driver process when a
        cancel crosses a finished task's reply (a RAY_CHECK in its task manager)."""
        ray = self.ray
        if self.head_lost:  # the task's node goes with the head; Ray calls could block
            return
        try:
            done, _ = ray.wait([gen.completed()], timeout=0)
            if done:
                return
            ray.cancel(gen, force=False)
            ready, _ = ray.wait([gen.completed()], timeout=CANCEL_GRACE_S)
            if not ready:
                ray.cancel(gen, force=True)
        except Exception:  # noqa: BLE001 - already finished or gone: nothing to stop
            pass

    def close(self) -> None:
        self._closed.set()
        if self._owns_connection:
            shutdown()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def shutdown() -> None:
    """End this process's Ray connection (and a private "local" cluster)."""
    ray = require_ray()
    if ray.is_initialized():
        ray.shutdown()
