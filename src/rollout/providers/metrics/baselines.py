"""Baselines: what the metrics looked like before the rollout, over all traffic.

Post-deployment checks compare the new version with a baseline ("error rate within 50 % of
its baseline"). The plan may state baselines (``monitoring.error_rate_baseline``,
``latency_baseline``, ``business_baseline``, a metric's ``baseline``); those are used as they
are. Every baseline metric is also *measured* over ``monitoring.baseline_window`` before the
start, and the measurement is reported beside the plan's figure, so a stale number in the plan
shows up (``the plan says 0.4 %, measured 1.2 %``). Where the plan states nothing, the
measurement is the baseline.

Measured over all traffic, not per arm: each source is asked for both arms over one step as
long as the window, and the arms are added up. Before the rollout starts the canary arm is
empty, so this is the whole of the current version's traffic (for a flag with exactly two
variants, or two version labels, which is what a rollout compares).

Units are criterion units: a fraction for rates (0.004 for 0.4 %), milliseconds for latency.

Worked example: over the hour before the start the control served 12,000 requests with 48
errors and the canary none: the measured ``error_rate`` baseline is 48 / 12,000 = 0.004.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from rollout.analysis import MetricSeries, MetricSpec, pool
from rollout.analysis import figures as fmt
from rollout.analysis.measures import exposures, noun, show, show_limit, value
from rollout.engine import planned_baseline, spec_for, spike_checks
from rollout.errors import MetricsError
from rollout.plan.durations import format_duration
from rollout.plan.model import Plan
from rollout.providers.metrics._base import ArmSelector, NoData
from rollout.providers.metrics.registry import SourceRegistry, fetch_metric
from rollout.store import BaselineRecord

__all__ = ["Baseline", "BaselineWriter", "baseline_metrics", "measure_baselines"]


class BaselineWriter(Protocol):
    """The part of :class:`rollout.store.Store` that keeps measured baselines."""

    def put_baseline(
        self,
        scope: str,
        metric: str,
        value: float,
        window_seconds: float,
        measured_at: datetime | None = None,
    ) -> BaselineRecord: ...


@dataclass(frozen=True)
class Baseline:
    """One metric's baseline, in criterion units (a fraction for rates, ms for latency).

    ``value`` is what comparisons use: ``planned`` (the plan's figure) when there is one, else
    ``measured`` (None when the window had no data). ``exposures`` counts the requests (or
    measurements) behind ``measured``; ``note`` says all of it in words.
    """

    metric: str
    value: float | None
    planned: float | None
    measured: float | None
    exposures: int
    window_seconds: float
    note: str


def baseline_metrics(plan: Plan) -> tuple[str, ...]:
    """The metrics a plan has baselines for: ``error_rate``; every latency metric the plan
    names (in criteria, validation or definitions; ``latency_p99`` when it names none); and the
    business metric. A plan with ``latency_p95 < 800ms`` in a stage and a ``checkout``
    business metric gives ``('error_rate', 'latency_p95', 'checkout')``.
    """
    named = [c.metric for stage in plan.stages for c in (*stage.success, *stage.rollback_trigger)]
    named += [c.metric for c in plan.strategy.rollback_trigger]
    named += [metric for metric, _ in spike_checks(plan)]
    named += list(plan.monitoring.metrics)
    latency = [name for name in dict.fromkeys(named) if _is_latency(plan, name)]
    business = plan.monitoring.business_metric
    wanted = ["error_rate", *(latency or ["latency_p99"]), *([business] if business else [])]
    return tuple(dict.fromkeys(wanted))


def measure_baselines(
    plan: Plan,
    sources: SourceRegistry,
    now: float,
    *,
    metrics: Sequence[str] | None = None,
    environment: str | None = None,
    store: BaselineWriter | None = None,
    scope: str | None = None,
) -> list[Baseline]:
    """Measure ``metrics`` (default :func:`baseline_metrics`) over the
    ``monitoring.baseline_window`` seconds before ``now`` (seconds since the epoch), in
    ``environment`` (default: the last one, where the stages normally run), each with the
    source the plan gives it.

    Each measured value is kept with ``store.put_baseline(scope, ...)`` (``scope`` defaults to
    the plan's name) when a store is given. A source that fails raises ``MetricsError`` for a
    metric that needs the measurement; for one whose baseline the plan states, the failure is
    only reported in its note.
    """
    window = plan.monitoring.baseline_window
    env = environment or plan.environments[-1].name
    flag = plan.strategy.flag or plan.stage_flag(plan.stages[0])
    arms = ArmSelector(env, flag)
    found: list[Baseline] = []
    for metric in metrics if metrics is not None else baseline_metrics(plan):
        planned = planned_baseline(plan, metric)
        spec = spec_for(plan, metric)
        if spec is None:
            found.append(Baseline(metric, planned, planned, None, 0, window, _unknown(metric)))
            continue
        try:
            result = fetch_metric(
                plan, spec, sources, arms, start=now - window, end=now, step=window
            )
        except MetricsError as exc:
            if planned is None:
                raise
            note = f"{metric}: the plan's baseline is used; measuring it failed: {exc}"
            found.append(Baseline(metric, planned, planned, None, 0, window, note))
            continue
        baseline = _baseline(spec, planned, result, window)
        if store is not None and baseline.measured is not None:
            store.put_baseline(
                scope or plan.name,
                metric,
                baseline.measured,
                window,
                measured_at=datetime.fromtimestamp(now, UTC),
            )
        found.append(baseline)
    return found


def _baseline(
    spec: MetricSpec, planned: float | None, result: MetricSeries | NoData, window: float
) -> Baseline:
    over = f"over the {format_duration(window)} before the start"
    measured: float | None = None
    n = 0
    if isinstance(result, MetricSeries):
        arms = [arm for i in result.intervals for arm in (i.canary, i.control)]
        both = pool(arms)
        measured, n = value(spec, both), exposures(spec, both)
    said = (
        f"measured {show(spec, measured)} {over} ({fmt.count(n)} {noun(spec)})"
        if measured is not None
        else f"no data {over}"
    )
    if planned is None:
        return Baseline(spec.name, measured, None, measured, n, window, f"{spec.name}: {said}")
    note = f"{spec.name}: the plan's {show_limit(spec, planned)} is used; {said}"
    return Baseline(spec.name, planned, planned, measured, n, window, note)


def _is_latency(plan: Plan, name: str) -> bool:
    spec = spec_for(plan, name)
    return spec is not None and spec.kind == "latency"


def _unknown(metric: str) -> str:
    return f"{metric}: not a metric the plan defines or a built-in name, so it was not measured"
