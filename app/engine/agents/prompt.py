"""What an agent is told: the system prompt and the compact history message.

Shared by the API agent (system prompt + one user message) and the command agent (both in
one prompt file). Two properties matter more than wording:

- The system prompt depends only on the session (program, metric, direction, tools), never
  on the experiment number, so it is a stable prefix the prompt cache can hit across turns
  and experiments.
- The history message is bounded: the last `history_window` experiments, every field
  capped, older ones only counted. Experiment 500 costs what experiment 20 costs.
"""

from __future__ import annotations

from app.engine.agents.base import AgentContext
from app.engine.records import Experiment, Status

PROGRAM_CHARS = 12_000
IDEAS_CHARS = 3_000
GUIDANCE_CHARS = 2_000
NOTES_CHARS = 6_000
FIELD_CHARS = 240
"""Cap on a description, a hypothesis, a lesson, a reason, a veto reason."""
TAIL_LINES = 6
TAIL_CHARS = 480


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters (white space collapsed)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def clip_block(text: str, limit: int) -> str:
    """A multi-line text cut to `limit` characters, keeping its start."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"


def tail(text: str, lines: int = TAIL_LINES, limit: int = TAIL_CHARS) -> str:
    """The last non-empty lines of an output, capped (the error is usually at the end)."""
    kept = [line.rstrip() for line in (text or "").splitlines() if line.strip()][-lines:]
    kept = [line if len(line) <= 160 else line[:159] + "…" for line in kept]
    while len(kept) > 1 and sum(len(line) + 1 for line in kept) > limit:
        kept.pop(0)  # whole lines only: a cut line reads like a different error
    return "\n".join(kept)


def better_word(direction: str) -> str:
    return "lower" if direction == "lower" else "higher"


def system_prompt(ctx: AgentContext, *, tools: bool = True, allow_commands: bool = False
                  ) -> str:
    """Role, rules, the program file and the metric: the stable part of every request."""
    unit = f" ({ctx.unit})" if ctx.unit else ""
    if tools:
        how = ("Use the tools to read the code and edit files; all paths are relative to the "
               "repository root. When the change is complete, call `finish` with a one-line "
               "description, your hypothesis and what you learned.")
        if allow_commands:
            how += (" `run_command` runs a shell command in the repository (to compile or "
                    "smoke-test); the harness still measures the metric itself.")
    else:
        how = ("Edit the files in the current directory (the repository root). When you are "
               "done, print one line `DESCRIPTION: <what you changed>` (and optionally "
               "`HYPOTHESIS: ...` and `LEARNED: ...` lines). Do not commit: the harness "
               "snapshots your changes itself.")
    return f"""You are an autonomous research engineer improving a code base, one experiment \
at a time, in a loop that runs unattended for hours.

In each experiment you make ONE focused change that you expect to improve the metric \
`{ctx.metric_name}`{unit}: {better_word(ctx.direction)} is better. After you finish, the \
harness (not you) runs the benchmark several times, runs the checks (the test suite), and \
keeps your change only if the metric improves significantly and the checks pass; otherwise \
it is discarded and the code goes back to the champion.

Rules:
- {how}
- The benchmark, the checks, the tests and the config are protected: you may read them, \
but any change to them gets the whole experiment rejected. Some files (the held-out \
benchmark) are not visible to you at all.
- Do not game the metric: a change must make the real thing better, not the measurement. \
Do not hard-code benchmark inputs or outputs.
- Keep the code correct and readable; small, reviewable diffs are best. Prefer ideas not \
yet tried; learn from the failures and the user's veto reasons listed in the history.
- Do not touch `.git/` or `.autoresearch/`.

The program file (the user's goal, scope and constraints):
<program>
{clip_block(ctx.program, PROGRAM_CHARS)}
</program>"""


def _format_metric(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:.6g}"
    return f"{text} {unit}".strip()


def _format_delta(e: Experiment, direction: str) -> str:
    d = e.delta()
    if d is None:
        return ""
    better = (d < 0) if direction == "lower" else (d > 0)
    word = "better" if better else ("worse" if d != 0 else "same")
    return f" ({d * 100:+.2f}% vs champion, {word})"


def format_experiment(e: Experiment, unit: str, direction: str) -> str:
    """A few capped lines describing one experiment."""
    head = f"- #{e.n} {e.status}"
    if e.metric is not None:
        head += f": {_format_metric(e.metric, unit)}{_format_delta(e, direction)}"
    if e.description:
        head += f" — {clip(e.description, FIELD_CHARS)}"
    lines = [head]
    if e.hypothesis and e.status not in (Status.BASELINE,):
        lines.append(f"  hypothesis: {clip(e.hypothesis, FIELD_CHARS)}")
    if e.learned:
        lines.append(f"  learned: {clip(e.learned, FIELD_CHARS)}")
    if e.veto_reason:
        lines.append(f"  vetoed by the user: {clip(e.veto_reason, FIELD_CHARS)}")
    if e.reason and e.status not in (Status.KEEP, Status.BASELINE):
        lines.append(f"  reason: {clip(e.reason, FIELD_CHARS)}")
    failed = e.status in (Status.CRASH, Status.TIMEOUT, Status.CHECKS_FAILED,
                          Status.AGENT_ERROR, Status.REJECTED, Status.OVERFIT)
    if failed and e.output_tail:
        lines.append("  output tail:")
        lines.extend("    | " + line for line in tail(e.output_tail).splitlines())
    return "\n".join(lines)


def history_message(ctx: AgentContext, window: int) -> str:
    """The experiment's user message: where we stand, recent experiments, ideas. Bounded."""
    unit = ctx.unit
    parts = [f"# Experiment {ctx.n}", ""]
    parts.append(f"Metric: `{ctx.metric_name}`" + (f" in {unit}" if unit else "")
                 + f"; {better_word(ctx.direction)} is better.")
    parts.append(f"Baseline: {_format_metric(ctx.baseline, unit)}.")
    champion = f"Champion (the code you start from): {_format_metric(ctx.champion, unit)}"
    if ctx.champion_commit:
        champion += f" at commit {ctx.champion_commit[:10]}"
    if ctx.baseline and ctx.champion is not None:
        change = (ctx.champion - ctx.baseline) / abs(ctx.baseline)
        if ctx.direction == "lower":
            change = -change
        champion += f", {change * 100:+.2f}% better than the baseline"
    parts.append(champion + ".")
    done = [e for e in ctx.history if e.status is not Status.BASELINE]
    if done:
        counts: dict[str, int] = {}
        for e in done:
            counts[str(e.status)] = counts.get(str(e.status), 0) + 1
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        parts.append(f"Experiments so far: {len(done)} ({summary}).")
    if ctx.memory.strip():
        parts += ["", ctx.memory.strip()]
    recent = done[-window:] if window > 0 else []
    if recent:
        parts += ["", f"## Recent experiments (the last {len(recent)} of {len(done)}, "
                      "oldest first)"]
        parts += [format_experiment(e, unit, ctx.direction) for e in recent]
    if ctx.ideas.strip():
        parts += ["", "## Ideas (the user's backlog, from the program file, with what came "
                      "of each so far)",
                  clip_block(ctx.ideas, IDEAS_CHARS)]
    if ctx.guidance.strip():
        parts += ["", "## Guidance for this experiment (from the user's hook)",
                  clip_block(ctx.guidance, GUIDANCE_CHARS)]
    if ctx.notes.strip():
        parts += ["", clip_block(ctx.notes, NOTES_CHARS)]
    if ctx.others.strip():
        parts += ["", clip_block(ctx.others, NOTES_CHARS)]
    parts += ["", "Make one focused change that you expect to improve the metric, different "
                  "from what failed above, then finish."]
    return "\n".join(parts)


def command_prompt(ctx: AgentContext, window: int) -> str:
    """The whole prompt for a command-line agent: rules, program, history, in one file."""
    return (system_prompt(ctx, tools=False) + "\n\n" + history_message(ctx, window) + "\n\n"
            "When done, print `DESCRIPTION: <one line>` as the last thing you output.\n")
