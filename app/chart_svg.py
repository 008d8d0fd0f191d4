"""The progress chart as a standalone SVG, in the manner of karpathy's progress.png.

x is the experiment number, y the metric. Every measured experiment is a dot coloured by its
status (discards grey), the running best is a green step line, and keeps are labelled with
short descriptions. Experiments without a measurement (crash, timeout, agent error, ...) are
ticks along the bottom, so the chart still shows where time went.

Plain string building, no plotting library: the report must stay fast for 10,000 experiments
and readable by any browser or Markdown viewer. Dots that would land on the same couple of
pixels are drawn once (they are indistinguishable anyway); keeps are never thinned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from app.engine.records import Experiment, Status, is_better

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
KEEP = "#2ca02c"
KEEP_EDGE = "#1b6e1b"
BEST_LINE = "#2ca02c"
LABEL = "#1b6e1b"
DOT_COLOURS: dict[Status, str] = {
    Status.BASELINE: "#1f5fa8",
    Status.KEEP: KEEP,
    Status.DISCARD: "#bdbdbd",
    Status.CHECKS_FAILED: "#ff9f1c",
    Status.OVERFIT: "#9467bd",
}
TICK_COLOURS: dict[Status, str] = {
    Status.CRASH: "#d62728",
    Status.TIMEOUT: "#d62728",
    Status.AGENT_ERROR: "#8c564b",
}
OTHER_TICK = "#7f7f7f"
OTHER_TICK_STATUSES = (Status.REJECTED, Status.VETOED, Status.INTERRUPTED, Status.DUPLICATE,
                       Status.INFRA_ERROR, Status.STALE)
"""Drawn as grey ticks, each named in the legend when present."""
MAX_LABELS = 30
LABEL_CHARS = 42


@dataclass(frozen=True)
class ChartInfo:
    """What the report says about the picture (how many labels were drawn, ...)."""

    svg: str
    labelled: int
    kept: int
    clipped: int


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def tick_label(value: float, step: float) -> str:
    """A tick value with as many decimals as the step needs (0.25 -> 2, 20 -> 0)."""
    decimals = 0
    while decimals < 8 and abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:
        decimals += 1
    if decimals == 0:
        return f"{value:,.0f}"
    return f"{value:.{decimals}f}"


def _y_range(experiments: Sequence[Experiment], direction: str) -> tuple[float, float]:
    """The range that shows the progress: all keeps and the baseline, plus the bulk of the
    other results; far outliers (a 10x slower try) are clipped to the edge instead of
    squashing the interesting part into a line."""
    core = [e.metric for e in experiments if e.metric is not None
            and e.status in (Status.BASELINE, Status.KEEP)]
    rest = sorted(e.metric for e in experiments if e.metric is not None
                  and e.status not in (Status.BASELINE, Status.KEEP))
    values = core or rest
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if rest:
        p_lo = rest[int(0.02 * (len(rest) - 1))]
        p_hi = rest[int(math.ceil(0.98 * (len(rest) - 1)))]
        span = max(hi - lo, abs(hi) * 0.05, 1e-12)
        # Take in the bulk of the tries, but never let them stretch the range more than
        # three times the span of the progress itself.
        lo = min(lo, max(p_lo, lo - 3 * span))
        hi = max(hi, min(p_hi, hi + 3 * span))
    if hi == lo:
        pad = abs(hi) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def progress_chart(experiments: Sequence[Experiment], *, metric_name: str, unit: str = "",
                   direction: str = "lower", segment_starts: Sequence[int] = (),
                   title: str | None = None, width: int = 1200,
                   height: int = 640) -> ChartInfo:
    """Render the chart. `segment_starts`: experiment numbers where a new baseline begins
    (the running best restarts there and a dashed line marks it)."""
    experiments = sorted(experiments, key=lambda e: e.n)
    left, right, top, bottom = 88, 36, 64, 78
    plot_w, plot_h = width - left - right, height - top - bottom
    measured = [e for e in experiments if e.metric is not None]
    kept = [e for e in experiments if e.status is Status.KEEP and e.metric is not None]
    x_lo: float = experiments[0].n if experiments else 0
    x_hi: float = experiments[-1].n if experiments else 1
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    x_pad = (x_hi - x_lo) * 0.02
    # A little more room on the right, where the last keep's label goes.
    x_lo, x_hi = x_lo - x_pad, x_hi + x_pad * (3 if kept else 1)
    y_lo, y_hi = _y_range(experiments, direction)
    # The strip under the plot where unmeasured experiments are ticked.
    strip = 10

    def sx(n: float) -> float:
        return left + (n - x_lo) / (x_hi - x_lo) * plot_w

    def sy(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * (plot_h - strip)

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    # Title and axis labels.
    n_done = sum(1 for e in experiments if e.status is not Status.BASELINE)
    heading = title or (f"Autoresearch progress: {n_done:,} experiment"
                        f"{'' if n_done == 1 else 's'}, {len(kept):,} kept "
                        f"{'improvement' if len(kept) == 1 else 'improvements'}")
    out.append(f'<text x="{left}" y="{top - 30}" font-size="19" font-weight="bold" '
               f'fill="#222">{escape(heading)}</text>')
    unit_text = f" ({unit})" if unit else ""
    better = "lower is better" if direction == "lower" else "higher is better"
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 22}" font-size="14" '
               f'text-anchor="middle" fill="#333">Experiment #</text>')
    y_mid = top + plot_h / 2
    out.append(f'<text transform="translate(22 {y_mid:.1f}) rotate(-90)" font-size="14" '
               f'text-anchor="middle" fill="#333">{escape(metric_name + unit_text)}, '
               f'{better}</text>')
    # Grid and ticks.
    out.append('<g font-size="12" fill="#444">')
    y_ticks = nice_ticks(y_lo, y_hi, 7)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for value in y_ticks:
        y = sy(value)
        if top - 0.5 <= y <= top + plot_h - strip + 0.5:
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                       f'stroke="#e8e8e8"/>')
            out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
                       f'{tick_label(value, y_step)}</text>')
    x_ticks = [t for t in nice_ticks(max(x_lo, 0), x_hi, 10) if t == int(t)]
    for value in x_ticks:
        x = sx(value)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                   f'stroke="#f2f2f2"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                   f'{int(value):,}</text>')
    out.append('</g>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
               f'stroke="#999"/>')
    out.append(f'<line x1="{left}" y1="{top + plot_h - strip}" x2="{left + plot_w}" '
               f'y2="{top + plot_h - strip}" stroke="#eee"/>')
    # Segment boundaries.
    for start in segment_starts:
        if x_lo < start <= x_hi:
            x = sx(start - 0.5)
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                       f'stroke="#888" stroke-dasharray="5 4"/>')
            out.append(f'<text x="{x + 4:.1f}" y="{top + 14}" font-size="11" fill="#666">'
                       f'new baseline</text>')
    # Unmeasured experiments: ticks in the bottom strip.
    ticks: dict[str, set[int]] = {}
    for e in experiments:
        if e.metric is None and e.status is not Status.BASELINE:
            colour = TICK_COLOURS.get(e.status, OTHER_TICK)
            ticks.setdefault(colour, set()).add(round(sx(e.n) * 2))
    for colour, xs in ticks.items():
        path = "".join(f"M{x / 2:.1f} {top + plot_h - strip + 2}v{strip - 4}" for x in sorted(xs))
        out.append(f'<path d="{path}" stroke="{colour}" stroke-width="1.5"/>')
    # Dots of everything measured but not kept, thinned to one per 2x2 pixel cell.
    clipped = 0
    by_colour: dict[str, set[tuple[int, int]]] = {}
    clipped_marks: dict[str, set[tuple[int, int]]] = {}
    y_top, y_bottom = top + 3, top + plot_h - strip - 3
    for e in measured:
        if e.status is Status.KEEP:
            continue
        colour = DOT_COLOURS.get(e.status, DOT_COLOURS[Status.DISCARD])
        x, y = sx(e.n), sy(e.metric or 0.0)
        if y < y_top or y > y_bottom:
            clipped += 1
            clipped_marks.setdefault(colour, set()).add((round(x / 2), 1 if y < y_top else -1))
            continue
        by_colour.setdefault(colour, set()).add((round(x / 2), round(y / 2)))
    radius = 3.2 if len(measured) < 400 else 2.4
    for colour, cells in by_colour.items():
        if colour == DOT_COLOURS[Status.BASELINE]:
            continue
        out.append(f'<g fill="{colour}" fill-opacity="0.85">')
        out.extend(f'<circle cx="{cx * 2}" cy="{cy * 2}" r="{radius}"/>' for cx, cy in
                   sorted(cells))
        out.append('</g>')
    for colour, marks in clipped_marks.items():
        parts = []
        for cx, up in sorted(marks):
            x = cx * 2
            y = y_top if up > 0 else y_bottom
            parts.append(f"M{x - 3.5} {y + 3 * up}L{x} {y - 3 * up}L{x + 3.5} {y + 3 * up}Z")
        out.append(f'<path d="{"".join(parts)}" fill="{colour}"/>')
    # The running best, restarting at each new baseline; each line runs to its segment's end.
    starts = sorted(set(segment_starts))
    step_lines: list[list[tuple[float, float]]] = []
    best: float | None = None
    current: list[tuple[float, float]] = []
    bounds = iter(starts + [math.inf])
    boundary = next(bounds)

    def close(end_n: float) -> None:
        if current:
            end_x = min(sx(end_n), left + plot_w - 1)
            step_lines.append(current + [(max(end_x, current[-1][0]), current[-1][1])])

    for e in experiments:
        while e.n >= boundary:
            close(boundary - 0.5)
            current, best = [], None
            boundary = next(bounds)
        if e.metric is None or e.status not in (Status.BASELINE, Status.KEEP):
            continue
        if best is None or is_better(e.metric, best, direction):
            if current:
                current.append((sx(e.n), sy(best or 0.0)))
            best = e.metric
            current.append((sx(e.n), sy(best)))
    close(x_hi)
    for points in step_lines:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{BEST_LINE}" '
                   f'stroke-width="2.2" stroke-opacity="0.85"/>')
    # Baseline and keeps on top, with labels.
    for e in experiments:
        if e.status is Status.BASELINE and e.metric is not None:
            out.append(f'<circle cx="{sx(e.n):.1f}" cy="{sy(e.metric):.1f}" r="6" '
                       f'fill="{DOT_COLOURS[Status.BASELINE]}" stroke="#0d3566"/>')
    keep_radius = 5.5 if len(kept) < 200 else 4.0
    out.append(f'<g fill="{KEEP}" stroke="{KEEP_EDGE}" stroke-width="1.2">')
    out.extend(f'<circle cx="{sx(e.n):.1f}" cy="{sy(e.metric or 0.0):.1f}" r="{keep_radius}"/>'
               for e in kept)
    out.append('</g>')
    labelled = _labels_to_draw(experiments, kept)
    placer = LabelPlacer(left, top, left + plot_w, top + plot_h - strip)
    for e in kept:
        placer.block_dot(sx(e.n), sy(e.metric or 0.0))
    for line in step_lines:
        placer.block_line(line)
    for cells in by_colour.values():
        for cx, cy in cells:
            placer.block_dot(cx * 2, cy * 2)
    # The legend goes to the emptiest corner, then labels avoid it too.
    legend_h = LEGEND_ROW * len(_legend_items(experiments)) + 8
    corners = [(left + plot_w - LEGEND_W - 8, top + 8), (left + 8, top + 8),
               (left + plot_w - LEGEND_W - 8, top + plot_h - strip - legend_h - 8),
               (left + 8, top + plot_h - strip - legend_h - 8)]
    legend_at = min(corners, key=lambda c: placer.crowding(c[0], c[1], LEGEND_W, legend_h))
    placer.block_box(legend_at[0], legend_at[1], LEGEND_W, legend_h)
    out.append(f'<g font-size="11" fill="{LABEL}">')
    # Largest gains choose their spots first; when only some keeps can be labelled, a label
    # that would overlap another is left out rather than drawn unreadably.
    optional = len(labelled) < len(kept)
    placed = 0
    for e in sorted(labelled, key=lambda e: abs(e.delta() or 0.0), reverse=True):
        text = " ".join(e.description.split()) or f"experiment {e.n}"
        label = placer.place(text, sx(e.n), sy(e.metric or 0.0), direction, optional=optional)
        if label:
            out.append(label)
            placed += 1
    out.append('</g>')
    out.append(_legend(legend_at[0], legend_at[1], experiments))
    out.append('</svg>')
    return ChartInfo(svg="\n".join(out) + "\n", labelled=placed, kept=len(kept),
                     clipped=clipped)


def _labels_to_draw(experiments: Sequence[Experiment],
                    kept: Sequence[Experiment]) -> list[Experiment]:
    """All keeps when there are few; else the ones with the largest gains over the champion
    (many labels on top of each other read as nothing)."""
    if len(kept) <= MAX_LABELS:
        return list(kept)
    ranked = sorted(kept, key=lambda e: abs(e.delta() or 0.0), reverse=True)[:MAX_LABELS]
    return sorted(ranked, key=lambda e: e.n)


CHAR_W = 5.9
"""Average advance of an 11 px DejaVu Sans character, for estimating label lengths."""
SLOPE = math.radians(28)


class LabelPlacer:
    """Places keep labels where they collide least with each other and with the dots.

    Space is a grid of 6 px cells; each placed label marks the cells along its baseline
    (and one text height above it). A label tries, in order: rising to the right (karpathy's
    look), rising to the left, level on the better side of its point; the first that fits in
    the plot without touching anything wins, else the least crowded one is used.
    """

    CELL = 6.0

    def __init__(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.bounds = (x0, y0, x1, y1)
        self.taken: dict[tuple[int, int], int] = {}
        """Cell -> how bad it is to write over it: a line 1, a dot 3, text or the legend 6."""

    def _cells(self, x: float, y: float, dx: float, dy: float,
               length: float) -> set[tuple[int, int]]:
        cells = set()
        steps = max(int(length / 4), 1)
        # The text's height lies above its baseline: the perpendicular that points up.
        ux, uy = dy, -dx
        if uy > 0:
            ux, uy = -ux, -uy
        for i in range(steps + 1):
            px, py = x + dx * length * i / steps, y + dy * length * i / steps
            for h in (1.0, 5.0, 9.0):
                cells.add((int((px + ux * h) // self.CELL), int((py + uy * h) // self.CELL)))
        return cells

    def block_dot(self, x: float, y: float) -> None:
        for ox in (-4, 0, 4):
            for oy in (-4, 0, 4):
                self._take((int((x + ox) // self.CELL), int((y + oy) // self.CELL)), 3)

    def block_line(self, points: Sequence[tuple[float, float]]) -> None:
        for (ax, ay), (bx, by) in zip(points, points[1:]):
            steps = max(int(max(abs(bx - ax), abs(by - ay)) / 3), 1)
            for i in range(steps + 1):
                px, py = ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps
                self._take((int(px // self.CELL), int(py // self.CELL)), 1)

    def _box_cells(self, x: float, y: float, w: float, h: float) -> set[tuple[int, int]]:
        return {(cx, cy) for cx in range(int(x // self.CELL), int((x + w) // self.CELL) + 1)
                for cy in range(int(y // self.CELL), int((y + h) // self.CELL) + 1)}

    def _take(self, cell: tuple[int, int], weight: int) -> None:
        if self.taken.get(cell, 0) < weight:
            self.taken[cell] = weight

    def _cost(self, cells: set[tuple[int, int]]) -> int:
        return sum(self.taken.get(cell, 0) for cell in cells)

    def crowding(self, x: float, y: float, w: float, h: float) -> int:
        return self._cost(self._box_cells(x, y, w, h))

    def block_box(self, x: float, y: float, w: float, h: float) -> None:
        for cell in self._box_cells(x, y, w, h):
            self._take(cell, 6)

    def _inside(self, x: float, y: float, dx: float, dy: float, length: float) -> bool:
        x0, y0, x1, y1 = self.bounds
        ex, ey = x + dx * length, y + dy * length
        top = min(y, ey) - 11 * abs(dx)
        return x0 <= min(x, ex) and max(x, ex) <= x1 and y0 <= top and max(y, ey) <= y1

    def place(self, text: str, x: float, y: float, direction: str, *,
              optional: bool = False) -> str | None:
        """The label's SVG element; None if `optional` and every spot covers something."""
        if len(text) > LABEL_CHARS:
            text = text[:LABEL_CHARS - 1] + "…"
        cos, sin = math.cos(SLOPE), math.sin(SLOPE)
        level_dy = 17.0 if direction == "lower" else -10.0
        # (kind, anchor x, anchor y, unit vector from the anchor along the text).
        options = [
            ("up-right", x + 7, y - 7, cos, -sin),
            ("up-left", x - 7, y - 7, -cos, -sin),
            ("level-right", x + 9, y + level_dy, 1.0, 0.0),
            ("level-left", x - 9, y + level_dy, -1.0, 0.0),
            ("up-right", x + 7, y - 7 + level_dy, cos, -sin),
        ]
        best: tuple[int, str, float, float, float, float, str] | None = None
        for name, sx0, sy0, dx, dy in options:
            shown = text
            while True:
                length = len(shown) * CHAR_W
                if self._inside(sx0, sy0, dx, dy, length) or len(shown) <= 14:
                    break
                shown = shown[:max(len(shown) - 5, 13)].rstrip() + "…"
            cells = self._cells(sx0, sy0, dx, dy, length)
            # Crossing a line is a small fault, covering text a big one; every character cut
            # off to make the label fit counts too.
            clash = self._cost(cells) + (len(text) - len(shown)) // 2 + (
                0 if self._inside(sx0, sy0, dx, dy, length) else 1000)
            if best is None or clash < best[0]:
                best = (clash, name, sx0, sy0, dx, dy, shown)
            if clash == 0:
                break
        assert best is not None
        if optional and best[0] >= 6:  # would cover text, the legend or dots: leave it out
            return None
        _, name, sx0, sy0, dx, dy, shown = best
        for cell in self._cells(sx0, sy0, dx, dy, len(shown) * CHAR_W):
            self._take(cell, 6)
        if name == "level-right":
            return f'<text x="{sx0:.1f}" y="{sy0:.1f}">{escape(shown)}</text>'
        if name == "up-right":
            return (f'<text transform="translate({sx0:.1f} {sy0:.1f}) rotate(-28)">'
                    f'{escape(shown)}</text>')
        # The other two read toward the point: anchored at its end, which is (sx0, sy0).
        if name == "up-left":
            return (f'<text transform="translate({sx0:.1f} {sy0:.1f}) rotate(28)" '
                    f'text-anchor="end">{escape(shown)}</text>')
        return (f'<text x="{sx0:.1f}" y="{sy0:.1f}" text-anchor="end">{escape(shown)}</text>')


def _legend_items(experiments: Sequence[Experiment]) -> list[tuple[str, str, str]]:
    present = {e.status for e in experiments}
    items: list[tuple[str, str, str]] = []  # (kind, colour, label)
    if Status.BASELINE in present:
        items.append(("dot", DOT_COLOURS[Status.BASELINE], "baseline"))
    items.append(("dot", KEEP, "kept"))
    items.append(("line", BEST_LINE, "running best"))
    items.append(("dot", DOT_COLOURS[Status.DISCARD], "discarded"))
    for status in (Status.CHECKS_FAILED, Status.OVERFIT):
        if status in present:
            items.append(("dot", DOT_COLOURS[status], str(status).replace("_", " ")))
    if present & {Status.CRASH, Status.TIMEOUT}:
        items.append(("tick", TICK_COLOURS[Status.CRASH], "crash / timeout"))
    if Status.AGENT_ERROR in present:
        items.append(("tick", TICK_COLOURS[Status.AGENT_ERROR], "agent error"))
    others = [str(status).replace("_", " ") for status in OTHER_TICK_STATUSES
              if status in present]
    if others:
        items.append(("tick", OTHER_TICK, " / ".join(others)))
    return items


LEGEND_W, LEGEND_ROW = 150, 18


def _legend(x0: float, y0: float, experiments: Sequence[Experiment]) -> str:
    items = _legend_items(experiments)
    box_w, row = LEGEND_W, LEGEND_ROW
    parts = [f'<g font-size="12" fill="#333"><rect x="{x0}" y="{y0}" width="{box_w}" '
             f'height="{row * len(items) + 8}" fill="#ffffff" fill-opacity="0.9" '
             f'stroke="#ddd"/>']
    for i, (kind, colour, label) in enumerate(items):
        cy = y0 + 4 + row * i + row / 2
        if kind == "dot":
            parts.append(f'<circle cx="{x0 + 14}" cy="{cy}" r="4.5" fill="{colour}"/>')
        elif kind == "line":
            parts.append(f'<line x1="{x0 + 6}" y1="{cy}" x2="{x0 + 22}" y2="{cy}" '
                         f'stroke="{colour}" stroke-width="2.2"/>')
        else:
            parts.append(f'<line x1="{x0 + 14}" y1="{cy - 5}" x2="{x0 + 14}" y2="{cy + 5}" '
                         f'stroke="{colour}" stroke-width="1.8"/>')
        parts.append(f'<text x="{x0 + 30}" y="{cy + 4}">{escape(label)}</text>')
    parts.append('</g>')
    return "".join(parts)

