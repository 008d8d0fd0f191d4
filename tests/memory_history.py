"""A simulated night of experiments for the memory digest's tests and benchmark.

Agents come back to the same ideas with new words ("cache the regex", "cache compiled
regex at module level"), most ideas are discarded, a few kept; each keep moves the champion
(the metric falls by 2-5%), so later discards are measured against a better champion.
"""

from __future__ import annotations

import random

from app.engine.records import Experiment, Status

THEMES = [
    ("cache the regex", ["at module level", "with functools.cache", "compiled once"]),
    ("use a set for membership", ["in the hot loop", "instead of a list", "frozen"]),
    ("inline the tokenizer", ["call", "helper into the parser", "fast path"]),
    ("batch the writes", ["to the output buffer", "in chunks of 64 KB", "with join"]),
    ("avoid repeated string concatenation", ["in render", "with a list", "via io.StringIO"]),
    ("precompute the lookup table", ["for ASCII", "at import", "as bytes"]),
    ("replace recursion with a loop", ["in walk", "with an explicit stack", "in the visitor"]),
    ("memoize the parser results", ["per line", "with an LRU of 1024", "keyed by hash"]),
    ("vectorize the inner loop", ["with numpy", "with array module", "via map"]),
    ("drop the debug logging", ["in the hot path", "behind a flag", "at import"]),
    ("read the file in one call", ["with read_bytes", "with mmap", "in binary mode"]),
    ("skip whitespace faster", ["with str.lstrip", "with a regex", "with find"]),
    ("reuse the decoder object", ["across calls", "per thread", "from a pool"]),
    ("sort once outside the loop", ["with key", "using bisect", "then merge"]),
    ("use local variable aliases", ["for methods", "for globals", "in the inner loop"]),
    ("short-circuit the empty input", ["case", "before parsing", "in validate"]),
    ("switch to slots on the node class", ["Node", "Token", "all records"]),
    ("parse integers with int() directly", ["not float", "skipping strip", "in bulk"]),
    ("avoid copying the buffer", ["with memoryview", "by slicing less", "in split"]),
    ("hoist the attribute lookups", ["out of the loop", "into closures", "in emit"]),
]
STATUSES = ([Status.DISCARD] * 70 + [Status.KEEP] * 8 + [Status.CRASH] * 8
            + [Status.CHECKS_FAILED] * 6 + [Status.AGENT_ERROR] * 4 + [Status.TIMEOUT] * 2
            + [Status.REJECTED] * 2)


def simulated_session(count: int, seed: int = 16) -> list[Experiment]:
    """A baseline and `count` experiments (about 8% kept)."""
    rng = random.Random(seed)
    champion, commit = 100.0, "c0"
    out = [Experiment(n=0, status=Status.BASELINE, metric=champion, champion_metric=champion,
                      description="baseline", commit=commit, candidate=commit)]
    for n in range(1, count + 1):
        idea, variants = THEMES[rng.randrange(len(THEMES))]
        description = idea if rng.random() < 0.4 else f"{idea} {rng.choice(variants)}"
        status = rng.choice(STATUSES)
        e = Experiment(n=n, status=status, description=description, parent=commit,
                       champion_metric=champion, candidate=f"cand{n}",
                       hypothesis=f"{idea} should cut the time spent per call, since the "
                       "profile shows it in the hot path",
                       learned="the profile moved: the parser now dominates, not the I/O"
                       if rng.random() < 0.6 else "")
        e.reason = {Status.DISCARD: "+0.4% (p=0.41): not better beyond the noise (±1.0%)",
                    Status.CRASH: "benchmark exited with status 1",
                    Status.CHECKS_FAILED: "checks failed (exit status 1)",
                    Status.AGENT_ERROR: "the agent ended its turn without changing a file",
                    Status.TIMEOUT: "benchmark timed out after 600 s",
                    Status.REJECTED: "changes protected files: tests/test_parse.py",
                    Status.KEEP: "-3.1% (p=0.004)"}[status]
        if status in (Status.CRASH, Status.CHECKS_FAILED):
            e.output_tail = ("Traceback (most recent call last):\n  File \"bench.py\", line 12, "
                             "in <module>\n    main()\n  File \"src/parse.py\", line 88, in "
                             "parse\n    return table[key]\nKeyError: 'x'\n")
        if status in (Status.KEEP, Status.DISCARD, Status.CHECKS_FAILED):
            change = -rng.uniform(0.02, 0.05) if status is Status.KEEP \
                else rng.uniform(-0.01, 0.02)
            e.metric = champion * (1 + change)
        if status is Status.KEEP:
            assert e.metric is not None
            champion, commit = e.metric, f"k{n}"
            e.commit = commit
        out.append(e)
    return out
