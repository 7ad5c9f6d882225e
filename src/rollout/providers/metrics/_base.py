"""What every metric source promises: the ``MetricSource`` protocol, the arms it compares,
the time steps it measures in, and ``NoData``.

A source answers one question: for one metric, what did the canary arm and the control arm
serve in each step of ``[start, end)``? It returns a :class:`~rollout.analysis.MetricSeries`
(one :class:`~rollout.analysis.Interval` per step that has data), or :class:`NoData` when there
were no samples at all. "No data" is an answer, not a failure: the stage holds and waits. A
source that cannot answer (timeout, bad query, unreachable server, malformed output) raises
:class:`~rollout.errors.MetricsError` instead, naming the query or command.

Steps: the window ``[start, end)`` is cut into whole steps of ``step`` seconds counted from
``start``; a trailing partial step is left for the next call (a Prometheus range query can only
evaluate whole steps, and a script is asked for whole steps too).
Example: ``start=0, end=100, step=30`` gives ``[0, 30)``, ``[30, 60)``, ``[60, 90)``; the last
10 s come with the next call that reaches 120. Steps in which neither arm had any sample are
left out of the series. The built-in telemetry is the exception: its data arrive as SDK
batches, already counted, so it also answers for the partial step ``[90, 100)`` (see
:meth:`Steps.index_of`'s ``partial``): a rollback trigger is then judged on every batch as
soon as it lands, not up to a whole step later. The anytime-valid tests do not depend on
how the window is cut, so a partial step costs no validity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rollout.analysis import MetricSeries, MetricSpec
from rollout.errors import MetricsError
from rollout.plan.model import Metric

__all__ = [
    "ArmSelector",
    "FetchResult",
    "MetricSource",
    "NoData",
    "Steps",
    "plain_number",
    "promql_duration",
]


@dataclass(frozen=True)
class ArmSelector:
    """Which traffic is the canary arm (the new version) and which the control arm (the
    current one), measured at the same time.

    ``canary`` and ``control`` are what tells the arms apart in the source: flag variant names
    for the built-in telemetry (``on`` / ``off``), label values for Prometheus (``canary`` /
    ``stable``), free words handed to a command. None means the source's default, which each
    source documents. ``environment`` and ``flag`` say where and what is rolled out; the
    built-in source needs ``flag``, the others offer both to their queries as placeholders.
    """

    environment: str
    flag: str | None = None
    canary: str | None = None
    control: str | None = None


@dataclass(frozen=True)
class NoData:
    """The source answered, but had no sample of ``metric`` in the window; ``reason`` says
    what was looked for, in words (it ends up in a verdict a person reads)."""

    metric: str
    reason: str


FetchResult = MetricSeries | NoData
"""What a fetch returns: the measured series, or :class:`NoData`."""


@runtime_checkable
class MetricSource(Protocol):
    """Measures a metric for both arms, step by step (see the module docstring)."""

    def fetch(
        self,
        metric: str,
        spec: MetricSpec,
        metric_def: Metric | None,
        arms: ArmSelector,
        *,
        start: float,
        end: float,
        step: float,
    ) -> FetchResult:
        """The steps of ``[start, end)`` (seconds since the epoch, ``step`` seconds each) for
        ``metric``; ``spec`` says what kind of metric it is, ``metric_def`` is its definition in
        the plan (None for a built-in name such as ``error_rate`` that the plan does not
        define). Raises ``MetricsError`` when the source cannot answer."""
        ...


@dataclass(frozen=True)
class Steps:
    """The whole steps of ``[start, end)``; see the module docstring.

    >>> steps = Steps(0.0, 100.0, 30.0)
    >>> steps.count, steps.bounds(2), steps.stop
    (3, (60.0, 90.0), 90.0)
    >>> steps.index_of_end(60.0)  # the step that ends at 60 s
    1
    """

    start: float
    end: float
    step: float

    def __post_init__(self) -> None:
        for name in ("start", "end", "step"):
            if not math.isfinite(getattr(self, name)):
                raise MetricsError(f"a metric window's {name} must be a finite number of seconds")
        if self.step <= 0:
            raise MetricsError(f"a metric step must be longer than 0 s, not {self.step:g} s")
        if self.end < self.start:
            raise MetricsError(
                f"a metric window must not end ({self.end:g}) before it starts ({self.start:g})"
            )

    @property
    def count(self) -> int:
        """How many whole steps fit (the slack absorbs float noise such as 0.1 + 0.2)."""
        return math.floor((self.end - self.start) / self.step + 1e-9)

    @property
    def stop(self) -> float:
        """Where the last whole step ends (``start`` when there is none)."""
        return self.start + self.count * self.step

    def bounds(self, index: int) -> tuple[float, float]:
        """``(start, end)`` of step ``index`` (0-based); index ``count`` is the trailing
        partial step, which ends at ``end``."""
        start = self.start + index * self.step
        return start, min(start + self.step, self.end) if index >= self.count else start + self.step

    def index_of_end(self, t: float) -> int:
        """The step whose end is ``t`` (a range query's evaluation time), to the nearest."""
        return round((t - self.start) / self.step) - 1

    def index_of(self, t: float, *, partial: bool = False) -> int | None:
        """The step that holds the moment ``t`` (start inclusive), None outside them all.
        With ``partial``, a moment in ``[stop, end)`` belongs to the trailing partial step,
        index ``count``.

        >>> steps = Steps(0.0, 100.0, 30.0)
        >>> steps.index_of(95.0), steps.index_of(95.0, partial=True), steps.bounds(3)
        (None, 3, (90.0, 100.0))
        """
        if partial and self.stop <= t < self.end:
            return self.count
        if not self.start <= t < self.stop:
            return None
        return min(int((t - self.start) // self.step), self.count - 1)


def promql_duration(seconds: float) -> str:
    """A duration as Prometheus writes it: whole seconds as ``30s``, else milliseconds.

    >>> promql_duration(30.0), promql_duration(1.5), promql_duration(3600.0)
    ('30s', '1500ms', '3600s')
    """
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def plain_number(value: float) -> str:
    """A number of seconds as scripts and Prometheus read it best: to the millisecond, no
    exponent, no trailing zeros.

    >>> plain_number(1767225600.0), plain_number(4.9120001), plain_number(1234567.0)
    ('1767225600', '4.912', '1234567')
    """
    return f"{value:.3f}".rstrip("0").rstrip(".")
