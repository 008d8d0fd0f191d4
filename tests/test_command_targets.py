"""Commands resolved to the repository files they run (command_targets, guard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine.guard import paths_named_by


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        "bench.py": "", "tools/__init__.py": "", "tools/perf.py": "",
        "src/pkgbench/__init__.py": "",
        "pkg/a.go": "", "pkg/a_test.go": "", "pkg/testdata/in.txt": "", "pkg/sub/b_test.go": "",
        "scripts/b.js": "", "run.sh": "", "data.txt": "", "benches/speed.rs": "",
        "perf/custom.rs": "", "index.js": "",
        "package.json": json.dumps({"scripts": {"bench": "node scripts/b.js",
                                                "prebench": "sh run.sh", "test": "jest"}}),
        "Makefile": "bench: build\n\t./run.sh data.txt\nbuild:\n\t$(MAKE) -s other\n"
                    "other:\n\tpython3 -m tools.perf\n",
        "Cargo.toml": '[package]\nname = "x"\n\n[[bench]]\nname = "custom"\n'
                      'path = "perf/custom.rs"\nharness = false\n',
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize("command, expected", [
    ("python3 -m bench", {"bench.py"}),
    ("python3 -mbench --fast", {"bench.py"}),
    ("uv run python -m tools.perf", {"tools/perf.py", "tools/__init__.py"}),
    ("python3 -m pkgbench", {"src/pkgbench"}),
    ("python3 -m pytest -q", set()),
    ("node index", {"index.js"}),
    ("npm run bench", {"package.json", "scripts/b.js", "run.sh"}),
    ("npm test", {"package.json"}),
    ("go test -bench . ./pkg", {"pkg/a_test.go", "pkg/testdata"}),
    ("go test -run x -bench=. ./pkg/...", {"pkg/a_test.go", "pkg/testdata", "pkg/sub/b_test.go"}),
    ("make bench", {"Makefile", "run.sh", "data.txt", "tools/perf.py", "tools/__init__.py"}),
    ("cargo bench", {"benches", "Cargo.toml", "perf/custom.rs"}),
    ("FOO=1 timeout 60 python3 bench.py && echo done", {"bench.py"}),
])
def test_commands_resolve_to_the_files_they_run(tree: Path, command: str,
                                                expected: set[str]) -> None:
    assert paths_named_by(command, tree) == expected


def test_go_package_folders_are_not_protected_whole(tree: Path) -> None:
    # The package's own code is what the agent is there to change.
    assert "pkg/a.go" not in paths_named_by("go test -bench . ./pkg", tree)
    assert "pkg" not in paths_named_by("go test -bench . ./pkg", tree)
