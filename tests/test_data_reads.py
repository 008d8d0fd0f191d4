"""Reading strace's open calls (data_reads), on lines real strace -f writes."""

from __future__ import annotations

from pathlib import Path

from app.engine.data_reads import data_files, opened_paths

TRACE = '''\
16264 openat(AT_FDCWD, "data/corpus.txt", O_RDONLY|O_CLOEXEC) = 3
16264 openat(AT_FDCWD, "missing.txt", O_RDONLY) = -1 ENOENT (No such file or directory)
16265 openat(AT_FDCWD, "data/other.bin", O_RDONLY <unfinished ...>
16264 open("/etc/hostname", O_RDONLY) = 4
16264 openat(AT_FDCWD, "src/work.py", O_RDONLY|O_CLOEXEC) = 5
16264 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=16264} ---
16266 openat(AT_FDCWD, "ABS/data/abs.txt", O_RDONLY) = 3
'''


def test_successful_opens_of_tracked_non_source_files(tmp_path: Path) -> None:
    for rel in ("data/corpus.txt", "data/other.bin", "data/abs.txt", "src/work.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    opened = opened_paths(TRACE.replace("ABS", str(tmp_path)))
    assert "missing.txt" not in opened and "data/other.bin" in opened
    tracked = ["data/corpus.txt", "data/other.bin", "data/abs.txt", "src/work.py"]
    assert data_files(opened, tmp_path, tracked) == ["data/abs.txt", "data/corpus.txt",
                                                      "data/other.bin"]
    assert data_files(opened, tmp_path, ["src/work.py"]) == []
