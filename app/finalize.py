"""`finalize`: a session's kept experiments become verified, reviewable branches.

The session branch is one long line of kept commits, each on top of the previous champion.
Reviewers want independent changes they can merge one by one, so:

1. Group: kept commits whose changed paths overlap (renames count both names) go together
   (union-find); unrelated changes get separate branches.
2. Build: each group becomes `autoresearch-final/<tag>/<k>-<slug>` from the session's base,
   one commit per kept change, applied in order with a 3-way merge. One commit per change
   rather than a squash: a reviewer sees the same steps the session measured, each message
   stating the gain it was kept for, and can drop one by reverting a single commit; the tip
   also states the gain this branch was verified to give on its own.
3. Verify, in scratch worktrees (`git worktree add --detach`, always removed): each branch
   passes the checks and is measured against the base, interleaved, with the session's
   keep rule; the union of all branches must equal the session's final tree. Attribution
   (`app.attribution`) is measured in the same pass.
4. Only when everything passed are the branch refs created; if creating one fails, the ones
   made are deleted. Existing branches are never overwritten.

`plan_groups` and `finalize` are the reusable API (the TUI's history screen calls them for
selected experiments); `run_finalize` is the command.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from app.attribution import (
    Attribution,
    Comparison,
    GroupAttribution,
    MeasureError,
    ablation_tree,
    compare,
    fill_figures,
    report_parts,
    run_checks,
    scratch_worktree,
    write_attribution,
)
from app.command_options import FinalizeOptions
from app.config import CONFIG_NAME, Config, load_config
from app.engine.gitops import _walk_tree, parse_result_trailer, signature, tree_diff
from app.engine.guard import Guard
from app.engine.history import read_log
from app.engine.layout import RepoPaths, SessionLock, find_repo
from app.engine.records import Experiment, Status, improvement, plural
from app.errors import AutoresearchError, UsageError

BRANCH_PREFIX = "autoresearch-final"
Progress = Callable[[str], None]


class VerificationFailed(AutoresearchError):
    """A branch did not pass verification; nothing was created (exit status 3, DESIGN.md's
    "stopped on an error it cannot continue past")."""

    exit_status = 3


@dataclass
class KeptChange:
    n: int
    commit: str
    """The kept commit on the session branch."""
    parent: str
    """The champion it was kept on top of."""
    description: str
    paths: list[str]
    """Paths it changed (old and new names of renames)."""
    metric: float | None = None
    champion_metric: float | None = None
    confidence: float | None = None
    p_value: float | None = None


@dataclass
class Group:
    k: int
    changes: list[KeptChange]
    paths: list[str]
    branch: str
    trees: list[str] = field(default_factory=list)
    """The tree after each change of the group, applied in order on the base."""

    @property
    def tree(self) -> str:
        return self.trees[-1]

    @property
    def numbers(self) -> list[int]:
        return [c.n for c in self.changes]


@dataclass
class FinalizePlan:
    repo: RepoPaths
    tag: str
    state_dir: Path
    config: Config
    base_commit: str
    final_commit: str
    groups: list[Group]
    metric_name: str
    unit: str
    direction: str
    complete: bool
    """All kept experiments are included (then the union must equal the final tree)."""
    kept: int

    def describe(self) -> str:
        """The grouping, as the dry run prints it."""
        lines = [f"session {self.tag}: {plural(self.kept, 'kept experiment')} between base "
                 f"{self.base_commit[:7]} and {self.final_commit[:7]} -> "
                 f"{_branches(len(self.groups))}"]
        for g in self.groups:
            lines.append(f"  {g.branch}")
            lines.append(f"      files: {', '.join(g.paths[:8])}"
                         + (f" (+{len(g.paths) - 8} more)" if len(g.paths) > 8 else ""))
            for c in g.changes:
                lines.append(f"      #{c.n} {c.commit[:7]} {_short(c.description, 60)}"
                             f"{_session_gain(c, self)}")
        return "\n".join(lines)


@dataclass
class FinalizeResult:
    branches: list[str]
    attribution: Attribution
    report: Path | None
    attribution_path: Path
    unverified: list[tuple[str, str]] = field(default_factory=list)
    """(branch, why) of the groups that failed verification: not created, or created under
    `autoresearch-final/<tag>/unverified/` with `include_unverified`."""


# -- planning --------------------------------------------------------------------------------


def plan_groups(*, cwd: Path | None = None, tag: str | None = None,
                selected: Sequence[int] | None = None,
                together: Sequence[Sequence[int]] = (), config: Config | None = None,
                repo: RepoPaths | None = None) -> FinalizePlan:
    """Read the session and group its kept changes (or the `selected` experiment numbers).

    `together`: sets of experiment numbers to put in one group whatever their files (for
    changes that only pass the checks together, as a failed finalize reports).

    Writes nothing but git tree objects (unreferenced, so invisible). UsageError when there
    is no such session or a selected number is not a kept experiment.
    """
    from app.session_data import locate_session

    repo = repo or find_repo(cwd or Path.cwd())
    _, state_dir = locate_session(tag, repo.root)
    contents = read_log(state_dir / "log.jsonl")
    if contents.broken is not None:
        raise UsageError(contents.broken_message(state_dir / "log.jsonl"))
    starts = contents.of_type("session_start")
    if not starts or starts[0].get("read_only"):
        raise UsageError(f"session {state_dir.name!r} is imported or has no start record; "
                         "finalize works on sessions run in this repository.")
    start = starts[0]
    tag = str(start.get("tag") or state_dir.name)
    if config is None:
        path = repo.root / CONFIG_NAME
        if not path.exists():
            raise UsageError(f"no {CONFIG_NAME} in {repo.root}; finalize needs the benchmark "
                             "and checks commands from it (restore it or pass --config).")
        config = load_config(path)
    main = pygit2.Repository(str(repo.common_dir))
    ref = main.references.get(f"refs/heads/autoresearch/{tag}")
    if ref is None:
        raise UsageError(f"the session branch autoresearch/{tag} is gone (pruned?); there is "
                         "nothing to finalize.")
    base = str(start.get("base_commit") or "")
    final = str(ref.target)
    if not base or base not in main:
        raise UsageError(f"session {tag!r} does not record a base commit that exists; it "
                         "cannot be finalized.")
    kept = _kept_changes(main, base, final, contents.experiments)
    if selected is not None:
        wanted = set(selected)
        unknown = wanted - {c.n for c in kept}
        if unknown:
            listed = ", ".join(f"#{n}" for n in sorted(unknown))
            which = (f"experiment {listed} is not a kept change" if len(unknown) == 1
                     else f"experiments {listed} are not kept changes")
            raise UsageError(f"{which} of this session; select kept ones only.")
        chosen = [c for c in kept if c.n in wanted]
    else:
        chosen = kept
    last = starts[-1]
    plan = FinalizePlan(repo=repo, tag=tag, state_dir=state_dir, config=config,
                        base_commit=base, final_commit=final, groups=[],
                        metric_name=str(last.get("metric_name") or config.metric.name),
                        unit=str(last.get("unit") or config.metric.unit),
                        direction=str(last.get("direction") or config.metric.direction),
                        complete=len(chosen) == len(kept), kept=len(chosen))
    plan.groups = _group(main, chosen, tag, base, together)
    return plan


def _kept_changes(main: pygit2.Repository, base: str, final: str,
                  experiments: Sequence[Experiment]) -> list[KeptChange]:
    """The branch's commits from the base to the tip (the branch is the truth: it holds
    exactly the kept commits), described from the log."""
    by_commit = {e.commit: e for e in experiments if e.status is Status.KEEP and e.commit}
    chain: list[pygit2.Commit] = []
    commit = main[final].peel(pygit2.Commit)
    base_oid = pygit2.Oid(hex=base)
    while commit.id != base_oid:
        if not commit.parents:
            raise UsageError(f"the session branch does not descend from its base {base[:7]}; "
                             "it was rewritten, so it cannot be finalized.")
        chain.append(commit)
        commit = commit.parents[0]
    out = []
    for c in reversed(chain):
        exp = by_commit.get(str(c.id))
        trailer = parse_result_trailer(c.message) or {}
        n = exp.n if exp else int(trailer.get("n") or 0)
        diff = tree_diff(c.parents[0].tree, c.tree)
        diff.find_similar()
        paths: list[str] = []
        for delta in diff.deltas:
            for p in (delta.old_file.path, delta.new_file.path):
                if p not in paths:
                    paths.append(p)
        out.append(KeptChange(
            n=n, commit=str(c.id), parent=str(c.parents[0].id),
            description=(exp.description if exp else "") or c.message.strip().splitlines()[0],
            paths=paths, metric=exp.metric if exp else None,
            champion_metric=exp.champion_reference() if exp else None,
            confidence=exp.confidence if exp else None,
            p_value=exp.p_value if exp else None))
    return out


def _group(main: pygit2.Repository, changes: list[KeptChange], tag: str, base: str,
           together: Sequence[Sequence[int]] = ()) -> list[Group]:
    """Union-find over changed paths; groups in the order of their first change."""
    parent = list(range(len(changes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, c in enumerate(changes):
        for p in c.paths:
            if p in owner:
                parent[find(i)] = find(owner[p])
            else:
                owner[p] = i
    index_of = {c.n: i for i, c in enumerate(changes)}
    for numbers in together:
        found = [index_of[n] for n in numbers if n in index_of]
        for i in found[1:]:
            parent[find(i)] = find(found[0])
    members: dict[int, list[int]] = {}
    for i in range(len(changes)):
        members.setdefault(find(i), []).append(i)
    groups: list[Group] = []
    for k, idx in enumerate(sorted(members.values(), key=lambda m: m[0]), start=1):
        chosen = [changes[i] for i in sorted(idx)]
        paths = sorted({p for c in chosen for p in c.paths})
        # Named after its biggest change, and saying that it holds more than that one.
        more = f"-and-{len(chosen) - 1}-more" if len(chosen) > 1 else ""
        branch = f"{BRANCH_PREFIX}/{tag}/{k}-{_slug(_headline(chosen))}{more}"
        group = Group(k, chosen, paths, branch)
        group.trees = _apply_in_order(main, base, chosen)
        groups.append(group)
    return groups


def _branches(count: int) -> str:
    return f"{count} branch" if count == 1 else f"{count} branches"


def _headline(changes: list[KeptChange]) -> str:
    """The description that names the branch: the change with the largest session gain."""
    def gain(c: KeptChange) -> float:
        if c.metric is None or not c.champion_metric:
            return 0.0
        return abs(c.metric - c.champion_metric) / abs(c.champion_metric)

    return max(changes, key=gain).description


def _slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = words[:40].rstrip("-")
    if len(words) > 40 and "-" in slug:
        slug = slug.rsplit("-", 1)[0]
    return slug or "change"


def _apply_in_order(main: pygit2.Repository, base: str, changes: list[KeptChange]
                    ) -> list[str]:
    """Each change replayed on the base (3-way: its parent -> its commit); the trees."""
    tree = main[base].peel(pygit2.Tree)
    out = []
    applied: list[int] = []
    for c in changes:
        commit = main[c.commit].peel(pygit2.Commit)
        index = main.merge_trees(main[c.parent].peel(pygit2.Tree), tree, commit.tree)
        if index.conflicts is not None:
            paths = sorted({e.path for x in index.conflicts for e in x if e is not None})
            after = f" after {', '.join(f'#{n}' for n in applied)}" if applied else ""
            raise UsageError(f"experiment #{c.n} does not apply on the base{after} (conflict "
                             f"in {', '.join(paths[:5])}); select the experiments it builds "
                             "on too.")
        tree = main[index.write_tree(main)].peel(pygit2.Tree)
        out.append(str(tree.id))
        applied.append(c.n)
    return out


# -- finalizing ------------------------------------------------------------------------------


def _unverified_branch(plan: FinalizePlan, g: Group) -> str:
    return g.branch.replace(f"autoresearch-final/{plan.tag}/",
                            f"autoresearch-final/{plan.tag}/unverified/", 1)


def _tampered(plan: FinalizePlan, main: pygit2.Repository, g: Group) -> list[str]:
    """The protected files (tests, runner configuration, benchmark, config) that a group
    changes: such a change proves nothing by passing the checks it rewrote."""
    base_tracked = _walk_tree(main, main[plan.base_commit].peel(pygit2.Tree))
    guard = Guard.from_config(plan.config, plan.repo.root, base_tracked)
    return guard.violations(g.paths)


def _failed_verification(plan: FinalizePlan, g: Group, attr: GroupAttribution,
                         tampered: list[str], simpler: bool) -> str:
    """Why a group that passed its checks is still not verified ("" when it is)."""
    if tampered:
        return f"it changes protected files ({', '.join(tampered[:5])})"
    alone = attr.alone
    gain = improvement(statistics.median(alone.reference_samples),
                       statistics.median(alone.candidate_samples), plan.direction)
    if not alone.credible:
        if plan.config.decide.prefer_simpler and simpler and gain >= 0:
            return ""  # kept as a simplification with no measurable cost, as the loop does
        return f"alone it is {_comparison_text(alone, plan)}"
    if gain <= 0:
        return f"alone it is no better than the base: {_comparison_text(alone, plan)}"
    return ""


def finalize(plan: FinalizePlan, *, progress: Progress = print,
             include_unverified: bool = False) -> FinalizeResult:
    """Verify every group, then create its branch; measure attribution on the way.

    Raises UsageError if a branch name is taken (before anything runs) and
    VerificationFailed if a group fails its checks or the union differs from the final
    tree; in both cases no branch exists afterwards.
    """
    main = pygit2.Repository(str(plan.repo.common_dir))
    for g in plan.groups:
        if main.references.get(f"refs/heads/{g.branch}") is not None:
            raise UsageError(f"branch {g.branch} already exists; delete it (git branch -D "
                             f"{g.branch}) or rename it, then run finalize again.")
    if not plan.groups:
        raise UsageError(f"session {plan.tag!r} has no kept experiments to finalize.")
    started = time.monotonic()

    def say(text: str) -> None:
        progress(f"[{time.monotonic() - started:6.1f}s] {text}")

    final_tree = str(main[plan.final_commit].peel(pygit2.Commit).tree_id)
    base_tree = str(main[plan.base_commit].peel(pygit2.Commit).tree_id)
    if plan.complete:
        union = _union(main, base_tree, [g.tree for g in plan.groups])
        if union != final_tree:
            raise VerificationFailed(
                "the branches together do not reproduce the session's final tree "
                f"({plan.final_commit[:7]}); nothing was created. This is a bug or a rewritten "
                "session branch: please report it with the output of `git log "
                f"autoresearch/{plan.tag}`.")
        say(f"union of {_branches(len(plan.groups))} equals the final tree "
            f"{plan.final_commit[:7]}")
    sig = signature(main)
    # Provisional commits (no refs): worktrees need commits; the tips are made again with
    # the verified gain in their message once it is known.
    chains = {g.k: _commit_chain(main, plan, g, sig) for g in plan.groups}
    config = plan.config
    results: list[GroupAttribution] = []
    tampered = {g.k: _tampered(plan, main, g) for g in plan.groups}
    try:
        with scratch_worktree(plan.repo.root, plan.base_commit, config) as base_wt, \
                scratch_worktree(plan.repo.root, plan.final_commit, config) as final_wt:
            for g in plan.groups:
                results.append(_verify_group(main, plan, g, chains[g.k][-1], base_wt, final_wt,
                                             final_tree, base_tree, sig, say))
    except MeasureError as exc:
        raise VerificationFailed(f"{str(exc).rstrip('.')}; nothing was created.") from None
    # Checks passed everywhere; a group whose gain alone is not credible, or that rewrote
    # protected files, is still not verified: not created (or created as unverified).
    unverified: list[tuple[str, str]] = []
    verified: list[tuple[Group, GroupAttribution]] = []
    branch_of: dict[int, str] = {}
    for g, attr in zip(plan.groups, results):
        stats = tree_diff(main[plan.base_commit].peel(pygit2.Tree),
                          main[g.tree].peel(pygit2.Tree)).stats
        why = _failed_verification(plan, g, attr, tampered[g.k],
                                   simpler=stats.deletions > stats.insertions)
        if why:
            unverified.append((g.branch, why))
            say(f"group {g.k}: NOT verified: {why}")
            if include_unverified:
                branch_of[g.k] = _unverified_branch(plan, g)
        else:
            verified.append((g, attr))
            branch_of[g.k] = g.branch
    for g in plan.groups:
        name = branch_of.get(g.k)
        if name and name != g.branch and main.references.get(f"refs/heads/{name}") is not None:
            raise UsageError(f"branch {name} already exists; delete it (git branch -D {name}) "
                             "or rename it, then run finalize again.")
    tips: dict[int, str] = {}
    why_of = dict(unverified)
    for g, attr in zip(plan.groups, results):
        if g.k not in branch_of:
            continue
        chain = chains[g.k]
        provisional = main[chain[-1]].peel(pygit2.Commit)
        stamp = _verified_text(plan, attr) if g.branch not in why_of else (
            f"NOT verified by autoresearch-tui finalize: {why_of[g.branch]}.")
        message = provisional.message.rstrip("\n") + "\n\n" + stamp + "\n"
        tips[g.k] = str(main.create_commit(None, sig, sig, message, provisional.tree_id,
                                           [p.id for p in provisional.parents]))
    made: list[str] = []
    try:
        for g in plan.groups:
            if g.k not in branch_of:
                continue
            try:
                main.branches.local.create(branch_of[g.k],
                                           main[tips[g.k]].peel(pygit2.Commit))
            except (pygit2.GitError, ValueError, KeyError) as exc:
                raise VerificationFailed(f"could not create branch {g.branch} ({exc}); the "
                                         "branches made before it were deleted again.") \
                    from None
            made.append(branch_of[g.k])
    except BaseException:
        # Also on Ctrl-C: all of the branches or none.
        for name in made:
            main.branches.local.delete(name)
        raise
    for name in made:
        say(f"created {name}")
    attribution = Attribution(tag=plan.tag, metric_name=plan.metric_name, unit=plan.unit,
                              direction=plan.direction, base_commit=plan.base_commit,
                              final_commit=plan.final_commit, groups=results)
    attribution_path = write_attribution(plan.state_dir, attribution)
    report = _write_report(plan, attribution, say)
    return FinalizeResult([g.branch for g, _ in verified], attribution, report,
                          attribution_path, unverified)


def _union(main: pygit2.Repository, base_tree: str, trees: list[str]) -> str:
    tree = main[base_tree].peel(pygit2.Tree)
    ancestor = tree
    for t in trees:
        index = main.merge_trees(ancestor, tree, main[t].peel(pygit2.Tree))
        if index.conflicts is not None:
            return ""
        tree = main[index.write_tree(main)].peel(pygit2.Tree)
    return str(tree.id)


def _commit_chain(main: pygit2.Repository, plan: FinalizePlan, g: Group,
                  sig: pygit2.Signature) -> list[str]:
    parent = pygit2.Oid(hex=plan.base_commit)
    out = []
    for change, tree in zip(g.changes, g.trees):
        message = (f"{change.description.strip() or f'experiment {change.n}'}\n\n"
                   f"Kept as experiment #{change.n} of autoresearch session {plan.tag}"
                   f"{_session_gain(change, plan)}.\n"
                   f"Autoresearch-Experiment: {plan.tag}#{change.n} ({change.commit[:12]})\n")
        parent = main.create_commit(None, sig, sig, message, pygit2.Oid(hex=tree), [parent])
        out.append(str(parent))
    return out


def _verify_group(main: pygit2.Repository, plan: FinalizePlan, g: Group, tip: str,
                  base_wt: Path, final_wt: Path, final_tree: str, base_tree: str,
                  sig: pygit2.Signature, say: Progress) -> GroupAttribution:
    config = plan.config
    with scratch_worktree(plan.repo.root, tip, config) as wt:
        say(f"group {g.k} ({_numbers(g)}): running the checks")
        failure = run_checks(config, wt)
        if failure:
            if run_checks(config, final_wt) is None:
                advice = (f"These changes only work together with others: review and merge "
                          f"the session branch autoresearch/{plan.tag} as a whole (it passes "
                          "the checks), or select them together in the history screen.")
            else:
                advice = (f"The session branch autoresearch/{plan.tag} fails the checks as "
                          "well: do not merge it; find the kept experiment that broke them "
                          "in the history screen and finalize only the experiments before "
                          "it (select them together).")
            raise VerificationFailed(
                f"{g.branch} ({_numbers(g)}) fails the checks on its own, without the other "
                f"kept changes: {failure}\nNothing was created. {advice}")
        say(f"group {g.k}: measuring alone against the base")
        alone = compare(config, base_wt, wt)
    if alone.error:
        raise VerificationFailed(f"{g.branch} could not be measured on its own: {alone.error}; "
                                 "nothing was created.")
    say(f"group {g.k}: alone {_comparison_text(alone, plan)}")
    left_out: Comparison | None = None
    note = ""
    ablated, conflicts = ablation_tree(main, final_tree, g.tree, base_tree)
    if ablated == base_tree and g.tree == final_tree:
        left_out = alone  # the only group: without it is the base, with it the final tree
    elif ablated is None:
        note = ("only works together: leaving it out of the final result does not apply "
                f"cleanly (conflict in {', '.join(conflicts[:5])})")
    else:
        commit = str(main.create_commit(None, sig, sig, f"without group {g.k}\n",
                                        pygit2.Oid(hex=ablated),
                                        [pygit2.Oid(hex=plan.final_commit)]))
        with scratch_worktree(plan.repo.root, commit, config) as wt:
            say(f"group {g.k}: the final result without it (checks, then measuring)")
            failure = run_checks(config, wt)
            if failure:
                note = "only works together: the other changes fail the checks without it"
            else:
                left_out = compare(config, wt, final_wt)
                if left_out.error:
                    note = f"only works together: without it {left_out.error}"
    attr = GroupAttribution(k=g.k, branch=g.branch, experiments=g.numbers, paths=g.paths,
                            alone=alone, left_out=left_out, left_out_note=note)
    fill_figures(attr, plan.direction)
    if left_out is not None and not left_out.error:
        say(f"group {g.k}: without it the final result goes "
            f"{_comparison_text(left_out, plan, reverse=True)}")
    elif note:
        say(f"group {g.k}: {note}")
    return attr


def _write_report(plan: FinalizePlan, attribution: Attribution, say: Progress) -> Path | None:
    from app.report import build_report
    from app.session_data import load_session

    data = load_session(plan.state_dir)
    if not data.experiments:
        return None
    sections, columns = report_parts(attribution)
    path = build_report(plan.state_dir, data.experiments, data.session_start,
                        plan.state_dir / "report.md", records=data.records,
                        extra_sections=sections, kept_columns=columns)
    say(f"report with attribution: {path}")
    return path


# -- text --------------------------------------------------------------------------------------


def _numbers(g: Group) -> str:
    return "experiment" + ("s " if len(g.changes) > 1 else " ") + ", ".join(
        f"#{n}" for n in g.numbers)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _session_gain(c: KeptChange, plan: FinalizePlan) -> str:
    if c.metric is None or not c.champion_metric:
        return ""
    unit = f" {plan.unit}" if plan.unit else ""
    change = (c.metric - c.champion_metric) / abs(c.champion_metric)
    extra = f", confidence {c.confidence:.1f}" if c.confidence is not None else ""
    return (f": {plan.metric_name} {_fmt(c.champion_metric)} -> {_fmt(c.metric)}{unit} "
            f"({change:+.1%} vs its champion{extra})")


def _comparison_text(c: Comparison, plan: FinalizePlan, reverse: bool = False) -> str:
    ref = statistics.median(c.reference_samples)
    new = statistics.median(c.candidate_samples)
    if reverse:  # from the candidate to the reference (the final tree -> without a group)
        ref, new = new, ref
    unit = f" {plan.unit}" if plan.unit else ""
    rel = (new - ref) / abs(ref) if ref else 0.0
    p = f"p={c.p_value:.3g}" if c.p_value is not None else "p=-"
    judged = "credible" if c.credible else "not credible (noise)"
    return (f"{_fmt(ref)} -> {_fmt(new)}{unit} ({rel:+.1%}, {p}, {judged}; "
            f"{len(c.candidate_samples)} runs each)")


def _verified_text(plan: FinalizePlan, attr: GroupAttribution) -> str:
    gain = improvement(statistics.median(attr.alone.reference_samples),
                       statistics.median(attr.alone.candidate_samples), plan.direction)
    word = f"{gain:.1%} better" if gain >= 0 else f"{-gain:.1%} worse"
    return (f"Verified by autoresearch-tui finalize: checks pass; this branch alone is {word} "
            f"than base {plan.base_commit[:7]}: {plan.metric_name} "
            f"{_comparison_text(attr.alone, plan)}.\nAttribution: {attr.verdict}.")


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- the command -------------------------------------------------------------------------------


def run_finalize(options: FinalizeOptions) -> int:
    """`finalize [--tag TAG] [--dry-run]`."""
    config_arg = options.config
    repo = find_repo(Path.cwd())
    config = None
    if config_arg:
        path = Path(config_arg).expanduser()
        if not path.is_absolute():
            path = (Path.cwd() / path).resolve()
        if not path.exists():
            raise UsageError(f"--config {config_arg} does not exist; fix the path.")
        config = load_config(path)
    plan = plan_groups(tag=options.tag, config=config, repo=repo)
    if not plan.groups:
        print(f"session {plan.tag} kept no experiments: there is nothing to finalize.")
        return 0
    print(plan.describe())
    if options.dry_run:
        print("dry run: nothing was created; run without --dry-run to verify and create the "
              "branches.")
        return 0
    lock = SessionLock(plan.state_dir / "lock")
    lock.acquire()  # a running session would move the branch under us
    try:
        result = finalize(plan, include_unverified=options.include_unverified)
    finally:
        lock.release()
    print("")
    print(f"{_branches(len(result.branches))} ready for review:")
    verdicts = {attr.branch: attr.verdict for attr in result.attribution.groups}
    for name in result.branches:
        print(f"  {name}  ({verdicts.get(name, '')})")
    for name, why in result.unverified:
        made = options.include_unverified
        where = f"created as {name.replace(f'/{plan.tag}/', f'/{plan.tag}/unverified/', 1)}" \
            if made else "not created"
        print(f"  {name}: {where}: NOT verified: {why}")
    print(f"attribution: {result.attribution_path}")
    if result.report:
        print(f"report: {result.report}")
    return 0
