"""Typed inputs of the analysis: per-arm counts over time intervals, and what a metric is.

A stage is judged on a series of :class:`Interval` values, each holding what the canary arm
and the control arm served between ``start`` and ``end`` (seconds since the epoch). Which
fields of :class:`ArmStats` matter depends on the metric's kind:

============  ===============================================  ==============================
kind          fields                                           value compared
============  ===============================================  ==============================
error_rate    ``requests``, ``errors`` (``error_subjects``)     errors / requests (a fraction)
latency       ``latency`` (a sketch of request times, ms)      its ``percentile`` (ms)
conversion    ``requests`` (exposures), ``conversions``        conversions / requests
mean          ``value_count``, ``value_sum``, ``value_sum_sq``  value_sum / value_count
count         ``requests``, ``events``                         events (in a threshold), or
                                                               events per request (vs control)
============  ===============================================  ==============================

``error_subjects``, when a source knows it, counts the distinct subjects (users, clients) the
failed requests were for, once per telemetry report, plus failures without a known subject: one
client retrying 30 times is 30 errors and 1 error subject. Comparisons of the error rate with
the control test these counts, so a burst of retries is not mistaken for a regression.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rollout.analysis.sketch import LatencySketch
from rollout.plan.criteria import Unit, latency_percentile

__all__ = [
    "ArmStats",
    "Interval",
    "MetricKind",
    "MetricSeries",
    "MetricSpec",
    "infer_metric_spec",
    "metric_spec",
    "pool",
]

MetricKind = Literal["error_rate", "latency", "conversion", "mean", "count"]
_KINDS: tuple[MetricKind, ...] = ("error_rate", "latency", "conversion", "mean", "count")
_UNITS: dict[MetricKind, Unit] = {
    "error_rate": "ratio",
    "latency": "ms",
    "conversion": "ratio",
    "mean": "number",
    "count": "number",
}


@dataclass(frozen=True)
class ArmStats:
    """What one arm (canary or control) served in one interval.

    ``requests``: requests (or exposures) served; ``errors``: failed requests among them;
    ``latency``: a sketch of their durations in ms (None when not measured); ``conversions``:
    exposures that converted; ``value_count``/``value_sum``/``value_sum_sq``: the number, sum
    and sum of squares of a numeric measurement (order value, say), for ``mean`` metrics;
    ``events``: occurrences of a counted event (crashes, retries), for ``count`` metrics;
    ``error_subjects``: the distinct subjects the errors were for (see the module docstring;
    None when the source does not know, so ``0 <= error_subjects <= errors`` when given).
    The sketch is read, never changed.
    """

    requests: int = 0
    errors: int = 0
    latency: LatencySketch | None = None
    conversions: int = 0
    value_count: int = 0
    value_sum: float = 0.0
    value_sum_sq: float = 0.0
    events: int = 0
    error_subjects: int | None = None

    def problem(self) -> str | None:
        """What is impossible about these numbers, in words, or None when they are coherent."""
        # Checked on every interval of a window at every judgment: the common case is one test.
        if min(self.requests, self.errors, self.conversions, self.value_count, self.events) < 0:
            for name in ("requests", "errors", "conversions", "value_count", "events"):
                if getattr(self, name) < 0:
                    return f"{name} is negative ({getattr(self, name)})"
        if self.errors > self.requests:
            return f"{self.errors} errors but only {self.requests} requests"
        if self.error_subjects is not None:
            if self.error_subjects < 0:
                return f"error_subjects is negative ({self.error_subjects})"
            if self.error_subjects > self.errors:
                return f"error_subjects ({self.error_subjects}) exceeds errors ({self.errors})"
        if self.conversions > self.requests:
            return f"{self.conversions} conversions but only {self.requests} exposures"
        if not (math.isfinite(self.value_sum) and math.isfinite(self.value_sum_sq)):
            return "a sum of values is not a finite number"
        if self.value_sum_sq < 0:
            return "the sum of squared values is negative"
        return None

    @property
    def latency_count(self) -> int:
        """Requests in the latency sketch (0 without one)."""
        return self.latency.count if self.latency is not None else 0

    def __add__(self, other: ArmStats) -> ArmStats:
        return pool((self, other))


def pool(stats: Iterable[ArmStats]) -> ArmStats:
    """All ``stats`` added up (sketches merged into a new one; the inputs are unchanged)."""
    items = list(stats)
    sketches = [s.latency for s in items if s.latency is not None]
    subjects = [s.error_subjects for s in items]
    return ArmStats(
        requests=sum(s.requests for s in items),
        errors=sum(s.errors for s in items),
        latency=LatencySketch.combine(sketches) if sketches else None,
        conversions=sum(s.conversions for s in items),
        value_count=sum(s.value_count for s in items),
        value_sum=math.fsum(s.value_sum for s in items),
        value_sum_sq=math.fsum(s.value_sum_sq for s in items),
        events=sum(s.events for s in items),
        error_subjects=None if None in subjects else sum(filter(None, subjects)),
    )


@dataclass(frozen=True)
class Interval:
    """The two arms over ``[start, end)``, in seconds since the epoch, measured at the same time."""

    start: float
    end: float
    canary: ArmStats
    control: ArmStats


@dataclass(frozen=True)
class MetricSpec:
    """What a metric is: its ``kind`` (see the module table), whether higher is better, and
    for a latency the ``percentile`` it reads, in percent (99.0 for p99, 99.9 for p99.9)."""

    name: str
    kind: MetricKind
    higher_is_better: bool
    percentile: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown metric kind {self.kind!r}; expected one of {_KINDS}")
        if self.kind == "latency" and not (
            self.percentile is not None and 0.0 < self.percentile < 100.0
        ):
            raise ValueError(f"latency metric {self.name!r} needs a percentile between 0 and 100")

    @property
    def quantile(self) -> float:
        """The percentile as a fraction (0.99 for p99); 0.5 for a metric without one."""
        return (self.percentile if self.percentile is not None else 50.0) / 100.0

    @property
    def unit(self) -> Unit:
        """``ratio`` for rates, ``ms`` for latency, ``number`` otherwise (criterion units)."""
        return _UNITS[self.kind]


def metric_spec(
    name: str,
    kind: MetricKind,
    higher_is_better: bool | None = None,
    percentile: float | None = None,
) -> MetricSpec:
    """A spec with the plan's defaults filled in: lower is better for ``error_rate``,
    ``latency`` and ``count``, higher for ``conversion``; a ``mean`` must say which.
    A latency without a percentile takes it from a ``latency_pNN`` name.

    >>> metric_spec("checkout_conversion", "conversion").higher_is_better
    True
    """
    if higher_is_better is None:
        if kind == "mean":
            raise ValueError(f"mean metric {name!r} must say whether higher is better")
        higher_is_better = kind == "conversion"
    if kind == "latency" and percentile is None:
        percentile = latency_percentile(name)
    return MetricSpec(name, kind, higher_is_better, percentile)


def infer_metric_spec(name: str) -> MetricSpec | None:
    """The spec of a built-in metric name, or None when the name needs a definition.

    >>> infer_metric_spec("error_rate")
    MetricSpec(name='error_rate', kind='error_rate', higher_is_better=False, percentile=None)
    >>> infer_metric_spec("latency_p99.9")
    MetricSpec(name='latency_p99.9', kind='latency', higher_is_better=False, percentile=99.9)
    >>> infer_metric_spec("checkout_conversion") is None
    True
    """
    if name == "error_rate":
        return MetricSpec(name, "error_rate", higher_is_better=False)
    percentile = latency_percentile(name)
    if percentile is not None and 0.0 < percentile < 100.0:
        return MetricSpec(name, "latency", higher_is_better=False, percentile=percentile)
    return None


@dataclass(frozen=True)
class MetricSeries:
    """One metric's definition and its measurements over a stage window, oldest first."""

    spec: MetricSpec
    intervals: Sequence[Interval]
