"""The memory digest: every experiment of a session, one short line per idea, in a budget.

An agent shown only the last `history_window` experiments proposes again, at experiment 90,
what failed at experiment 40. The digest is the session's memory: every experiment is
represented, by its own line (`#12 discard +0.4%: cache the regex`) or by a group line
for a repeated idea (`7 variants of 'cache the regex' (#3, #8, #12-#15): 1 keep,
6 discard; best -4.1%`). It is bounded by `[agent] memory_tokens` (estimated at 4 bytes a
token): as a session grows, descriptions get shorter, similar ideas are grouped more
coarsely, and finally the oldest ideas merge into one line of counts, so experiment 1,000
costs what experiment 300 costs.

Pure: records in, text out (no git, no agent), so tests and benchmarks/memory_digest.py
use it directly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.engine.records import Experiment, Status, format_change, improvement

DEFAULT_TOKENS = 2_000
BYTES_PER_TOKEN = 4
OLDER_MARK = "[older champion]"
SOFT_SHARE = 0.5
"""The digest coarsens its grouping to stay within this share of `memory_tokens`; the
rest of the budget is room for sessions whose coarsest grouping is still long."""

_WORD = re.compile(r"[a-z][a-z0-9_]*")
_STOP = frozenset("""a an the of to in on for and or with by from into at as is are be it its
this that these those use using via per than then so do does more less instead""".split())
"""Words that do not tell one idea from another ("use a set" and "a set" are one idea)."""

_LEVELS: tuple[tuple[int | None, int], ...] = (
    (None, 90), (None, 60), (None, 40), (4, 36), (3, 32), (2, 28), (1, 24))
"""(how many leading significant words make an idea's key, None: all of them as a set;
how many characters of description a line shows), finest first."""


def estimate_tokens(text: str) -> int:
    """Tokens, estimated from the UTF-8 size (the estimate the budget is stated in)."""
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


@functools.lru_cache(maxsize=4096)
def idea_key(description: str, width: int | None = None) -> tuple[str, ...]:
    """What makes two descriptions the same idea: their significant words (numbers and
    filler dropped), as a set, or only the first `width` of them in order. Cached: a
    digest of a long night reads each description at every level, every experiment."""
    words = [w for w in _WORD.findall(description.lower()) if w not in _STOP]
    if width is None:
        return tuple(sorted(set(words)))
    return tuple(words[:width])


def format_numbers(numbers: Sequence[int], limit: int = 4) -> str:
    """`#3, #8, #12-#15`: experiment numbers with runs as ranges; past `limit` items, the
    first `limit - 1`, an ellipsis and the last."""
    items: list[str] = []
    ordered = sorted(numbers)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        items.append(f"#{ordered[i]}" if i == j else f"#{ordered[i]}-#{ordered[j]}")
        i = j + 1
    if len(items) > limit:
        items = items[:limit - 1] + ["...", items[-1]]
    return ", ".join(items)


def _clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:max(1, limit - 3)].rstrip() + "..."


@dataclass(frozen=True)
class Champion:
    """Where the session stands now: what 'discarded on an older champion' is judged by."""

    metric: float | None = None
    commit: str = ""
    noise: float | None = None
    """The benchmark's relative noise (None: unknown, any improvement counts)."""
    direction: str = "lower"


def on_older_champion(e: Experiment, now: Champion) -> bool:
    """A discarded idea measured against a champion that has since improved by more than
    the noise: the code moved on, so the idea may pay off now."""
    if e.status is not Status.DISCARD or e.champion_metric is None or now.metric is None:
        return False
    if now.commit and e.parent == now.commit:
        return False
    gain = improvement(e.champion_metric, now.metric, now.direction)
    return gain > max(now.noise or 0.0, 0.0)


@dataclass
class _Group:
    members: list[Experiment] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.members[0].n


@dataclass(frozen=True)
class Digest:
    """The digest's text and what it covers (benchmarks and tests read these)."""

    text: str
    total: int
    """Experiments in the session (the baseline excluded)."""
    lines: int
    level: int
    """How coarse it had to be: 0 (finest) to len(_LEVELS) (oldest ideas merged)."""

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass(frozen=True)
class _Facts:
    """Each experiment's change and whether it was discarded on an older champion, worked
    out once per digest (every level renders every experiment)."""

    direction: str
    delta: dict[int, float | None]
    older: dict[int, bool]

    @classmethod
    def of(cls, experiments: Sequence[Experiment], now: Champion) -> _Facts:
        return cls(now.direction, {e.n: e.delta() for e in experiments},
                   {e.n: on_older_champion(e, now) for e in experiments})


def _best(members: Sequence[Experiment], facts: _Facts) -> Experiment | None:
    measured = [e for e in members if facts.delta[e.n] is not None]
    if not measured:
        return None
    sign = 1 if facts.direction == "lower" else -1
    return min(measured, key=lambda e: sign * (facts.delta[e.n] or 0.0))


def _counts(members: Sequence[Experiment]) -> str:
    counts: dict[str, int] = {}
    for e in members:
        counts[str(e.status)] = counts.get(str(e.status), 0) + 1
    order = [str(s) for s in Status]
    return ", ".join(f"{counts[k]} {k}" for k in sorted(counts, key=order.index))


def _single_line(e: Experiment, chars: int, facts: _Facts) -> str:
    line = f"- #{e.n} {e.status}"
    if facts.delta[e.n] is not None:
        line += f" {format_change(facts.delta[e.n])}"
    if e.duplicate_of is not None:
        line += f" (same as #{e.duplicate_of})"
    line += f": {_clip(e.description, chars) or '(no description)'}"
    if facts.older[e.n]:
        line += f" {OLDER_MARK}"
    return line


def _group_line(members: Sequence[Experiment], chars: int, facts: _Facts) -> str:
    # The shortest wording names the idea best ("cache the regex", not one variant of it).
    named = [e.description for e in members if e.description.strip()]
    label = _clip(min(named, key=len), chars) if named else "(no description)"
    line = (f"- {len(members)} variants of '{label}' ({format_numbers([e.n for e in members])})"
            f": {_counts(members)}")
    kept = [e.n for e in members if e.status is Status.KEEP]
    if kept:
        line += f"; kept {format_numbers(kept, 3)}"
    best = _best(members, facts)
    if best is not None:
        line += f"; best {format_change(facts.delta[best.n])} (#{best.n})"
    older = sum(facts.older[e.n] for e in members)
    if older:
        line += f"; {older} older"
    return line


def _merged_line(members: Sequence[Experiment]) -> str:
    return (f"- {len(members)} earlier experiments ({format_numbers([e.n for e in members], 3)})"
            f": {_counts(members)}")


def _group(experiments: Sequence[Experiment], width: int | None) -> list[_Group]:
    groups: dict[tuple[str, ...], _Group] = {}
    out: list[_Group] = []
    for e in experiments:
        key = idea_key(e.description, width)
        if not key:  # no words at all: an idea of its own
            out.append(_Group([e]))
            continue
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()
            out.append(group)
        group.members.append(e)
    return sorted(out, key=lambda g: g.first)


def _render(groups: Sequence[_Group], chars: int, facts: _Facts) -> list[str]:
    return [_single_line(g.members[0], chars, facts) if len(g.members) == 1
            else _group_line(g.members, chars, facts) for g in groups]


def _header(total: int, older: bool) -> str:
    head = (f"## Memory: all {total} experiments so far, one line per idea (repeated ideas "
            "grouped; a change is the metric's own change against the champion of its day)")
    if older:
        head += (f"\nIdeas marked {OLDER_MARK} (in groups: 'N older') were discarded "
                 "before the champion improved by more than the noise: where one is still "
                 "relevant, it may be worth a retry on today's code.")
    return head


def digest(experiments: Sequence[Experiment], now: Champion,
           max_tokens: int = DEFAULT_TOKENS) -> Digest:
    """Every experiment (the baseline excluded) in at most `max_tokens` estimated tokens.

    Empty text when there is nothing to say or the budget is 0 (memory turned off)."""
    done = [e for e in experiments if e.status is not Status.BASELINE]
    if not done or max_tokens <= 0:
        return Digest("", len(done), 0, 0)
    budget = max_tokens * BYTES_PER_TOKEN
    facts = _Facts.of(done, now)
    older = any(facts.older.values())
    header = _header(len(done), older)
    # The finest grouping that fits in a share of the budget: as the session grows, lines
    # get coarser long before the budget is reached, so the prompt grows slowly (issue 16:
    # experiment 300's request is at most 1.2x experiment 50's). Only when even the
    # coarsest grouping passes the whole budget do the oldest ideas merge into counts.
    text = ""
    for level, (width, chars) in enumerate(_LEVELS):
        groups = _group(done, width)
        lines = _render(groups, chars, facts)
        text = "\n".join([header, *lines])
        if len(text.encode("utf-8")) <= budget * SOFT_SHARE:
            return Digest(text, len(done), len(lines), level)
    if len(text.encode("utf-8")) <= budget:
        return Digest(text, len(done), len(lines), len(_LEVELS) - 1)
    # Still too long: the oldest ideas merge into one line of counts; kept ideas (the
    # champion's lineage) keep their lines as long as anything else can merge.
    width, chars = _LEVELS[-1]
    groups = _group(done, width)
    lines = _render(groups, chars, facts)
    sizes = [len(line.encode("utf-8")) + 1 for line in lines]
    kept = [any(e.status is Status.KEEP for e in g.members) for g in groups]
    for spare_keeps in (True, False):
        merged: list[Experiment] = []
        left = list(range(len(groups)))
        rest = sum(sizes)
        while left:
            merged_line = _merged_line(sorted(merged, key=lambda e: e.n)) if merged else ""
            size = len(header.encode("utf-8")) + rest + len(merged_line.encode("utf-8")) + 1
            if merged and size <= budget:
                break
            victim = next((i for i in left if not (spare_keeps and kept[i])), None)
            if victim is None:
                break
            left.remove(victim)
            rest -= sizes[victim]
            merged.extend(groups[victim].members)
        body = ([_merged_line(sorted(merged, key=lambda e: e.n))] if merged else []) + \
            [lines[i] for i in left]
        text = "\n".join([header, *body])
        if len(text.encode("utf-8")) <= budget or not spare_keeps:
            return Digest(text, len(done), len(body), len(_LEVELS))
    raise AssertionError("unreachable")


# -- the ideas backlog -------------------------------------------------------------------

_BULLET = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)(.*\S)\s*$")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[:-len(suffix)]
    return word


@functools.lru_cache(maxsize=4096)
def _stems(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in idea_key(text))


def tried_for(idea: str, experiments: Sequence[Experiment]) -> list[Experiment]:
    """The experiments whose description names the idea: all its significant words when it
    has one or two, at least two thirds of them otherwise (word endings ignored)."""
    wanted = _stems(idea)
    if not wanted:
        return []
    need = len(wanted) if len(wanted) <= 2 else -(-2 * len(wanted) // 3)
    return [e for e in experiments if e.status is not Status.BASELINE
            and len(wanted & _stems(e.description)) >= need]


def annotate_ideas(ideas: str, experiments: Sequence[Experiment]) -> str:
    """The program's `## Ideas` list with each idea's outcome so far: `(untried)` or
    `(tried in #12, #31: 1 keep, 1 discard)`. Lines that are not list items stay as they
    are."""
    out: list[str] = []
    for line in ideas.splitlines():
        match = _BULLET.match(line)
        if not match:
            out.append(line)
            continue
        tried = tried_for(match.group(2), experiments)
        note = (f"tried in {format_numbers([e.n for e in tried], 3)}: {_counts(tried)}"
                if tried else "untried")
        out.append(f"{line.rstrip()} ({note})")
    return "\n".join(out)
