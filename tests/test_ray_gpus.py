"""GPU pinning on a node: a task that asks for `GPU = 1` runs its benchmark seeing only the
GPU Ray gave it (a private Ray told it has two GPUs; no real GPU needed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import ExecutorConfig
from app.engine.executors.base import MeasureJob, RunSpec
from tests.conftest import Project
from tests.ray_support import need_ray
from tests.test_executor import two_commits

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture
def two_gpu_ray(tmp_path: Path) -> Iterator[Any]:
    ray = need_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
             logging_level="ERROR",
             runtime_env={"env_vars": {"AUTORESEARCH_NODE_CACHE": str(tmp_path / "cache")}})
    try:
        yield ray
    finally:
        ray.shutdown()


def test_the_benchmark_sees_only_the_gpu_ray_gave_it(project: Project,
                                                     two_gpu_ray: Any) -> None:
    from app.engine.executors.ray_exec import RayExecutor

    executor = RayExecutor(ExecutorConfig(kind="ray", address="local", resources={"GPU": 1}))
    _, candidate = two_commits(project)
    # The session's allowlist does not name CUDA_VISIBLE_DEVICES: the node passes it anyway.
    job = MeasureJob("g1", (RunSpec("candidate", candidate,
                                    'echo "gpus=${CUDA_VISIBLE_DEVICES-all}"', 30),),
                     sandbox="auto")
    result = executor.measure(job, common_dir=project.root / ".git")
    assert result.status == "ok", result.reason
    assert len(result.gpus) == 1
    assert f"gpus={result.gpus[0]}" in result.runs[0].result.stdout
