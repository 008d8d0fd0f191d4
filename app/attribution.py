"""Attribution: which kept changes carry a session's result, which are noise, which only
work together.

For each group of kept changes (see `app.finalize`), two measurements, both noise-aware
(`decide.evaluate`, samples in interleaved pairs A/B, B/A, ... so that machine drift and
bursts of load cancel):

* alone: the group applied to the session's base, against the base;
* left out (ablation): the final tree minus the group's change (a 3-way revert), against
  the final tree. If the revert does not apply cleanly, or the rest fails the checks or
  the benchmark without it, the group "only works together" with the others.

The figures go to `attribution.json` in the session's state folder (beside the log, which
stays append-only and about experiments) and into the report through `report_parts`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from app.config import Config
from app.engine import decide, git_cli
from app.engine.git_cli import GitError
from app.engine.measure import parse_metrics
from app.engine.process import run_command
from app.engine.records import improvement

ATTRIBUTION_FILE = "attribution.json"
MIN_SAMPLES = 5
"""At least this many pairs: with 4 pairs the smallest possible signed-rank p-value is
1/16, so nothing could ever be called credible at alpha 0.05 (5 pairs: 1/32)."""

Progress = Callable[[str], None]


@dataclass
class Comparison:
    """One interleaved A/B measurement: `candidate` against `reference`."""

    reference_samples: list[float] = field(default_factory=list)
    candidate_samples: list[float] = field(default_factory=list)
    change: float | None = None
    """Relative improvement of the candidate over the reference (positive = better)."""
    credible: bool = False
    p_value: float | None = None
    confidence: float | None = None
    error: str | None = None
    """Why there are no figures (the benchmark crashed on one side...)."""


@dataclass
class GroupAttribution:
    k: int
    branch: str
    experiments: list[int]
    paths: list[str]
    alone: Comparison
    """The group on the base vs the base."""
    left_out: Comparison | None
    """The final tree vs the final tree without the group (its loss when left out)."""
    left_out_note: str = ""
    """Why there is no ablation figure ("only works together: ...")."""
    verdict: str = ""
    alone_gain: float | None = None
    """What the group gains alone, as a fraction of the base's median (positive = better)."""
    left_out_loss: float | None = None
    """What the final result loses without the group, as a fraction of the base's median
    (positive = the result is worse without it). For independent groups the two agree."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Attribution:
    tag: str
    metric_name: str
    unit: str
    direction: str
    base_commit: str
    final_commit: str
    groups: list[GroupAttribution]
    timestamp: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "metric_name": self.metric_name, "unit": self.unit,
                "direction": self.direction, "base_commit": self.base_commit,
                "final_commit": self.final_commit, "timestamp": self.timestamp,
                "groups": [g.to_json() for g in self.groups]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attribution:
        groups = []
        for g in data.get("groups") or []:
            left = g.get("left_out")
            groups.append(GroupAttribution(
                k=int(g["k"]), branch=str(g.get("branch") or ""),
                experiments=[int(x) for x in g.get("experiments") or []],
                paths=list(g.get("paths") or []), alone=Comparison(**g["alone"]),
                left_out=Comparison(**left) if left else None,
                left_out_note=str(g.get("left_out_note") or ""),
                verdict=str(g.get("verdict") or ""), alone_gain=g.get("alone_gain"),
                left_out_loss=g.get("left_out_loss")))
        return cls(tag=str(data.get("tag") or ""), metric_name=str(data.get("metric_name") or
                   "metric"), unit=str(data.get("unit") or ""),
                   direction=str(data.get("direction") or "lower"),
                   base_commit=str(data.get("base_commit") or ""),
                   final_commit=str(data.get("final_commit") or ""), groups=groups,
                   timestamp=float(data.get("timestamp") or 0.0))


# -- scratch worktrees and measuring ---------------------------------------------------------


@contextmanager
def scratch_worktree(repo_root: Path, commit: str, config: Config) -> Iterator[Path]:
    """A detached worktree of `commit`, removed afterwards even on failure.

    Made in a temporary folder under `.autoresearch/` (already excluded from the user's
    `git status`); `[session] link` paths are symlinked in as in the session's worktree;
    `[session] setup` runs once.
    """
    from app.engine.gitops import exclude_worktrees
    from app.engine.layout import find_repo

    exclude_worktrees(find_repo(repo_root))  # keep the scratch folder out of `git status`
    parent = repo_root / ".autoresearch" / "scratch"
    try:
        with ExitStack() as stack:
            try:
                path = stack.enter_context(git_cli.scratch_worktree(
                    repo_root, commit, link=config.session.link, parent=parent,
                    prefix="finalize-"))
            except GitError as exc:
                raise MeasureError(str(exc)) from None
            if config.session.setup:
                result = run_command(config.session.setup, path, 3600)
                if not result.ok:
                    raise MeasureError(f"`session.setup` failed in a scratch worktree "
                                       f"({result.failure()}): {result.output_tail}")
            yield path
    finally:
        for folder in (parent, parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break


class MeasureError(Exception):
    """A scratch worktree could not be prepared."""


def measure_once(config: Config, cwd: Path) -> tuple[float | None, str]:
    """One benchmark run: (value, '') or (None, why it failed)."""
    m = config.metric
    result = run_command(m.command, cwd, m.timeout_s)
    if not result.ok:
        return None, f"the benchmark failed ({result.failure()}): {result.output_tail[-400:]}"
    parsed = parse_metrics(result.stdout, m.name, m.take)
    if parsed.value is None:
        return None, f"the benchmark printed no metric: {parsed.error}"
    return parsed.value, ""


def run_checks(config: Config, cwd: Path) -> str | None:
    """None when the checks pass (or there are none), else why they failed."""
    if not config.checks.command:
        return None
    result = run_command(config.checks.command, cwd, config.checks.timeout_s)
    if result.ok:
        return None
    return f"{result.failure()}; last output:\n{result.output_tail}"


def compare(config: Config, reference: Path, candidate: Path, *, repeats: int | None = None
            ) -> Comparison:
    """Measure `candidate` against `reference`, interleaved, and judge with decide.evaluate."""
    n = max(repeats or config.metric.repeats, MIN_SAMPLES)
    out = Comparison()
    for i in range(n):
        sides = [(reference, out.reference_samples), (candidate, out.candidate_samples)]
        for where, bucket in sides if decide.champion_first(i) else sides[::-1]:
            value, why = measure_once(config, where)
            if value is None:
                out.error = why
                return out
            bucket.append(value)
    d = decide.evaluate(out.candidate_samples, out.reference_samples,
                        direction=config.metric.direction, alpha=config.decide.alpha,
                        min_effect=0.0, look=1, max_looks=1, interleaved=True)
    out.credible = d.outcome == "keep"
    out.p_value, out.confidence = d.p_value, d.confidence
    out.change = improvement(statistics.median(out.reference_samples),
                             statistics.median(out.candidate_samples), config.metric.direction)
    return out


def ablation_tree(repo: pygit2.Repository, final_tree: str, group_tree: str, base_tree: str
                  ) -> tuple[str | None, list[str]]:
    """The final tree with the group's change reverted (3-way: ancestor = the group's tree,
    ours = final, theirs = base). Returns (tree id, []) or (None, conflicting paths)."""
    index = repo.merge_trees(repo[group_tree].peel(pygit2.Tree),
                             repo[final_tree].peel(pygit2.Tree),
                             repo[base_tree].peel(pygit2.Tree))
    if index.conflicts is not None:
        paths = sorted({e.path for c in index.conflicts for e in c if e is not None})
        return None, paths
    return str(index.write_tree(repo)), []


def share_of_base(c: Comparison, base: float, direction: str) -> float | None:
    """How much better the candidate is than the reference, as a fraction of `base`."""
    if c.error or not c.reference_samples or not c.candidate_samples or not base:
        return None
    diff = statistics.median(c.reference_samples) - statistics.median(c.candidate_samples)
    return (diff if direction == "lower" else -diff) / abs(base)


def fill_figures(group: GroupAttribution, direction: str) -> None:
    """Set `alone_gain`, `left_out_loss` and `verdict` from the comparisons."""
    base = statistics.median(group.alone.reference_samples) \
        if group.alone.reference_samples else 0.0
    group.alone_gain = share_of_base(group.alone, base, direction)
    group.left_out_loss = share_of_base(group.left_out, base, direction) \
        if group.left_out is not None else None
    group.verdict = verdict(group)


def verdict(group: GroupAttribution) -> str:
    """One phrase a reviewer can act on."""
    alone = group.alone
    left = group.left_out
    if alone.error:
        return "could not be measured alone"
    if left is None:
        return "only works together with the others" if group.left_out_note else \
            ("carries the result" if alone.credible else "no credible gain")
    if left.error:
        return "only works together with the others"
    if alone.credible and left.credible:
        return "carries the result" if left is alone else "carries part of the result"
    if alone.credible:
        return "helps alone, but the others make up for it (overlapping gain)"
    if left.credible:
        return "only works together with the others"
    return "noise: no credible effect alone or left out"


# -- the report ----------------------------------------------------------------------------


def write_attribution(state_dir: Path, attribution: Attribution) -> Path:
    path = Path(state_dir) / ATTRIBUTION_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(attribution.to_json(), indent=2, sort_keys=True) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def load_attribution(state_dir: Path) -> Attribution | None:
    path = Path(state_dir) / ATTRIBUTION_FILE
    try:
        return Attribution.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pct(value: float | None, c: Comparison | None, sign: float = 1.0) -> str:
    if c is None or value is None:
        return "-"
    return f"{sign * value + 0.0:+.1%}" + ("" if c.credible else " (noise)")  # no -0.0%


def report_parts(attribution: Attribution
                 ) -> tuple[list[tuple[str, str]], dict[str, dict[int, str]]]:
    """(`extra_sections`, `kept_columns`) for `app.report.build_report`."""
    lines = [
        f"Measured by `finalize` on {len(attribution.groups)} branch(es) from the session's "
        f"base `{attribution.base_commit[:7]}`, each side interleaved with its reference and "
        "judged with the session's keep rule; figures are in % of the base's "
        f"{attribution.metric_name}, positive = better. *Alone*: the group on the base vs "
        "the base. *Left out*: the final result without the group vs the final result "
        "(negative: the result loses that much without it). \"(noise)\": not credibly "
        "different.", "",
        "| group | experiments | alone | left out | verdict | branch |",
        "|---:|---|---:|---:|---|---|"]
    alone_col: dict[int, str] = {}
    left_col: dict[int, str] = {}
    group_col: dict[int, str] = {}
    for g in attribution.groups:
        alone = _pct(g.alone_gain, g.alone) if not g.alone.error else "failed"
        if g.left_out is not None and not g.left_out.error and g.left_out_loss is not None:
            left = _pct(g.left_out_loss, g.left_out, -1.0)
        else:
            left = "only together"
        exps = ", ".join(f"#{n}" for n in g.experiments)
        lines.append(f"| {g.k} | {exps} | {alone} | {left} | {g.verdict} | `{g.branch}` |")
        for n in g.experiments:
            group_col[n], alone_col[n], left_col[n] = str(g.k), alone, left
    notes = [f"- group {g.k}: {g.left_out_note}" for g in attribution.groups
             if g.left_out_note]
    if notes:
        lines += ["", *notes]
    sections = [("Attribution", "\n".join(lines))]
    columns = {"group": group_col, "alone on base": alone_col, "left out": left_col}
    return sections, columns


__all__: Sequence[str] = ("Attribution", "GroupAttribution", "Comparison", "compare",
                          "ablation_tree", "scratch_worktree", "report_parts",
                          "write_attribution", "load_attribution", "verdict", "fill_figures")
