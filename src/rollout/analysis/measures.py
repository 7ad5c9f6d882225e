"""What each metric kind reads from the arm counts, and how its values are written."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rollout.analysis import figures as fmt
from rollout.analysis.observation import ArmStats, Interval, MetricSpec
from rollout.analysis.sketch import LatencySketch
from rollout.analysis.verdict import MAX_SERIES_POINTS, SeriesPoint

COUNT_SCALE = 1000.0  # counted events are shown per 1,000 requests when compared


def label(spec: MetricSpec) -> str:
    """The metric in words: ``error rate``, ``latency p99``, ``checkout conversion``."""
    return spec.name.replace("_", " ")


def arm_label(spec: MetricSpec) -> str:
    """How a "canary X vs control Y" sentence names the metric (``canary errors 2.1%``)."""
    return "errors" if spec.kind == "error_rate" else label(spec)


def noun(spec: MetricSpec) -> str:
    """What the exposures are called: requests, or measurements for a mean."""
    return "measurements" if spec.kind == "mean" else "requests"


def exposures(spec: MetricSpec, arm: ArmStats) -> int:
    """How much traffic the arm's value rests on."""
    if spec.kind == "latency":
        return arm.latency_count
    if spec.kind == "mean":
        return arm.value_count
    return arm.requests


def events(spec: MetricSpec, arm: ArmStats) -> int:
    """The events a count-type metric counts (0 for latency and means)."""
    if spec.kind == "error_rate":
        return arm.errors
    if spec.kind == "conversion":
        return arm.conversions
    if spec.kind == "count":
        return arm.events
    return 0


def event_noun(spec: MetricSpec) -> str:
    """What a count-type metric's events are called: errors, conversions, or the name."""
    return {"error_rate": "errors", "conversion": "conversions"}.get(spec.kind, label(spec))


def is_count_type(spec: MetricSpec) -> bool:
    return spec.kind in ("error_rate", "conversion", "count")


def value(spec: MetricSpec, arm: ArmStats, *, per_request: bool = True) -> float | None:
    """The arm's figure in criterion units, None without data. A ``count`` metric is a total
    when ``per_request`` is False (a threshold such as ``crashes < 5``), else a rate."""
    if spec.kind == "latency":
        return (
            arm.latency.quantile(spec.quantile)
            if arm.latency is not None and arm.latency.count
            else None
        )
    if spec.kind == "mean":
        return arm.value_sum / arm.value_count if arm.value_count else None
    if spec.kind == "count" and not per_request:
        return float(arm.events)
    return events(spec, arm) / arm.requests if arm.requests else None


def show(spec: MetricSpec, x: float | None, *, per_request: bool = True) -> str:
    """A measured figure for people: ``2.1%``, ``312 ms``, ``41.2``; ``n/a`` without data."""
    if x is None:
        return "n/a"
    if spec.kind == "count":
        return fmt.number(x * COUNT_SCALE) if per_request else fmt.count(x)
    return fmt.quantity(x, spec.unit)


def show_limit(spec: MetricSpec, x: float, *, per_request: bool = True) -> str:
    """A limit the user wrote, with its own digits: ``1%``, ``300 ms``, ``20``."""
    if spec.kind == "count" and per_request:
        return fmt.number(x * COUNT_SCALE)
    return fmt.quantity(x, spec.unit, as_limit=True)


def rate_suffix(spec: MetricSpec) -> str:
    """What follows a compared count rate: `` per 1,000 requests``."""
    return f" per {fmt.count(COUNT_SCALE)} requests" if spec.kind == "count" else ""


def chart_ends(count: int, most: int = MAX_SERIES_POINTS) -> tuple[int, ...]:
    """Which of ``count`` intervals (0-based, oldest first) end a chart point.

    Up to ``most`` intervals, every one. Beyond, the intervals are pooled into ``most``
    consecutive groups, each drawn at its last interval's end: the first group is the first
    interval alone and the others hold equally many to within one, so the chart starts and ends
    where the unpooled one would.

    >>> chart_ends(4)
    (0, 1, 2, 3)
    >>> chart_ends(10, most=4)  # groups [0], [1, 2, 3], [4, 5, 6], [7, 8, 9]
    (0, 3, 6, 9)
    """
    if most < 2:
        raise ValueError(f"a chart needs at least 2 points, not {most}")
    if count <= most:
        return tuple(range(count))
    # (count - 1) / (most - 1) > 1, so the ends strictly increase from 0 to count - 1.
    return tuple(k * (count - 1) // (most - 1) for k in range(most))


@dataclass(frozen=True)
class Window:
    """A stage window measured in one pass over its intervals.

    ``canary`` and ``control``: each arm pooled over the whole window. All counts are pooled,
    but the latency sketch only for a latency and the values (``value_count`` and the sums)
    only for a mean; for other kinds those are left empty, as nothing reads them. ``chart``: the
    arms' figures at each end of :func:`chart_ends`, each over the window from its start up to
    that time, with no line yet (``threshold`` None); :func:`series` draws the line.
    """

    canary: ArmStats
    control: ArmStats
    chart: tuple[SeriesPoint, ...]


class _ExactSum:
    """A running sum of floats kept exactly as non-overlapping partial sums (Shewchuk,
    "Adaptive precision floating-point arithmetic", 1997, the method behind ``math.fsum``), so
    the total read after any interval is the correctly rounded sum so far, the same figure
    ``math.fsum`` gives on those values."""

    __slots__ = ("_partials",)

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, x: float) -> None:
        kept = 0
        for partial in self._partials:
            big, small = (x, partial) if abs(x) >= abs(partial) else (partial, x)
            high = big + small
            low = small - (high - big)  # the exact rounding error of big + small
            if low:
                self._partials[kept] = low
                kept += 1
            x = high
        self._partials[kept:] = [x]

    @property
    def total(self) -> float:
        return math.fsum(self._partials)


class _Running:
    """One arm's counts added up interval by interval. Latency sketches are merged into a
    private sketch only when ``latency`` is set, and the sums of values kept only when
    ``values`` is set: the other kinds never read them, and merging costs the most."""

    def __init__(self, *, latency: bool, values: bool) -> None:
        self.requests = self.errors = self.conversions = self.value_count = self.events = 0
        self.sketch: LatencySketch | None = None
        self._latency = latency
        self._sums = (_ExactSum(), _ExactSum()) if values else None

    def add(self, arm: ArmStats) -> None:
        self.requests += arm.requests
        self.errors += arm.errors
        self.conversions += arm.conversions
        self.events += arm.events
        if self._sums is not None:
            self.value_count += arm.value_count
            self._sums[0].add(arm.value_sum)
            self._sums[1].add(arm.value_sum_sq)
        if self._latency and arm.latency is not None:
            if self.sketch is None:
                self.sketch = arm.latency.copy()
            else:
                self.sketch.merge(arm.latency)

    def total(self) -> ArmStats:
        """The counts so far; its sketch is this object's and keeps growing with ``add``."""
        sums = (self._sums[0].total, self._sums[1].total) if self._sums is not None else (0.0, 0.0)
        return ArmStats(
            self.requests,
            self.errors,
            self.sketch,
            self.conversions,
            self.value_count,
            sums[0],
            sums[1],
            self.events,
        )


def measure(
    spec: MetricSpec,
    intervals: Sequence[Interval],
    *,
    per_request: bool = True,
    with_control: bool = True,
) -> Window:
    """Pool both arms over ``intervals`` and take the chart's figures on the way, in one pass.

    A chart point is the figure over the window up to its time (``value(spec, pool(...))`` of
    the intervals so far, in criterion units; ``per_request`` as in :func:`value`), so pooling
    intervals into groups (:func:`chart_ends`) leaves every drawn point exactly what it would
    be unpooled, and the last point is the window's figure the verdict states. Without
    ``with_control`` the control is neither pooled nor charted (a total count's threshold).

    For example, with errors 10/1,000 then 30/1,000 on the canary, the points read 1% then
    2%, and ``canary`` holds 40 errors in 2,000 requests.
    """
    ends = chart_ends(len(intervals))
    latency, values = spec.kind == "latency", spec.kind == "mean"
    canary = _Running(latency=latency, values=values)
    control = _Running(latency=latency, values=values)
    chart = []
    next_end = 0  # the position in ``ends`` of the next interval that ends a point
    for i, interval in enumerate(intervals):
        canary.add(interval.canary)
        if with_control:
            control.add(interval.control)
        if ends[next_end] != i:
            continue
        next_end = min(next_end + 1, len(ends) - 1)  # the last end is the last interval
        c = value(spec, canary.total(), per_request=per_request)
        b = value(spec, control.total(), per_request=per_request) if with_control else None
        chart.append(SeriesPoint(interval.end, c, b, None))
    return Window(canary.total(), control.total(), tuple(chart))


def series(window: Window, *, factor: float | None, offset: float) -> tuple[SeriesPoint, ...]:
    """The window's chart with the line the canary is held to: ``factor * control + offset``
    (None where the control has no figure yet), or the constant ``offset`` when ``factor`` is
    None."""
    return tuple(
        SeriesPoint(
            p.time,
            p.canary,
            p.control,
            offset
            if factor is None
            else (factor * p.control + offset if p.control is not None else None),
        )
        for p in window.chart
    )
