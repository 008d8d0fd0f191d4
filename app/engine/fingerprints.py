"""Output fingerprints: a faster candidate must compute the same results.

The benchmark prints `FINGERPRINT <text>` (a digest of what it computed). The first run of
the unchanged code sets the reference; every later run, of the champion or of a
candidate, must print the same text. A candidate whose results differ is
`checks_failed` on its first run, before any of its timings is trusted: code that is
right only under the test runner (`if "pytest" in sys.modules: ...`) passes the checks
but not this, because the benchmark's own process sees the code path it times.

`[metric] fingerprint = true` makes the line required (a run without it is a `crash`);
without it, a benchmark or held-out benchmark that prints one is compared all the same.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

FINGERPRINT_LINE = re.compile(r"^\s*FINGERPRINT\s+(\S.*?)\s*$")
SHOWN = 16
"""Fingerprints up to this long (without spaces) are shown as printed; longer ones by a
short digest, so a reason stays one line."""


def parse_fingerprint(stdout: str) -> str | None:
    """The text of the FINGERPRINT lines (several are joined in order), None if none."""
    found = [m.group(1) for line in stdout.splitlines()
             if (m := FINGERPRINT_LINE.match(line))]
    return "\n".join(found) if found else None


def short(text: str) -> str:
    if len(text) <= SHOWN and not any(c.isspace() for c in text):
        return text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    missing: bool = False
    """The run printed no FINGERPRINT line although one is required (a crash)."""
    unstable: bool = False
    """The unchanged code printed two different fingerprints (a benchmark problem)."""


@dataclass
class OutputFingerprints:
    """The reference fingerprint of the benchmark and of the held-out benchmark."""

    required: bool = False
    reference: dict[str, str] = field(default_factory=dict)
    """"bench" and/or "holdout" -> the text the unchanged code printed."""

    def reset(self) -> None:
        """A new baseline: its first runs set the references again."""
        self.reference.clear()

    def check(self, stdout: str, *, holdout: bool, unchanged: bool) -> Verdict:
        """Compare one run's fingerprint with the reference (which the first run sets).

        `unchanged`: the run measured the champion or the baseline (a difference then
        means the benchmark's results are not deterministic), not a candidate.
        """
        kind = "holdout" if holdout else "bench"
        what = "held-out benchmark" if holdout else "benchmark"
        printed = parse_fingerprint(stdout)
        if printed is None:
            if self.required and not holdout:
                return Verdict(False, f"{what} printed no FINGERPRINT line ([metric] "
                               "fingerprint = true)", missing=True)
            if kind in self.reference and not unchanged:
                return Verdict(False, f"{what} results changed: fingerprint "
                               f"{short(self.reference[kind])} -> (none printed)")
            return Verdict(True)
        known = self.reference.setdefault(kind, printed)
        if printed == known:
            return Verdict(True)
        if unchanged:
            return Verdict(False, f"{what} printed a different FINGERPRINT on a run of the "
                           f"unchanged code ({short(known)}, then {short(printed)}): it must "
                           "fingerprint results that do not change between runs",
                           unstable=True)
        prefix = "held-out " if holdout else ""
        return Verdict(False, f"{prefix}results changed: fingerprint {short(known)} -> "
                       f"{short(printed)}")
