"""criterion's own result files, recorded from a real run (issue 17).

tests/data/formats/criterion_real_estimates.json and criterion_real_sample.json are
`target/criterion/sort/small/new/{estimates,sample}.json` as criterion.rs 0.3.6 (Debian's
librust-criterion-dev, built offline) wrote them for tests/data/formats/criterion_sort.rs
(`cargo bench -- --warm-up-time 1 --measurement-time 2`).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from app.config import MetricConfig
from app.engine import formats

DATA = Path(__file__).parent / "data" / "formats"
ESTIMATES = DATA / "criterion_real_estimates.json"
SAMPLE = DATA / "criterion_real_sample.json"


def read(path: Path, **kwargs: object) -> formats.Reading:
    m = MetricConfig(command="true", format="criterion", **kwargs)  # type: ignore[arg-type]
    reading = formats.read_run(m, path.read_text(), None)
    assert isinstance(reading, formats.Reading)
    return reading


def test_real_estimates_json_gives_criterions_point_estimates_in_the_configured_unit() -> None:
    est = json.loads(ESTIMATES.read_text())
    assert formats.sniff(ESTIMATES.read_text()) == "criterion"
    median = read(ESTIMATES, unit="us")
    assert median.error is None
    assert median.value == pytest.approx(est["median"]["point_estimate"] / 1000)  # ns -> us
    mean = read(ESTIMATES, unit="us", stat="mean")
    assert mean.value == pytest.approx(est["mean"]["point_estimate"] / 1000)


def test_real_sample_json_gives_the_per_iteration_samples_criterion_estimated_from() -> None:
    """sample.json holds each sample's total time and iteration count: per-iteration times
    whose median and mean are exactly criterion's own point estimates, and which reach the
    keep rule as within-process samples."""
    est = json.loads(ESTIMATES.read_text())
    raw = json.loads(SAMPLE.read_text())
    assert formats.sniff(SAMPLE.read_text()) == "criterion"
    reading = read(SAMPLE, unit="ns")
    assert reading.error is None
    assert len(reading.samples) == len(raw["iters"]) == 100
    assert reading.value == pytest.approx(est["median"]["point_estimate"])
    assert statistics.fmean(reading.samples) == pytest.approx(est["mean"]["point_estimate"])
    assert read(SAMPLE, unit="ns", stat="mean").value == pytest.approx(
        est["mean"]["point_estimate"])


def test_a_sample_json_without_samples_is_a_clear_error() -> None:
    m = MetricConfig(command="true", format="criterion")
    reading = formats.read_run(m, '{"sampling_mode": "Linear", "iters": [], "times": []}',
                               None)
    assert reading.value is None and reading.error is not None
    assert "sample.json lists no samples" in reading.error


MESSAGES = DATA / "criterion_real_messages.jsonl"


def test_the_cargo_criterion_stream_is_derived_from_the_real_files_by_its_script() -> None:
    """criterion_real_messages.jsonl is cargo-criterion's JSON stream rebuilt from the real
    files above by tests/data/formats/cargo_criterion_messages.py (cargo-criterion itself
    cannot be built here: not in Debian, no crates registry); it must be that script's
    output, not an edited copy."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("derive", DATA / "cargo_criterion_messages.py")
    assert spec is not None and spec.loader is not None
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    assert MESSAGES.read_text() == derive.messages()


def test_the_cargo_criterion_stream_of_a_real_run_gives_criterions_own_figures() -> None:
    est = json.loads(ESTIMATES.read_text())
    raw = json.loads(SAMPLE.read_text())
    text = MESSAGES.read_text()
    assert formats.sniff(text) == "criterion"
    median = read(MESSAGES, unit="us", name="sort/small")
    assert median.error is None
    assert median.value == pytest.approx(est["median"]["point_estimate"] / 1000)
    fastest = read(MESSAGES, unit="ns", name="sort/small", stat="min")
    assert fastest.value == pytest.approx(min(t / i for t, i in zip(raw["times"], raw["iters"])))
    # cargo's own lines around the stream are skipped
    noisy = "   Compiling sort v0.1.0\n" + text + "Finished\n"
    m = MetricConfig(command="true", format="criterion", name="sort/small", unit="ns")
    assert formats.read_run(m, noisy, None).value == pytest.approx(est["median"]["point_estimate"])
