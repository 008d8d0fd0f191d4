"""The held-out benchmark: `textstats.report` on different data (server log lines).

The agent never sees this file. A change that is faster on the benchmark's prose but
slower here has learned the benchmark rather than the problem: the harness calls it
`overfit` and does not keep it.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textstats import report  # noqa: E402

PATHS = ("/api/items", "/api/users", "/login", "/static/app.js", "/api/orders", "/health")


def corpus(lines: int = 1000, seed: int = 11) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(lines):
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))
            continue
        method = rng.choice(("GET", "GET", "GET", "POST", "PUT"))
        path = f"{rng.choice(PATHS)}/{rng.randint(1, 99999)}"
        out.append(f"12:{i % 60:02d}:{rng.randint(0, 59):02d} {method} {path} "
                   f"user=u{rng.randint(1, 5000)} status={rng.choice((200, 200, 304, 404, 500))} "
                   f"took {rng.randint(1, 900)}ms req={rng.getrandbits(32):08x}")
    return "\n".join(out)


def main() -> None:
    text = corpus()
    start = time.process_time()
    result = report(text)
    elapsed_ms = (time.process_time() - start) * 1000
    print(f"words={result['words']} vocabulary={result['vocabulary']}")
    print(f"METRIC time_ms={elapsed_ms:.3f}")


if __name__ == "__main__":
    main()
