"""Which criteria apply to the current window, and reading the verdicts the shell measured.

A stage window (``production/stage-2``) is judged on the stage's success criteria and rollback
triggers plus the strategy's rollback triggers. The validation window
(``production/validation``) is judged on the spike checks, turned into thresholds against the
monitoring baselines: ``no_error_spike: {tolerance: 50%}`` with an error-rate baseline of 0.4 %
becomes ``error_rate <= 0.6%``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.engine.observation import MetricRequest, Observation, Verdict
from rollout.engine.state import RolloutState, Status
from rollout.plan.criteria import Criterion, Threshold, Unit, latency_percentile
from rollout.plan.model import Plan, SpikeCheck


@dataclass(frozen=True)
class Judged:
    """A criterion of the window with its verdict (inconclusive when not measured yet)."""

    criterion: Criterion
    verdict: Verdict
    reason: str

    @property
    def text(self) -> str:
        return str(self.criterion)


def stage_window(plan: Plan, state: RolloutState) -> str:
    return f"{plan.environments[state.env_index].name}/stage-{state.stage_index + 1}"


def validation_window(plan: Plan, state: RolloutState) -> str:
    return f"{plan.environments[state.env_index].name}/validation"


def triggers(plan: Plan, stage_index: int) -> tuple[Criterion, ...]:
    """The stage's rollback triggers, then the strategy's, each once."""
    return _unique((*plan.stages[stage_index].rollback_trigger, *plan.strategy.rollback_trigger))


def spike_checks(plan: Plan) -> tuple[tuple[str, SpikeCheck], ...]:
    """The validation's spike checks with the metric each watches (``performance`` defaults to
    ``latency_p99`` unless a metric is written)."""
    found: list[tuple[str, SpikeCheck]] = []
    spike = plan.validation.no_error_spike
    if spike is not None:
        found.append((spike.metric, spike))
    perf = plan.validation.performance
    if perf is not None:
        found.append((perf.metric if "metric" in perf.model_fields_set else "latency_p99", perf))
    return tuple(found)


def planned_baseline(plan: Plan, metric: str) -> float | None:
    """A metric's baseline as the plan states it, in criterion units (a fraction for rates,
    milliseconds for latency), or None when it must be measured.

    >>> from rollout.plan.model import Monitoring
    >>> p = Plan.model_construct(monitoring=Monitoring(error_rate_baseline=0.4))
    >>> planned_baseline(p, "error_rate")
    0.004
    """
    monitoring = plan.monitoring
    spec = monitoring.metrics.get(metric)
    if spec is not None and spec.baseline is not None:
        return spec.baseline
    if metric == "error_rate" and monitoring.error_rate_baseline is not None:
        return monitoring.error_rate_baseline / 100.0
    if latency_percentile(metric) is not None and monitoring.latency_baseline is not None:
        return monitoring.latency_baseline * 1000.0
    if metric == monitoring.business_metric and monitoring.business_baseline is not None:
        return monitoring.business_baseline
    return None


def baselines_to_measure(plan: Plan) -> tuple[str, ...]:
    """Metrics the spike checks compare with a baseline that the plan does not state."""
    return tuple(
        dict.fromkeys(
            metric for metric, _ in spike_checks(plan) if planned_baseline(plan, metric) is None
        )
    )


def spike_criteria(plan: Plan, measured: dict[str, float]) -> tuple[Criterion, ...]:
    """The spike checks as thresholds against the baselines (those with a baseline known)."""
    found: list[Criterion] = []
    for metric, check in spike_checks(plan):
        base = planned_baseline(plan, metric)
        if base is None:
            base = measured.get(metric)
        if base is None:
            continue
        unit, higher_is_better = _unit(plan, metric)
        factor = check.tolerance / 100.0
        if higher_is_better:
            found.append(Threshold(metric, ">=", base * (1.0 - factor), unit))
        else:
            found.append(Threshold(metric, "<=", base * (1.0 + factor), unit))
    return tuple(found)


def _unit(plan: Plan, metric: str) -> tuple[Unit, bool]:
    spec = plan.monitoring.metrics.get(metric)
    kind = spec.kind if spec is not None else None
    if kind is None:
        if metric == "error_rate":
            kind = "error_rate"
        elif latency_percentile(metric) is not None:
            kind = "latency"
    unit: Unit = {"error_rate": "ratio", "conversion": "ratio", "latency": "ms"}.get(
        kind or "", "number"
    )  # type: ignore[assignment]
    better_up = spec.higher_is_better if spec and spec.higher_is_better is not None else None
    return unit, better_up if better_up is not None else kind == "conversion"


def metric_request(plan: Plan, state: RolloutState) -> MetricRequest | None:
    """What the shell should measure for the rollout's current window, or None when nothing is
    being judged (no window open, or a window without criteria).

    In a stage: its success criteria, its rollback triggers and the strategy's. In validation:
    the spike checks against the baselines. ``since`` is when the window opened. While paused,
    the window that was open stays open (a resume judges it again).
    """
    status = state.paused_from if state.status is Status.PAUSED else state.status
    if state.window_started_at is None:
        return None
    env = plan.environments[state.env_index]
    if status is Status.OBSERVING:
        stage = plan.stages[state.stage_index]
        criteria = _unique((*stage.success, *triggers(plan, state.stage_index)))
        window, flag = stage_window(plan, state), plan.stage_flag(stage)
    elif status is Status.VALIDATING:
        criteria = spike_criteria(plan, state.baselines)
        window, flag = validation_window(plan, state), plan.strategy.flag
    else:
        return None
    if not criteria:
        return None
    return MetricRequest(
        window=window,
        environment=env.name,
        flag=flag,
        since=state.window_started_at,
        criteria=criteria,
    )


def judge(observation: Observation, window: str, criteria: Sequence[Criterion]) -> list[Judged]:
    """The verdict of each criterion in ``window``; a criterion the observation does not judge
    (no data for this window in this tick) is inconclusive: no data is not a pass."""
    metrics = observation.metrics
    verdicts = metrics.verdicts if metrics is not None and metrics.window == window else {}
    judged: list[Judged] = []
    for criterion in criteria:
        found = verdicts.get(str(criterion))
        if found is None:
            judged.append(Judged(criterion, Verdict.INCONCLUSIVE, f"{criterion}: no data yet"))
        else:
            judged.append(Judged(criterion, found.verdict, found.reason or str(criterion)))
    return judged


def canary_requests(observation: Observation, window: str) -> int:
    """Canary requests the observation reports for ``window`` (0 when it reports none)."""
    metrics = observation.metrics
    return metrics.canary_requests if metrics is not None and metrics.window == window else 0


def _unique(criteria: Sequence[Criterion]) -> tuple[Criterion, ...]:
    return tuple({str(c): c for c in criteria}.values())
