"""The local executor: the node's part run in this process (the reference the Ray
executor is compared with, and a way to test the node's part without Ray)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path

from app.engine.executors.base import JobResult, MeasureJob
from app.engine.executors.node import iter_job, run_job
from app.engine.gitops import make_bundle


class LocalExecutor:
    kind = "local"

    def measure(self, job: MeasureJob, *, common_dir: object, node: str | None = None,
                cancel: threading.Event | None = None) -> JobResult:
        assert isinstance(common_dir, Path)
        commits = list(dict.fromkeys(r.commit for r in job.runs))
        return run_job(job, make_bundle(common_dir, commits), cancel, "local")

    def stream(self, job: MeasureJob, *, common_dir: object, node: str | None = None,
               cancel: threading.Event | None = None) -> Generator[JobResult, None, None]:
        assert isinstance(common_dir, Path)
        commits = list(dict.fromkeys(r.commit for r in job.runs))
        yield from iter_job(job, make_bundle(common_dir, commits), cancel, "local")

    def unavailable(self) -> str:
        return ""

    def close(self) -> None:
        pass
