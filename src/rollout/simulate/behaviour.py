"""How each version behaves at a moment of the dry run: the scenario's numbers, resolved.

A :class:`Behaviour` is one version's error rate, latency distribution and the rates of the
plan's own metrics. The control arm behaves as the scenario's ``control`` (with the defaults
below for what it leaves out); the canary arm as ``canary`` over that, changed by every
regression active at that moment in that environment (changes multiply).

Latency is log-normal: ``median`` ``m`` and ``p99`` ``p`` give ``mu = ln m`` and
``sigma = ln(p / m) / z`` with ``z = 2.3263``, the standard normal's 99th percentile.
Worked example: median 100 ms, p99 300 ms -> sigma = ln 3 / 2.3263 = 0.472, so the p95 is
``100 * exp(1.6449 * 0.4723) = 217 ms``. ``latency: +20%`` multiplies both; ``latency_p99:
+40%`` multiplies the p99 alone (a heavier tail, the same median).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import NormalDist

from rollout.analysis import MetricKind, MetricSpec
from rollout.engine import spec_for, spike_checks, triggers
from rollout.plan.model import Plan
from rollout.simulate.scenario import Arm, MeanValue, Regression, Scenario

__all__ = [
    "DEFAULT_CONTROL",
    "Behaviour",
    "LatencyModel",
    "Versions",
    "metric_kinds",
    "plan_specs",
]

_NORMAL = NormalDist()
Z99 = _NORMAL.inv_cdf(0.99)
# A p99 never falls to the median: a tail this thin is as steady as latency gets.
_MIN_TAIL = 1.01


@dataclass(frozen=True)
class LatencyModel:
    """A log-normal latency in ms, given by its median and its p99.

    >>> round(LatencyModel(100.0, 300.0).quantile(0.95), 1)
    217.4
    """

    median: float
    p99: float

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / Z99

    def quantile(self, q: float) -> float:
        """The latency (ms) below which a share ``q`` of requests finish (0 < q < 1)."""
        return self.median * math.exp(self.sigma * _NORMAL.inv_cdf(q))

    def changed(self, whole: float, tail: float) -> LatencyModel:
        """Every request ``whole`` times as slow, and the p99 a further ``tail`` times."""
        median = self.median * whole
        return LatencyModel(median, max(self.p99 * whole * tail, median * _MIN_TAIL))


@dataclass(frozen=True)
class Behaviour:
    """One version at one moment: ``error_rate`` (a fraction of requests), ``latency``, and
    per metric of the plan: ``rates`` (conversions per exposure, or events per request) and
    ``means`` (a value measured per request); ``kinds`` says which kind each metric is."""

    error_rate: float
    latency: LatencyModel
    rates: dict[str, float] = field(default_factory=dict)
    means: dict[str, MeanValue] = field(default_factory=dict)
    kinds: dict[str, MetricKind] = field(default_factory=dict, compare=False)

    def value(self, spec: MetricSpec) -> float | None:
        """The metric's expected value in criterion units (a fraction, or ms), or None when
        the behaviour does not cover it. What a baseline measurement reports.

        >>> DEFAULT_CONTROL.value(MetricSpec("latency_p99", "latency", False, 99.0))
        300.0
        """
        if spec.kind == "error_rate":
            return self.error_rate
        if spec.kind == "latency":
            return round(self.latency.quantile(spec.quantile), 6)
        if spec.kind == "mean":
            found = self.means.get(spec.name)
            return found.mean if found is not None else None
        return self.rates.get(spec.name)

    def regressed(self, regression: Regression) -> Behaviour:
        """This behaviour with ``regression``'s changes applied."""
        rates = dict(self.rates)
        means = dict(self.means)
        if regression.conversion is not None:
            for name, rate in self.rates.items():
                if self.kinds.get(name) == "conversion":
                    rates[name] = min(1.0, rate * regression.conversion)
        for name, factor in regression.metrics.items():
            if name in rates:
                cap = 1.0 if self.kinds.get(name) == "conversion" else math.inf
                rates[name] = min(cap, rates[name] * factor)
            elif name in means:
                means[name] = MeanValue(mean=means[name].mean * factor, sd=means[name].sd)
        error_rate = self.error_rate
        if regression.error_rate is not None:
            error_rate = min(1.0, error_rate * regression.error_rate)
        latency = self.latency.changed(regression.latency or 1.0, regression.latency_p99 or 1.0)
        return replace(self, error_rate=error_rate, latency=latency, rates=rates, means=means)


DEFAULT_CONTROL = Behaviour(error_rate=0.005, latency=LatencyModel(100.0, 300.0))
"""What the control arm does where the scenario is silent: 0.5 % errors, median 100 ms,
p99 300 ms; conversions at :data:`DEFAULT_CONVERSION`."""

DEFAULT_CONVERSION = 0.03


def plan_specs(plan: Plan) -> tuple[MetricSpec, ...]:
    """Every metric the engine may ask to measure for ``plan``: the stages' criteria, the
    strategy's triggers and the validation's spike checks, each once, in plan order."""
    names: list[str] = []
    for index, stage in enumerate(plan.stages):
        names.extend(c.metric for c in (*stage.success, *triggers(plan, index)))
    names.extend(metric for metric, _ in spike_checks(plan))
    specs = (spec_for(plan, name) for name in dict.fromkeys(names))
    return tuple(spec for spec in specs if spec is not None)


def metric_kinds(plan: Plan) -> dict[str, MetricKind]:
    """The kind of every metric of :func:`plan_specs`, by name."""
    return {spec.name: spec.kind for spec in plan_specs(plan)}


def _arm(arm: Arm, base: Behaviour, kinds: dict[str, MetricKind]) -> Behaviour:
    latency = base.latency
    if arm.latency is not None:
        median = arm.latency.median * 1000.0
        # A p99 left out keeps the base's spread (its p99-to-median ratio).
        ratio = base.latency.p99 / base.latency.median
        p99 = arm.latency.p99 * 1000.0 if arm.latency.p99 is not None else median * ratio
        latency = LatencyModel(median, p99)
    rates = dict(base.rates)
    means = dict(base.means)
    for name, kind in kinds.items():
        if kind == "conversion" and arm.conversion is not None:
            rates[name] = arm.conversion / 100.0
    for name, value in arm.metrics.items():
        if isinstance(value, MeanValue):
            means[name] = value
        else:
            rates[name] = value / 100.0
    error_rate = base.error_rate if arm.error_rate is None else arm.error_rate / 100.0
    return Behaviour(error_rate, latency, rates, means, kinds)


@dataclass(frozen=True)
class Versions:
    """Both versions of a scenario, for a plan: the control arm, and the canary arm at any
    moment (:meth:`canary`)."""

    control: Behaviour
    healthy: Behaviour
    regressions: tuple[Regression, ...]
    _cache: dict[tuple[int, ...], Behaviour] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, scenario: Scenario, plan: Plan) -> Versions:
        kinds = metric_kinds(plan)
        base = replace(
            DEFAULT_CONTROL,
            kinds=kinds,
            rates={n: DEFAULT_CONVERSION for n, k in kinds.items() if k == "conversion"},
        )
        control = _arm(scenario.control, base, kinds)
        return cls(control, _arm(scenario.canary, control, kinds), scenario.regressions)

    def active(self, elapsed: float, environment: str) -> tuple[int, ...]:
        """Indexes of the regressions on at ``elapsed`` seconds in ``environment``."""
        return tuple(i for i, r in enumerate(self.regressions) if r.active(elapsed, environment))

    def canary(self, active: tuple[int, ...]) -> Behaviour:
        """The new version with the regressions ``active`` (indexes) applied."""
        found = self._cache.get(active)
        if found is None:
            found = self.healthy
            for index in active:
                found = found.regressed(self.regressions[index])
            self._cache[active] = found
        return found
