"""Shared by the Ray tests: Ray must be there under CI (the [ray] extra), may be missing
locally (skip)."""

from __future__ import annotations

import os
from typing import Any

import pytest


def need_ray() -> Any:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not installed (CI must install the [ray] extra)")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    return ray
