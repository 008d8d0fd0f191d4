"""Derive `criterion_real_messages.jsonl` (cargo-criterion's `--message-format=json`
stream) from the real criterion.rs 0.3.6 files of the `sort/small` benchmark next to it.

cargo-criterion is not packaged in Debian and crates.io is not reachable here, so its
stream cannot be recorded; but it is a fixed re-serialisation of the figures criterion.rs
writes (cargo-criterion `src/message_formats/json.rs`, `BenchmarkComplete` and
`BenchmarkGroupComplete`, and the criterion.rs book's "External Tools" page):

- `iteration_count`, `measured_values`: `sample.json`'s `iters` (as integers) and `times`
  (each the total of one sample, in ns; `unit` "ns": `scale_for_machines` keeps ns);
- `mean`, `median`, `median_abs_dev`, `slope`: `estimates.json`'s `point_estimate` and
  95% `confidence_interval` bounds, as {"estimate", "lower_bound", "upper_bound", "unit"};
- `typical`: the slope's when there is one, else the mean's (`Estimates::typical`);
- `throughput`: [] (none configured); `change`: null (no earlier run to compare with);
- `report_directory`: `target/criterion/reports/<id>`; keys in the structs' order, one
  compact JSON object per line, `reason` first (serde_json's `to_string`);
- a `group-complete` line for the group after its benchmarks.

Run `python3 tests/data/formats/cargo_criterion_messages.py` to rewrite the file;
tests/test_formats.py checks that it is this script's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "criterion_real_messages.jsonl"
GROUP, BENCH = "sort", "sort/small"


def _interval(estimate: dict[str, Any]) -> dict[str, Any]:
    ci = estimate["confidence_interval"]
    return {"estimate": estimate["point_estimate"], "lower_bound": ci["lower_bound"],
            "upper_bound": ci["upper_bound"], "unit": "ns"}


def messages() -> str:
    sample = json.loads((HERE / "criterion_real_sample.json").read_text())
    est = json.loads((HERE / "criterion_real_estimates.json").read_text())
    slope = _interval(est["slope"]) if est.get("slope") else None
    complete = {
        "reason": "benchmark-complete", "id": BENCH,
        "report_directory": f"target/criterion/reports/{BENCH}",
        "iteration_count": [int(i) for i in sample["iters"]],
        "measured_values": sample["times"], "unit": "ns", "throughput": [],
        "typical": slope or _interval(est["mean"]), "mean": _interval(est["mean"]),
        "median": _interval(est["median"]), "median_abs_dev": _interval(est["median_abs_dev"]),
        "slope": slope, "change": None,
    }
    group = {"reason": "group-complete", "group_name": GROUP, "benchmarks": [BENCH],
             "report_directory": f"target/criterion/reports/{GROUP}"}
    return "".join(json.dumps(m, separators=(",", ":")) + "\n" for m in (complete, group))


if __name__ == "__main__":
    OUT.write_text(messages())
