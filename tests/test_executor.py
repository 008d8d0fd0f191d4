"""The executor layer without Ray: the [ray] extra is optional, its config is validated,
and the node's part (bundle in, clean tree, setup, interleaved runs, raw outputs) works
through the local executor."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.config import load_config
from app.engine.executors.base import MeasureJob, RunSpec
from app.engine.executors.local import LocalExecutor
from app.engine.gitops import make_bundle, receive_bundle
from app.errors import UsageError
from tests.conftest import Project, require_tool

HIDE_RAY = textwrap.dedent('''\
    import sys
    class HideRay:
        """Ray is not installed, as far as this process can tell."""
        def find_spec(self, name, path=None, target=None):
            if name == "ray" or name.startswith("ray."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, HideRay())
''')


def _run_cli(project: Project, *args: str, prelude: str = "", epilogue: str = ""
             ) -> subprocess.CompletedProcess[str]:
    code = (prelude + "from app.cli import main\n"
            f"status = main({list(args)!r})\n" + epilogue + "sys.exit(status)\n")
    return subprocess.run([sys.executable, "-c", "import sys\n" + code], cwd=project.root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CI": ""})


def test_choosing_ray_without_it_is_one_sentence_exit_2(project: Project) -> None:
    project.config("[executor]\nkind = \"ray\"\naddress = \"local\"\n")
    project.commit("ray executor")
    done = _run_cli(project, "run", "--headless", prelude=HIDE_RAY)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'autoresearch-tui[ray]'" in lines[0], lines
    assert not (project.root / ".autoresearch").exists()  # nothing half-created
    assert not list((project.root / ".git").glob("autoresearch/sessions/*"))


def test_a_local_session_never_imports_ray(project: Project) -> None:
    project.patch("0001.patch", {"nums/a.txt": "20\n"}, "shrink a")
    project.commit("patches")
    done = _run_cli(project, "run", "--headless", "--max-experiments", "1",
                    epilogue="assert 'ray' not in sys.modules, 'ray was imported'\n")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("table", "message"), [
    ('address = "somewhere"', "executor.address"),
    ("resources = { GPU = 0 }", "executor.resources.GPU"),
    ("max_concurrent = 0", "executor.max_concurrent"),
    ('runtime_env = { working_dir = "." }', "working_dir"),
    ('kind = "slurm"', "executor.kind"),
])
def test_bad_executor_settings_are_one_sentence(project: Project, table: str,
                                                message: str) -> None:
    project.config(f"[executor]\n{table}\n")
    with pytest.raises(UsageError, match=message.replace(".", r"\.")):
        load_config(project.root / "autoresearch.toml")


def test_executor_settings_load(project: Project) -> None:
    project.config('[executor]\nkind = "ray"\naddress = "ray://head:10001"\n'
                   "resources = { GPU = 1, CPU = 2 }\nmax_concurrent = 3\n"
                   'runtime_env = { env_vars = { A = "1" }, pip = ["numpy"] }\n')
    e = load_config(project.root / "autoresearch.toml").executor
    assert (e.kind, e.address, e.resources, e.max_concurrent) == (
        "ray", "ray://head:10001", {"GPU": 1.0, "CPU": 2.0}, 3)
    assert e.runtime_env == {"env_vars": {"A": "1"}, "pip": ["numpy"]}


# -- the node's part, through the local executor --------------------------------------------

def two_commits(project: Project) -> tuple[str, str]:
    champion = project.git("rev-parse", "HEAD").strip()
    project.write("nums/a.txt", "20\n")
    candidate = project.commit("shrink a")
    return champion, candidate


def interleaved(champion: str, candidate: str, pairs: int, command: str = "python3 bench.py"
                ) -> tuple[RunSpec, ...]:
    runs: list[RunSpec] = []
    for i in range(pairs):
        runs.append(RunSpec("champion", champion, command, 20, f"champion-{i + 1}"))
        runs.append(RunSpec("candidate", candidate, command, 20, f"bench-{i + 1}"))
    return tuple(runs)


@pytest.fixture
def node_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "node-cache"
    monkeypatch.setenv("AUTORESEARCH_NODE_CACHE", str(cache))
    return cache


def test_local_executor_measures_both_commits_interleaved(project: Project,
                                                          node_cache: Path) -> None:
    champion, candidate = two_commits(project)
    job = MeasureJob("k1", interleaved(champion, candidate, 2), sandbox="none")
    result = LocalExecutor().measure(job, common_dir=project.root / ".git")
    assert result.status == "ok", result.reason
    assert [r.spec.role for r in result.runs] == ["champion", "candidate"] * 2
    assert ["METRIC score=50.0" in r.result.stdout for r in result.runs] == [True, False] * 2
    assert all("METRIC score=20.0" in r.result.stdout for r in result.runs[1::2])
    ends = [(r.started, r.ended) for r in result.runs]
    assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:]))  # one after another
    assert (node_cache / "autoresearch-node" / "k1" / "repo").is_dir()


def test_setup_runs_once_per_node_tree_and_its_outputs_stay(project: Project,
                                                            node_cache: Path) -> None:
    project.write("bench.py", "import os\nprint(len(os.listdir('deps')))\n")
    project.write(".gitignore", "deps/\n")
    project.commit("bench counts deps")
    champion, candidate = two_commits(project)
    setup = "mkdir -p deps && touch deps/$(date +%s%N)"
    job = MeasureJob("k2", interleaved(champion, candidate, 1), setup=setup, sandbox="none")
    first = LocalExecutor().measure(job, common_dir=project.root / ".git")
    again = LocalExecutor().measure(job, common_dir=project.root / ".git")
    assert [r.result.stdout.strip() for r in first.runs + again.runs] == ["1"] * 4
    assert "setup" in first.timings and "setup" not in again.timings


def _versioned_setup(project: Project) -> tuple[str, str, str]:
    """A champion whose setup "installs" speed==1 (deps/version), a candidate that pins 4
    and one whose pin cannot be installed: (champion, candidate, broken)."""
    project.write("install.py", "import os\nv = open('requirements.txt').read().split('==')"
                  "[1].strip()\nassert v.isdigit(), 'cannot install ' + v\n"
                  "os.makedirs('deps', exist_ok=True)\nopen('deps/version', 'w').write(v)\n")
    project.write("requirements.txt", "speed==1\n")
    project.write("bench.py", "print(open('deps/version').read())\n")
    project.write(".gitignore", "deps/\n")
    champion = project.commit("setup installs what requirements.txt pins")
    project.write("requirements.txt", "speed==4\n")
    candidate = project.commit("pin speed 4")
    project.write("requirements.txt", "speed==x\n")
    broken = project.commit("a pin setup cannot install")
    return champion, candidate, broken


def test_setup_runs_again_on_the_node_for_a_commit_whose_inputs_differ(
        project: Project, node_cache: Path) -> None:
    """Attack: the candidate pins another dependency. Measured with the champion's setup
    outputs on the node, it runs on a dependency it never had; its runs must see its own
    (setup runs again), and the champion's come back from the cache, not from a third run."""
    champion, candidate, _ = _versioned_setup(project)
    job = MeasureJob("k6", interleaved(champion, candidate, 2), setup="python3 install.py",
                     sandbox="none")
    result = LocalExecutor().measure(job, common_dir=project.root / ".git")
    assert result.status == "ok", result.reason
    assert [r.result.stdout.strip() for r in result.runs] == ["1", "4", "1", "4"]
    again = LocalExecutor().measure(job, common_dir=project.root / ".git")  # a later task
    assert [r.result.stdout.strip() for r in again.runs] == ["1", "4", "1", "4"]
    assert "setup" not in again.timings, "both input states were cached on the node"


def test_a_setup_that_fails_on_the_candidates_inputs_fails_its_runs_on_the_node(
        project: Project, node_cache: Path) -> None:
    champion, _, broken = _versioned_setup(project)
    job = MeasureJob("k7", interleaved(champion, broken, 1), setup="python3 install.py",
                     sandbox="none")
    result = LocalExecutor().measure(job, common_dir=project.root / ".git")
    assert result.status == "ok", result.reason
    first, second = result.runs
    assert first.result.ok and first.result.stdout.strip() == "1"
    assert not second.result.ok
    assert "ran again for this commit" in second.result.output
    assert "cannot install x" in second.result.output


def test_failing_setup_on_the_node_says_so(project: Project, node_cache: Path) -> None:
    champion, candidate = two_commits(project)
    job = MeasureJob("k3", interleaved(champion, candidate, 1), setup="echo nope; exit 3",
                     sandbox="none")
    result = LocalExecutor().measure(job, common_dir=project.root / ".git")
    assert result.status == "setup_failed"
    assert "exit status 3" in result.reason and "nope" in result.reason


def test_a_run_that_writes_into_protected_files_is_reported(project: Project,
                                                             node_cache: Path) -> None:
    """Attack: the candidate's benchmark run rewrites the checks and plants a conftest.py;
    the node reports both (the harness rejects the candidate)."""
    champion = project.git("rev-parse", "HEAD").strip()
    project.write("src/lib.py", "open('check.py', 'w').write('print(1)')\n"
                  "open('conftest.py', 'w').write('')\n")
    project.write("bench.py", BENCH_WITH_IMPORT)  # (bench.py is the harness's here)
    candidate = project.commit("sneaky")
    job = MeasureJob("k4", interleaved(champion, candidate, 1), sandbox="none",
                     protected=("check.py", "bench.py", "tests"))
    result = LocalExecutor().measure(job, common_dir=project.root / ".git")
    champ, cand = result.runs
    assert cand.changed == ["check.py"] and "conftest.py" in cand.left
    assert champ.changed == [] and "conftest.py" not in champ.left
    # ... and the next run starts clean: the tree was reset to the commit.
    again = LocalExecutor().measure(MeasureJob("k4", (RunSpec(
        "champion", champion, "cat check.py", 20),), sandbox="none"),
        common_dir=project.root / ".git")
    assert "print(1)" not in again.runs[0].result.stdout


@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
def test_each_run_of_a_job_starts_from_its_commit_exactly(project: Project, node_cache: Path,
                                                          sandbox: str) -> None:
    """Attack: within one job, a candidate run leaves a cache file, an ignored file and a
    changed tracked file for the runs after it. Every run (the champion's in between, the
    candidate's repeat) sees exactly its commit: `prepare` before the run, a full scan after
    it (executors/node.py)."""
    if sandbox == "bwrap":
        require_tool("bwrap")
    project.write(".gitignore", "ignored/\n")
    champion = project.commit("ignore a folder")
    project.write("nums/a.txt", "20\n")
    candidate = project.commit("shrink a")
    show = ("cat cache.txt ignored/x nums/a.txt 2>&1; "
            "echo cached > cache.txt; mkdir -p ignored; echo planted > ignored/x; "
            "echo 1 >> nums/a.txt")
    runs = tuple(RunSpec(role, commit, show, 20, f"{role}-{i}") for i, (role, commit) in
                 enumerate([("candidate", candidate), ("champion", champion),
                            ("candidate", candidate), ("candidate", candidate)]))
    result = LocalExecutor().measure(MeasureJob("k5", runs, sandbox=sandbox),
                                     common_dir=project.root / ".git")
    assert result.status == "ok", result.reason
    outputs = [r.result.stdout for r in result.runs]
    for out, want in zip(outputs, ["20", "50", "20", "20"]):
        assert "cached" not in out and "planted" not in out, outputs
        assert out.split()[-1] == want and "1" not in out.split()[-2:], outputs
    assert all(sorted(r.left) == ["cache.txt", "ignored", "nums/a.txt"] for r in result.runs), \
        [r.left for r in result.runs]


BENCH_WITH_IMPORT = "import sys\nsys.path.insert(0, 'src')\nimport lib\nprint(1.0)\n"


def test_output_file_text_comes_back_raw(project: Project, node_cache: Path) -> None:
    champion, candidate = two_commits(project)
    command = "python3 -c \"import sys; open(sys.argv[1], 'w').write('{\\\"x\\\": 4}')\" {output}"
    job = MeasureJob("k5", (RunSpec("candidate", candidate, command, 20),), sandbox="none")
    result = LocalExecutor().measure(job, common_dir=project.root / ".git")
    assert result.runs[0].result.ok, result.runs[0].result.output
    assert result.runs[0].output_file == '{"x": 4}'


def test_bundles_carry_only_new_commits(project: Project, tmp_path: Path) -> None:
    champion, candidate = two_commits(project)
    full = make_bundle(project.root / ".git", [champion, candidate])
    delta = make_bundle(project.root / ".git", [champion, candidate], (champion,))
    assert 0 < len(delta) < len(full)
    assert make_bundle(project.root / ".git", [champion], (champion,)) == b""
    receiver = tmp_path / "receiver"
    assert receive_bundle(receiver, delta) != ""  # the receiver lacks the champion
    assert receive_bundle(receiver, full) == ""
    assert receive_bundle(receiver, delta) == ""


def test_remote_bench_hands_the_nodes_output_file_to_the_local_parser(
        project: Project, node_cache: Path) -> None:
    """`{output}` commands: the node makes its own path, and the text it wrote arrives in
    the harness's fresh local file, where `formats.read_run` reads it as usual."""
    from app.engine import formats
    from app.engine.executors.remote_bench import RemoteBench

    champion, candidate = two_commits(project)
    config = load_config(project.root / "autoresearch.toml")
    bench = RemoteBench(LocalExecutor(), config, common_dir=project.root / ".git",
                        tag="t", protected=("check.py",))
    writer = "python3 -c \"import sys; open(sys.argv[1], 'w').write('METRIC score=7')\" {output}"
    with formats.output_file(writer) as (command, output):
        assert output is not None and str(output) in command
        run = bench.run(3, candidate, "bench-1", command, 20, output=output, cancel=None)
        assert run.result.ok, run.result.output
        assert str(output) not in run.result.command  # the node used its own path
        assert formats.read_run(config.metric, run.result.stdout, output).value == 7.0
    assert bench.pinned(3) == "" and bench.runs == 1


def test_the_history_shows_which_machine_measured_an_experiment(project: Project,
                                                                 node_cache: Path) -> None:
    """Records measured through an executor carry executor, node, host and GPUs (through
    the log and back), and the history's notes show them as a host fingerprint, literally
    (a host name is outside text); a record measured here says nothing of it."""
    import dataclasses
    import socket

    from app.engine.executors.remote_bench import RemoteBench
    from app.engine.records import Experiment, Status
    from app.screens.history import notes_text

    champion, candidate = two_commits(project)
    config = load_config(project.root / "autoresearch.toml")
    bench = RemoteBench(LocalExecutor(), config, common_dir=project.root / ".git",
                        tag="t", protected=())
    bench.run(4, candidate, "bench-1", "true", 20, output=None, cancel=None)
    measured = Experiment(n=4, status=Status.KEEP)
    bench.note_node(measured)
    assert (measured.executor, measured.host) == ("local", socket.gethostname())
    remote = Experiment.from_json(dataclasses.replace(
        measured, executor="ray", node="f" * 56, host="gpu-[b]box[/b]",
        gpus=["0", "3"]).to_json())
    assert (remote.node, remote.host, remote.gpus) == ("f" * 56, "gpu-[b]box[/b]", ["0", "3"])
    notes = notes_text(remote, "t").plain
    assert f"measured on: ray node {'f' * 12} · host gpu-[b]box[/b] · GPUs 0, 3" in notes
    here = Experiment(n=5, status=Status.DISCARD)
    assert "gpus" not in here.to_json() and "measured on" not in notes_text(here, "t").plain
