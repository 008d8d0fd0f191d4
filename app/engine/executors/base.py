"""What an executor is given and what it returns: plain, picklable data.

An executor measures one decision's runs (champion and candidate, interleaved as the
harness planned them) on one machine and returns the raw outputs; the harness parses them
and decides (app/engine/loop.py). `local` runs them in this process, `ray` on a node of a
Ray cluster (app/engine/executors/ray_exec.py).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from app.engine.process import CommandResult


@dataclass(frozen=True)
class RunSpec:
    """One command run on one commit, in the order given."""

    role: str
    """"champion", "candidate", "holdout", ...: what the harness will make of it."""
    commit: str
    command: str
    timeout_s: float
    name: str = ""
    """The run's log name (bench-1, champion-1, ...)."""


@dataclass(frozen=True)
class MeasureJob:
    key: str
    """The session's identity on a node: its cache folder (repository, trees, setup)."""
    runs: tuple[RunSpec, ...]
    setup: str | None = None
    """`[session] setup`, run in each new measurement tree on the node, and again for a
    commit whose setup inputs differ (app/engine/setup_outputs.py)."""
    setup_inputs: tuple[str, ...] = ()
    """`[session] setup_inputs`: globs of more files the setup reads."""
    sandbox: str = "auto"
    network: bool = False
    env: tuple[str, ...] = ()
    env_secrets: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    """Repo-relative paths whose content no run may change (hashed before and after)."""
    basis: tuple[str, ...] = ()
    """Commits the bundle leaves out because the node had them already."""


@dataclass
class RunOutput:
    spec: RunSpec
    result: CommandResult
    output_file: str | None = None
    """The text of the run's `{output}` file (None without `{output}` or when missing)."""
    changed: list[str] = field(default_factory=list)
    """Protected paths whose content the run changed."""
    left: list[str] = field(default_factory=list)
    """Paths the run left that are not the commit's (the harness judges them)."""
    started: float = 0.0
    ended: float = 0.0
    cwd: str = ""
    """The measurement tree on the node the command ran in (paths a trace names)."""
    """Wall-clock (time.time) on the node, for the interleaving record."""


@dataclass
class JobResult:
    status: Literal["ok", "needs_full_bundle", "setup_failed", "cancelled"]
    runs: list[RunOutput] = field(default_factory=list)
    reason: str = ""
    executor: str = "local"
    node: str = ""
    """Ray node id ('' for the local executor)."""
    host: str = ""
    gpus: list[str] = field(default_factory=list)
    isolation: str = ""
    bundle_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds on the node: receive (fetch the bundle), tree (make/reset), setup, runs."""


class InfraError(Exception):
    """The measurement could not be made for a reason that is not the code's (a node was
    lost, the cluster went away): the experiment is `infra_error`, measured again."""


class ClusterUnavailable(InfraError):
    """No node of the cluster can take a measurement now (all gone, or no answer)."""


class HeadLost(InfraError):
    """The cluster's head node (its GCS) no longer answers. Ray ends a driver process
    whose GCS has been gone for a minute (`gcs_rpc_server_reconnect_timeout_s`), and a
    restarted head is a new cluster: the session records what was being measured as
    `infra_error` and stops (exit 3) rather than wait for a head it cannot rejoin."""


class Executor(Protocol):
    kind: str

    def measure(self, job: MeasureJob, *, common_dir: object, node: str | None = None,
                cancel: threading.Event | None = None) -> JobResult: ...

    def stream(self, job: MeasureJob, *, common_dir: object, node: str | None = None,
               cancel: threading.Event | None = None) -> Generator[JobResult, None, None]: ...
    """The job's runs as they end (one result each); closing it early stops the job."""

    def unavailable(self) -> str: ...
    """'' when a measurement can be sent now, else why not."""

    def close(self) -> None: ...
