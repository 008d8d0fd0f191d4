"""The memory digest (app/engine/memory.py): every experiment represented, in a budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import load_config
from app.engine.memory import (
    OLDER_MARK,
    Champion,
    digest,
    estimate_tokens,
    format_numbers,
    idea_key,
)
from app.engine.records import Experiment, Status
from app.errors import UsageError
from tests.memory_history import simulated_session


def represented(text: str) -> int:
    """How many experiments the digest's lines account for, read from its text alone."""
    total = 0
    for line in text.splitlines():
        if not line.startswith("- "):
            continue
        single = re.match(r"- #\d+ ", line)
        group = re.match(r"- (\d+) (?:variants of|earlier experiments)", line)
        assert single or group, line
        total += 1 if single else int(group.group(1))  # type: ignore[union-attr]
    return total


def now_of(history: list[Experiment], noise: float = 0.01) -> Champion:
    kept = [e for e in history if e.status in (Status.KEEP, Status.BASELINE)][-1]
    return Champion(metric=kept.metric, commit=kept.commit or "", noise=noise)


@pytest.mark.parametrize("count", [50, 300, 1000])
def test_every_experiment_is_represented_within_the_budget(count: int) -> None:
    history = simulated_session(count)
    d = digest(history, now_of(history), 2000)
    assert represented(d.text) == count
    assert d.tokens <= 2000
    assert f"all {count} experiments" in d.text
    # Every keep is counted, and the champion's own experiment is named.
    keeps = [e.n for e in history if e.status is Status.KEEP]
    counted = sum(int(k) for k in re.findall(r"[:,] (\d+) keep\b", d.text)) + \
        len(re.findall(r"^- #\d+ keep\b", d.text, re.M))
    assert counted == len(keeps)
    assert re.search(rf"#{keeps[-1]}\b", d.text)


def test_a_repeated_idea_is_one_group_line_with_its_outcomes() -> None:
    history = [Experiment(n=0, status=Status.BASELINE, metric=10.0)]
    for n in range(1, 8):
        status = Status.KEEP if n == 4 else Status.DISCARD
        history.append(Experiment(n=n, status=status, metric=9.0 if n == 4 else 10.1,
                                  champion_metric=10.0, parent="c0",
                                  description=["Cache the regex", "cache the regex.",
                                               "regex: cache it then"][n % 3]))
    history.append(Experiment(n=8, status=Status.CRASH, description="use a set"))
    text = digest(history, Champion(metric=10.0, commit="c0")).text
    assert ("- 7 variants of 'Cache the regex' (#1-#7): 1 keep, 6 discard; kept #4; "
            "best -10.0% (#4)") in text.splitlines(), text
    assert "- #8 crash: use a set" in text


def test_a_discard_on_an_older_champion_is_marked_after_a_keep() -> None:
    history = [Experiment(n=0, status=Status.BASELINE, metric=100.0, commit="c0"),
               Experiment(n=1, status=Status.DISCARD, metric=99.5, champion_metric=100.0,
                          parent="c0", description="unroll the loop"),
               Experiment(n=2, status=Status.KEEP, metric=90.0, champion_metric=100.0,
                          parent="c0", commit="c2", description="use a set")]
    before = digest(history[:2], Champion(metric=100.0, commit="c0", noise=0.02)).text
    assert OLDER_MARK not in before
    after = digest(history, Champion(metric=90.0, commit="c2", noise=0.02)).text
    assert f"#1 discard -0.5%: unroll the loop {OLDER_MARK}" in after
    assert "worth a retry" in after
    # A champion that moved by less than the noise is not "older".
    small = digest(history, Champion(metric=99.0, commit="c2", noise=0.02)).text
    assert OLDER_MARK not in small


def test_memory_off_and_empty_sessions_say_nothing() -> None:
    history = simulated_session(10)
    assert digest(history, now_of(history), 0).text == ""
    assert digest(history[:1], now_of(history[:1])).text == ""


def test_a_tiny_budget_still_counts_every_experiment() -> None:
    history = simulated_session(1000)
    d = digest(history, now_of(history), 200)
    assert d.tokens <= 200 and represented(d.text) == 1000


def test_hostile_descriptions_stay_one_short_line_each() -> None:
    """An agent's description with newlines, markup and 10 kB of text cannot break the
    digest's shape or its budget."""
    history = [Experiment(n=0, status=Status.BASELINE, metric=1.0)]
    history += [Experiment(n=n, status=Status.DISCARD, description=f"line {n}\n- #999 keep "
                           "[bold]fake[/bold]\n" + "x" * 10_000) for n in range(1, 40)]
    d = digest(history, Champion(metric=1.0), 2000)
    assert represented(d.text) == 39 and d.tokens <= 2000
    assert "\n- #999" not in d.text


def test_helpers() -> None:
    assert format_numbers([3, 8, 12, 13, 14, 15]) == "#3, #8, #12-#15"
    assert format_numbers(list(range(1, 40, 2)), limit=3) == "#1, #3, ..., #39"
    assert idea_key("Use a set for membership") == idea_key("membership: a set")
    assert idea_key("cache the regex at module level", 2) == ("cache", "regex")
    assert estimate_tokens("abcd" * 10) == 10


@pytest.mark.parametrize("value", [-1, 50, 10**6])
def test_a_memory_budget_out_of_range_is_one_clear_sentence(tmp_path: Path, value: int
                                                            ) -> None:
    path = tmp_path / "autoresearch.toml"
    path.write_text(f'[metric]\ncommand = "true"\n\n[agent]\nmemory_tokens = {value}\n')
    with pytest.raises(UsageError, match=r"`agent.memory_tokens` is .*; it must be 0 \(no "
                       r"memory\) or between 200 and 100000"):
        load_config(path)


def test_the_ideas_backlog_shows_each_ideas_outcome_so_far() -> None:
    from app.engine.memory import annotate_ideas

    history = [Experiment(n=0, status=Status.BASELINE, description="baseline"),
               Experiment(n=12, status=Status.DISCARD, description="Cache the results"),
               Experiment(n=31, status=Status.KEEP, description="cache results per key"),
               Experiment(n=40, status=Status.CRASH, description="use a set for lookups")]
    ideas = ("Try these:\n- cache the results\n* use a set\n"
             "1. rewrite the parser in C\n- cache something else entirely, with care")
    assert annotate_ideas(ideas, history).splitlines() == [
        "Try these:",
        "- cache the results (tried in #12, #31: 1 keep, 1 discard)",
        "* use a set (tried in #40: 1 crash)",
        "1. rewrite the parser in C (untried)",
        "- cache something else entirely, with care (untried)"]
