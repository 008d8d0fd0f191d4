"""The held-out benchmark: `textstats.report` on different data (server log fields).

The agent never sees this file. A change that is faster on the benchmark's prose but
slower here has learned the benchmark rather than the problem: the harness calls it
`overfit` and does not keep it.
"""

from __future__ import annotations

import random

# bench/bench.py, beside this file: the same timing and the same digest of the results.
from bench import best_of_three, fingerprint


def corpus(lines: int = 1000, seed: int = 11) -> str:
    """Space-separated log fields: hour, minute, second, method, area, id, status,
    latency, unit, retries, size, outcome."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(lines):
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))
            continue
        fields = [f"{i % 24:02d}", f"{rng.randint(0, 59):02d}", f"{rng.randint(0, 59):02d}",
                  rng.choice(("GET", "GET", "POST", "PUT")),
                  rng.choice(("api", "static", "login")), str(rng.randint(1, 999)),
                  rng.choice(("200", "200", "304", "404", "500")), str(rng.randint(1, 900)),
                  "ms", str(rng.randint(0, 9)), str(rng.randint(0, 99)),
                  rng.choice(("ok", "retry", "err"))]
        out.append(" ".join(fields))
    return "\n".join(out)


def main() -> None:
    elapsed_ms, result = best_of_three(corpus())
    print(f"words={result['words']} vocabulary={result['vocabulary']}")
    print(f"FINGERPRINT {fingerprint(result)}")
    print(f"METRIC time_ms={elapsed_ms:.3f}")


if __name__ == "__main__":
    main()
