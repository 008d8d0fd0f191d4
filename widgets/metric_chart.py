"""MetricChart: the metric over experiments, drawn with textual-plotext.

x is the experiment number; every measured experiment is a point coloured by its status;
a step line follows the champion (the running best); the baseline is a horizontal line.
Colours come from theme variables, so the chart follows the app theme. Long histories are
binned to the chart's width (one point per status per column, the best of the bin), so a
redraw costs the same for 50 experiments or 50,000.

plotext is imported only once the chart is first shown, after the first frame has painted.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from app.engine.records import Experiment, Status, is_better
from widgets.literal import one_line
from widgets.status_style import look_classes, look_css, look_of

if TYPE_CHECKING:
    from textual_plotext import PlotextPlot

PLOT_LOOKS = ("baseline", "keep", "discard", "warned", "vetoed", "failed", "interrupted")
"""Draw order: later looks are drawn on top; keeps must not hide under discards."""
DRAW_ORDER = ("discard", "interrupted", "failed", "vetoed", "warned", "baseline", "keep")


@dataclass(frozen=True)
class ChartPoint:
    n: int
    value: float
    look: str


def bin_points(points: Sequence[ChartPoint], columns: int, direction: str) -> list[ChartPoint]:
    """At most one point per look per column: the best value of the bin.

    Keeps and baselines survive binning because each look is binned separately.
    """
    if len(points) <= columns or not points:
        return list(points)
    first, last = points[0].n, points[-1].n
    width = max(1, math.ceil((last - first + 1) / max(1, columns)))
    best: dict[tuple[int, str], ChartPoint] = {}
    for p in points:
        key = ((p.n - first) // width, p.look)
        held = best.get(key)
        if held is None or (p.value < held.value if direction == "lower"
                            else p.value > held.value):
            best[key] = p
    return sorted(best.values(), key=lambda p: p.n)


def champion_steps(experiments: Iterable[Experiment], direction: str
                   ) -> tuple[list[float], list[float]]:
    """The champion as a step line over experiment numbers: it starts at each baseline and
    steps down (or up, `direction`) to each keep that beats it.

    Parallel workers decide out of number order: #3 kept at 650 before #2 at 600 (a late
    keep is measured again on the newer champion, so it beats it). Taken in decision order
    the line ran back along x; taken by number with each keep's own value it stepped up to
    650 at #3, a champion that never was. The best so far, by number, is the same whatever
    the order of decisions: live, and after a relaunch (which reads them by number)."""
    xs: list[float] = []
    ys: list[float] = []
    current: float | None = None
    last_n = 0
    for e in sorted(experiments, key=lambda e: e.n):
        last_n = e.n
        if e.metric is None or e.status not in (Status.BASELINE, Status.KEEP):
            continue
        if e.status is Status.KEEP and current is not None \
                and not is_better(e.metric, current, direction):
            continue
        if current is not None:
            xs.append(e.n)
            ys.append(current)
        current = e.metric
        xs.append(e.n)
        ys.append(current)
    if current is not None and xs and last_n > xs[-1]:
        xs.append(last_n)
        ys.append(current)
    return xs, ys


def integer_ticks(first: int, last: int, count: int = 6) -> list[int]:
    if last <= first:
        return [first]
    step = max(1, math.ceil((last - first) / max(1, count - 1)))
    magnitude = 10 ** int(math.log10(step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= step)
    start = first - first % step
    return [t for t in range(start, last + step, step) if first <= t <= last] or [first]


def _label(value: float) -> str:
    """A y label: four significant digits, no exponent for everyday magnitudes."""
    magnitude = abs(value)
    if value == 0:
        return "0"
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}" if magnitude < 1000 else f"{value:,.0f}"


def level_ticks(experiments: Sequence[Experiment], points: Sequence[ChartPoint],
                rows: int) -> list[float]:
    """The y values to label: the champion's levels (the best now, the baseline, then the
    earlier keeps, newest first) and the lowest and highest points, each at least one row
    apart, so every label sits on the row of a point or of the champion's line, with that
    point's own value (evenly spaced ticks named values no point had)."""
    values = [p.value for p in points]
    if not values:
        return []
    lo, hi = min(values), max(values)
    levels = [e.metric for e in experiments
              if e.metric is not None and e.status in (Status.BASELINE, Status.KEEP)]
    baseline = next((e.metric for e in reversed(experiments)
                     if e.status is Status.BASELINE and e.metric is not None), None)
    wanted = [*levels[-1:], *([baseline] if baseline is not None else []), lo, hi,
              *reversed(levels[:-1])]
    if hi == lo:
        return [lo]
    # Two labels closer than this could land on one row (plotext rounds to rows).
    gap = (hi - lo) / max(1, rows - 1) * 1.5
    chosen: list[float] = []
    for value in wanted:
        if all(abs(value - c) >= gap for c in chosen):
            chosen.append(value)
    return sorted(chosen)


class MetricChart(Widget):
    """The metric chart. Give it experiments with `set_experiments` / `add_experiment`."""

    COMPONENT_CLASSES = look_classes("metric-chart") | {"metric-chart--champion"}

    DEFAULT_CSS = look_css("MetricChart", "metric-chart") + """
    MetricChart { height: 1fr; min-height: 5; }
    MetricChart > .metric-chart--champion { color: $text-success; }
    MetricChart > Static { color: $foreground-muted; padding: 1 2; }
    """

    def __init__(self, *, metric_name: str = "metric", unit: str = "", direction: str = "lower",
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.metric_name = metric_name
        self.unit = unit
        self.direction = direction
        self.experiments: list[Experiment] = []
        self._plot: PlotextPlot | None = None
        self.draws = 0
        """How many times the plot was rebuilt (tests check redraws stay bounded)."""

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first measurement…", id="chart-placeholder")

    def on_mount(self) -> None:
        # Import plotext after the first frame: it is not needed to show the screen.
        self.call_after_refresh(self._mount_plot)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def _mount_plot(self) -> None:
        from textual_plotext import PlotextPlot

        chart = self

        class _Plot(PlotextPlot):
            def render(self) -> Any:
                chart._draw(self)
                return super().render()

        self._plot = _Plot()
        self._plot.display = bool(self._measured())
        self.mount(self._plot)
        self._sync_placeholder()

    # -- what the App calls ---------------------------------------------------------------
    def configure(self, *, metric_name: str, unit: str, direction: str) -> None:
        self.metric_name, self.unit, self.direction = metric_name, unit, direction
        self._redraw()

    def set_experiments(self, experiments: Iterable[Experiment]) -> None:
        self.experiments = sorted(experiments, key=lambda e: e.n)
        self._redraw()

    def add_experiment(self, experiment: Experiment) -> None:
        """In experiment-number order, as a relaunch reads them: parallel workers decide out
        of that order, and the champion's line must not depend on which decided first."""
        if not self.experiments or self.experiments[-1].n < experiment.n:
            self.experiments.append(experiment)  # one worker: always so
            self._redraw()
            return
        at = bisect.bisect_left([e.n for e in self.experiments], experiment.n)
        if self.experiments[at].n == experiment.n:
            self.experiments[at] = experiment
        else:
            self.experiments.insert(at, experiment)
        self._redraw()

    # -- drawing ----------------------------------------------------------------------------
    def _measured(self) -> list[ChartPoint]:
        return [ChartPoint(e.n, e.metric, look_of(e.status)) for e in self.experiments
                if e.metric is not None and math.isfinite(e.metric)]

    def _redraw(self) -> None:
        self._sync_placeholder()
        if self._plot is not None:
            self._plot.refresh()

    def _sync_placeholder(self) -> None:
        has_points = any(e.metric is not None for e in self.experiments)
        for static in self.query("#chart-placeholder"):
            static.display = not has_points or self._plot is None
        if self._plot is not None:
            self._plot.display = has_points

    def _rgb(self, look: str) -> tuple[int, int, int]:
        color = self.get_component_rich_style(f"metric-chart--{look}", partial=True).color
        triplet = color.get_truecolor() if color is not None else None
        return (triplet.red, triplet.green, triplet.blue) if triplet else (200, 200, 200)

    def _draw(self, plot: PlotextPlot) -> None:
        self.draws += 1
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        width, height = plot.size.width, plot.size.height
        points = self._measured()
        if not points:
            return
        columns = max(8, width - 12)
        shown = bin_points(points, columns, self.direction)
        # Lines first, points last: plotext draws later series over earlier ones.
        baseline = next((e.metric for e in reversed(self.experiments)
                         if e.status is Status.BASELINE and e.metric is not None), None)
        if baseline is not None:
            plt.hline(baseline, self._rgb("baseline"))
        xs, ys = champion_steps(self.experiments, self.direction)
        if len(xs) > 2 * columns:  # many keeps: keep one step per column
            step = math.ceil(len(xs) / (2 * columns))
            xs, ys = xs[::step] + xs[-1:], ys[::step] + ys[-1:]
        if len(xs) > 1:
            plt.plot(xs, ys, color=self._rgb("champion"), marker="braille")
        for look in DRAW_ORDER:
            group = [p for p in shown if p.look == look]
            if group:
                plt.scatter([p.n for p in group], [p.value for p in group],
                            color=self._rgb(look), marker="●" if look == "keep" else "•")
        rows = height - (4 if height >= 10 else 3)  # less the x axis, its ticks and labels
        levels = level_ticks(self.experiments, shown, rows)
        if levels:
            plt.yticks(levels, [_label(v) for v in levels])
        first, last = points[0].n, max(points[-1].n, self.experiments[-1].n)
        ticks = integer_ticks(first, last, max(2, min(8, columns // 8)))
        plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])
        if last > first:
            plt.xlim(first - 0.5, last + 0.5)
        label = f"{self.metric_name} ({self.unit})" if self.unit else self.metric_name
        arrow = "↓ better" if self.direction == "lower" else "↑ better"
        plt.ylabel(one_line(f"{label} {arrow}"))
        if height >= 10:
            plt.xlabel("experiment")
