"""Throughput on a Ray cluster (issue #15): experiments per hour of a session with 4 workers
measuring on a simulated 4-node cluster, against the same session on 1 node.

Run: `python benchmarks/ray_throughput.py [--bench 2] [--experiments 12] [--nodes 1,4]
[--workers 4]` (needs the [ray] extra; about 5 minutes with the defaults).

Each configuration is a fresh `ray.cluster_utils.Cluster` on this machine: a head with no
room for measurements and N worker nodes, each with room for one measurement task
(`resources = { bench = 1 }`, `max_concurrent` left to its default: the cluster's
capacity). The project is the demo's (app/demo_project) with a benchmark that sleeps about
B seconds and prints that time (it waits rather than computes: this machine has 2 cores,
and a simulated node is a process on it, so only waiting shows what N machines would do).
The agent is the command agent of benchmarks/parallel_throughput.py with no latency: a real
patch that changes nothing measured, so the session is measurement-bound, which is where a
cluster helps. Throughput counts decided experiments from the first proposal's start to
the last decision, as parallel_throughput.py does.

Goal: 4 nodes at least 3.5x 1 node.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench_cli import arguments

from benchmarks.parallel_throughput import git, make_project, one_run

SLEEP_BENCH = """\
import random, time
took = {seconds} * random.uniform(0.99, 1.01)
time.sleep(took)
print(f"METRIC time_ms={{took * 1000:.3f}}")
"""


def executor_table(address: str, cache: Path) -> str:
    return (f'\n[executor]\nkind = "ray"\naddress = "{address}"\nresources = {{ bench = 1 }}\n'
            f'\n[executor.runtime_env.env_vars]\nAUTORESEARCH_NODE_CACHE = "{cache}"\n')


def on_cluster(nodes: int, workers: int, experiments: int, seconds: float) -> dict[str, float]:
    """One session with `workers` workers on a fresh cluster of `nodes` measuring nodes."""
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1, resources={"bench": 1})
        cluster.wait_for_nodes()
        with tempfile.TemporaryDirectory(prefix="autoresearch-ray-tp-",
                                         ignore_cleanup_errors=True) as tmp:
            root = make_project(Path(tmp), 0.0, 1)
            (root / "bench" / "fixed.py").write_text(SLEEP_BENCH.format(seconds=seconds))
            with (root / "autoresearch.toml").open("a") as config:
                config.write(executor_table(cluster.address, Path(tmp) / "node-cache"))
            git(root, "commit", "-q", "-am", "a sleeping benchmark, measured on Ray")
            return one_run(root, workers, experiments)
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--bench", type=float, default=2.0, help="seconds per benchmark run")
    parser.add_argument("--experiments", type=int, default=12)
    parser.add_argument("--nodes", default="1,4")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    print(f"{args.workers} workers, benchmark sleeps ~{args.bench:g} s, {args.experiments} "
          f"experiments per session, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "cores", flush=True)
    rates: dict[int, float] = {}
    for nodes in counts:
        got = on_cluster(nodes, args.workers, args.experiments, args.bench)
        rates[nodes] = got["per_hour"]
        print(f"{nodes} node(s): {got['per_hour']:.0f} experiments/h ({got['done']:.0f} in "
              f"{got['span_s']:.1f} s), {got['utilisation']:.2f} decisions measured at once on "
              f"average, keeps {got['false_keeps']:.0f} of {got['measured']:.0f} measured, other "
              f"statuses {got['other']:.0f}; load {os.getloadavg()[0]:.1f}", flush=True)
    base = rates[counts[0]]
    for nodes in counts[1:]:
        print(f"{nodes} nodes: {rates[nodes] / base:.2f}x {counts[0]} node(s) "
              "(goal for 4 against 1: >= 3.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
