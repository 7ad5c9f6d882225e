"""What each metric kind reads from the arm counts, and how its values are written."""

from __future__ import annotations

from collections.abc import Sequence

from rollout.analysis import _format as fmt
from rollout.analysis.observation import ArmStats, Interval, MetricSpec
from rollout.analysis.sketch import LatencySketch
from rollout.analysis.verdict import SeriesPoint

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


class _Running:
    """One arm's counts added up interval by interval, with a private running sketch."""

    def __init__(self) -> None:
        self.requests = self.errors = self.conversions = self.value_count = self.events = 0
        self.value_sum = self.value_sum_sq = 0.0
        self.sketch: LatencySketch | None = None

    def add(self, arm: ArmStats) -> ArmStats:
        """Add ``arm`` and return the total so far (valid until the next call)."""
        self.requests += arm.requests
        self.errors += arm.errors
        self.conversions += arm.conversions
        self.value_count += arm.value_count
        self.value_sum += arm.value_sum
        self.value_sum_sq += arm.value_sum_sq
        self.events += arm.events
        if arm.latency is not None:
            if self.sketch is None:
                self.sketch = arm.latency.copy()
            else:
                self.sketch.merge(arm.latency)
        return ArmStats(
            self.requests,
            self.errors,
            self.sketch,
            self.conversions,
            self.value_count,
            self.value_sum,
            self.value_sum_sq,
            self.events,
        )


def series(
    spec: MetricSpec,
    intervals: Sequence[Interval],
    *,
    factor: float | None,
    offset: float,
    per_request: bool = True,
    with_control: bool = True,
) -> tuple[SeriesPoint, ...]:
    """Chart points at each interval's end: the canary's and the control's values over the
    window so far and the line the canary is held to, ``factor * control + offset`` (or the
    constant ``offset`` when ``factor`` is None)."""
    canary_total, control_total = _Running(), _Running()
    points = []
    for interval in intervals:
        c = value(spec, canary_total.add(interval.canary), per_request=per_request)
        b = None
        if with_control:
            b = value(spec, control_total.add(interval.control), per_request=per_request)
        if factor is None:
            line: float | None = offset
        else:
            line = factor * b + offset if b is not None else None
        points.append(SeriesPoint(interval.end, c, b, line))
    return tuple(points)
