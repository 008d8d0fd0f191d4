"""Files the user shares (report, chart, export, the config init writes) honour the umask
like any other tool: they were written 0600 (a temporary file renamed into place)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.files import write_text_atomic
from app.onboard import write_and_commit
from tests.conftest import Project

ROOT = Path(__file__).parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cli(root: Path, *args: str, umask: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=root, capture_output=True,
                          text=True, env=env, timeout=120, preexec_fn=lambda: os.umask(umask))


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_report_chart_and_export_honour_the_umask(project: Project, umask: int,
                                                  expected: int) -> None:
    project.patch("01.patch", {"nums/a.txt": "20\n"}, subject="Shrink a")
    project.config(calibration_runs=1, repeats=1, max_repeats=1)
    project.commit("patch")
    done = cli(project.root, "run", "--headless", "--max-experiments", "1", umask=umask)
    assert done.returncode == 0, done.stderr
    out = project.root / "shared"
    out.mkdir()
    done = cli(project.root, "report", "--out", str(out / "report.md"), umask=umask)
    assert done.returncode == 0, done.stderr
    done = cli(project.root, "history", "--export", str(out / "results.tsv"), umask=umask)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert {"report.md", "report-progress.svg", "results.tsv"} <= set(written), written
    assert {p.name: mode(p) for p in out.iterdir()} == {name: expected for name in written}


def test_init_writes_the_config_with_the_umask(repo: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_and_commit(repo, '[metric]\ncommand = "true"\n', "# Goal\n",
                                commit=False)
    finally:
        os.umask(old)
    assert mode(path) == 0o644
    assert mode(repo / "autoresearch.md") == 0o644


def test_an_atomic_write_leaves_nothing_half_written(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old\n")

    with pytest.raises(TypeError):
        write_text_atomic(target, 5)  # type: ignore[arg-type]  # fails mid-write
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
