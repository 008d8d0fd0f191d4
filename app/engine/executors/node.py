"""The part of a measurement that runs on the measuring machine (a Ray node, or here).

`run_job` receives a git bundle of the commits to measure, fetches it into a per-node cache
(`<tmp>/autoresearch-node/<key>/repo`: a repeat sends only new commits), makes a clean
measurement tree from it (`gitops.MeasurementTree`, reset before every run, `[session]
setup` run in a new tree and again for a commit whose setup inputs differ), and runs the
planned commands in order through `process.run_command` in the node's sandbox (bubblewrap
when the node has it). Protected
files are hashed before and after every run. Nothing is parsed here: the raw outputs go
back to the harness, which parses them and decides.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Generator
from contextlib import ExitStack
from pathlib import Path

from app.engine import formats
from app.engine.executors.base import JobResult, MeasureJob, RunOutput
from app.engine.gitops import MeasurementTree, has_commits, receive_bundle
from app.engine.layout import RepoPaths, SessionPaths
from app.engine.process import CommandResult, run_command
from app.engine.sandbox import session_sandbox
from app.engine.setup_outputs import SetupInputs, SetupOutputs

MAX_SLOTS = 64
"""Measurement trees per session key on one node (one per task running at once)."""


def cache_root() -> Path:
    base = os.environ.get("AUTORESEARCH_NODE_CACHE") or tempfile.gettempdir()
    return Path(base) / "autoresearch-node"


def run_job(job: MeasureJob, bundle: bytes, cancel: threading.Event | None = None,
            executor: str = "local") -> JobResult:
    """All of `job` at once: the runs of `iter_job` gathered into one result."""
    outputs: list[RunOutput] = []
    last: JobResult | None = None
    for part in iter_job(job, bundle, cancel, executor):
        outputs.extend(part.runs)
        last = part
        if part.status != "ok":
            break
    assert last is not None, "iter_job yields at least once"
    last.runs = outputs
    return last


def iter_job(job: MeasureJob, bundle: bytes, cancel: threading.Event | None = None,
             executor: str = "local") -> Generator[JobResult, None, None]:
    """The job's runs one by one, as each ends: a result with that one run (status "ok"),
    or one result with another status that ends the job (nothing to measure on, setup
    failed, cancelled). Streamed by the Ray executor, so the harness sees every sample as
    it is measured while the whole decision is one task."""
    started = time.monotonic()
    host = socket.gethostname()
    home = cache_root() / job.key
    home.mkdir(parents=True, exist_ok=True)
    repo_dir = home / "repo"
    commits = list(dict.fromkeys(r.commit for r in job.runs))
    timings: dict[str, float] = {}
    with _locked(home / "repo.lock"):
        if job.basis and not has_commits(repo_dir, list(job.basis)):
            yield JobResult("needs_full_bundle", reason="the node's cache lacks the basis",
                            executor=executor, host=host)
            return
        problem = receive_bundle(repo_dir, bundle)
        if problem or not has_commits(repo_dir, commits):
            yield JobResult("needs_full_bundle", reason=problem or "commits missing",
                            executor=executor, host=host)
            return
    timings["receive"] = time.monotonic() - started
    with ExitStack() as stack:
        slot = _take_slot(home, stack)
        t0 = time.monotonic()
        repo = RepoPaths(root=repo_dir, common_dir=repo_dir / ".git")
        paths = SessionPaths(f"slot{slot}", home / f"state{slot}", repo_dir / "unused")
        tree = MeasurementTree(repo, paths)
        sandbox = session_sandbox(wanted=job.sandbox, network=job.network, env=job.env,
                                  env_secrets=job.env_secrets, agent_env=(),
                                  repo_root=repo_dir, common_dir=repo_dir / ".git", links=())
        record = home / f"tree{slot}-setup.json"
        made = tree.ensure(commits[0])
        timings["tree"] = time.monotonic() - t0
        outputs = None
        if job.setup:
            setup_command = job.setup

            def run_setup(folder: Path, state: str) -> CommandResult:
                return run_command(setup_command, folder, 3600, cancel=cancel,
                                   env=_gpu_env(), isolation=sandbox.setup(folder),
                                   policy=sandbox.policy)

            outputs = SetupOutputs(tree, SetupInputs.of(job.setup, tree.path,
                                                        job.setup_inputs), run_setup, record)
            tree.setup_outputs = outputs
        if made:
            record.unlink(missing_ok=True)
            if outputs is not None:
                outputs.remove()
                t1 = time.monotonic()
                setup = outputs.run_setup(tree.path, "")
                timings["setup"] = time.monotonic() - t1
                if not setup.ok:
                    tree.remove()
                    yield JobResult("setup_failed", reason=f"`session.setup` failed on "
                                    f"the node ({setup.failure()}): {setup.output_tail}",
                                    executor=executor, host=host,
                                    isolation=sandbox.kind, timings=timings)
                    return
                tree.kept = tree.untracked_outputs()
                outputs.made_for(commits[0])
        elif outputs is not None:
            try:
                tree.kept = set(json.loads(record.read_text(encoding="utf-8"))["kept"])
            except (OSError, ValueError, KeyError, TypeError):
                tree.kept = set()
            outputs.load(commits[0])
        t2 = time.monotonic()
        for i, spec in enumerate(job.runs):
            if cancel is not None and cancel.is_set():
                yield JobResult("cancelled", executor=executor, host=host,
                                isolation=sandbox.kind)
                return
            # The first run of this task finds the tree as another task left it (a full
            # reset); after that, each run's own reset leaves it exact, so switching to the
            # next commit checks out only what differs.
            tree.prepare(spec.commit) if i else tree.reset(spec.commit)
            if outputs is not None:  # `[session] setup` again if this commit's inputs differ
                t1, reruns = time.monotonic(), outputs.reruns
                failed = outputs.ensure(spec.commit)
                if outputs.reruns != reruns:
                    timings["setup"] = timings.get("setup", 0.0) + time.monotonic() - t1
                if failed is not None:  # the run fails with the setup's output (a crash)
                    now = time.time()
                    yield JobResult("ok", [RunOutput(spec, failed, None, [], [], now, now,
                                                     str(tree.path))],
                                    executor=executor, host=host, isolation=sandbox.kind,
                                    bundle_bytes=len(bundle), timings=dict(timings))
                    continue
            before = _hashes(tree.path, job.protected)
            with formats.output_file(spec.command) as (command, out):
                began = time.time()
                result = run_command(
                    command, tree.path, spec.timeout_s, cancel=cancel, env=_gpu_env(),
                    isolation=sandbox.measure(tree.path, read_only=[
                        tree.path / p for p in tree.kept],
                        writable=(out.parent,) if out is not None else ()),
                    policy=sandbox.policy)
                ended = time.time()
                text = None
                if out is not None and out.is_file():
                    text = out.read_bytes()[:formats.MAX_FILE_BYTES].decode(
                        "utf-8", errors="replace")
            after = _hashes(tree.path, job.protected)
            changed = sorted(k for k in before.keys() | after.keys()
                             if before.get(k) != after.get(k))
            left = tree.reset(spec.commit)
            output = RunOutput(spec, result, text, changed, left, began, ended,
                               str(tree.path))
            if result.cancelled:
                yield JobResult("cancelled", [output], executor=executor, host=host,
                                isolation=sandbox.kind)
                return
            timings["runs"] = time.monotonic() - t2
            yield JobResult("ok", [output], executor=executor, host=host,
                            isolation=sandbox.kind, bundle_bytes=len(bundle),
                            timings=dict(timings))


def _gpu_env() -> dict[str, str]:
    """The GPUs Ray gave this task (`resources = { GPU = n }` sets CUDA_VISIBLE_DEVICES in
    the worker): the command sees those only, whatever the environment allowlist says."""
    return {k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES",) if k in os.environ}


def _locked(path: Path) -> ExitStack:
    stack = ExitStack()
    handle = stack.enter_context(path.open("ab"))
    fcntl.flock(handle, fcntl.LOCK_EX)
    return stack


def _take_slot(home: Path, stack: ExitStack) -> int:
    """The first measurement tree no other task on this node holds (flock, released when
    the job ends, also when its process dies)."""
    for slot in range(MAX_SLOTS):
        handle = stack.enter_context((home / f"tree{slot}.lock").open("ab"))
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return slot
        except BlockingIOError:
            continue
    raise OSError(f"more than {MAX_SLOTS} measurements at once on one node")


def _hashes(root: Path, paths: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for rel in paths:
        target = root / rel
        files = sorted(target.rglob("*")) if target.is_dir() and not target.is_symlink() \
            else [target]
        for f in files:
            if f.is_file() or f.is_symlink():
                key = f.relative_to(root).as_posix()
                try:
                    out[key] = os.readlink(f) if f.is_symlink() else hashlib.sha256(
                        f.read_bytes()).hexdigest()
                except OSError:
                    out[key] = "unreadable"
    return out
