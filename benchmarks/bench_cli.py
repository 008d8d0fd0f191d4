"""What every benchmark script starts with: this checkout's `app` (and `widgets`, `tests`)
importable, whatever is installed (`python benchmarks/NAME.py` puts only this folder on
the path), and a command line described by the script's first docstring line, with the
options the simulations share.

A script imports it before anything of the project: `from bench_cli import arguments`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout these benchmarks belong to."""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def arguments(doc: str | None, *, decisions: int | None = None, seed: int | None = None,
              decisions_help: str | None = None) -> argparse.ArgumentParser:
    """A parser whose description is `doc`'s first line; `--decisions N` (simulated
    decisions per cell) and `--seed S` when given their defaults."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().split("\n")[0])
    if decisions is not None:
        parser.add_argument("--decisions", type=int, default=decisions,
                            help=decisions_help or "simulated decisions per cell")
    if seed is not None:
        parser.add_argument("--seed", type=int, default=seed,
                            help="the random generator's seed (the same seed, the same figures)")
    return parser
