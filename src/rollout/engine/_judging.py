"""Which criteria apply to the current window, and judging them with :mod:`rollout.analysis`.

A stage window (``production/stage-2``) is judged on the stage's success criteria (role
``success``) and on the stage's and the strategy's rollback triggers (role ``rollback``). The
validation window (``production/validation``) is judged on the spike checks against the
monitoring baselines: ``no_error_spike: {tolerance: 50%}`` with an error-rate baseline of 0.4 %
holds the new version to ``error_rate <= 0.6%``.

The engine, not the shell, says whether a window is *final* (its bake time is over, pauses
excluded), so success criteria are judged exactly as the analysis package defines them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.analysis import (
    Interval,
    MetricSpec,
    Verdict,
    infer_metric_spec,
    judge,
    judge_against_baseline,
    metric_spec,
    pool,
)
from rollout.analysis import Role as _Role
from rollout.engine.observation import MetricRequest, Observation
from rollout.engine.state import RolloutState, Status
from rollout.plan.criteria import Criterion, latency_percentile
from rollout.plan.model import Plan, SpikeCheck


@dataclass(frozen=True)
class Judged:
    """One verdict of the window: ``text`` names what was judged (a criterion's canonical
    text), ``reason`` says why in plain words."""

    text: str
    verdict: Verdict
    reason: str


def stage_window(plan: Plan, state: RolloutState) -> str:
    return f"{plan.environments[state.env_index].name}/stage-{state.stage_index + 1}"


def ramp_window(plan: Plan, state: RolloutState) -> str:
    """The window of a stage's ramp: from the stage's start until its audience is in place
    (a rolling stage's batches and their pauses), judged on the stage's rollback triggers."""
    return f"{stage_window(plan, state)}/ramp"


def validation_window(plan: Plan, state: RolloutState) -> str:
    return f"{plan.environments[state.env_index].name}/validation"


def triggers(plan: Plan, stage_index: int) -> tuple[Criterion, ...]:
    """The stage's rollback triggers, then the strategy's, each once."""
    return _unique((*plan.stages[stage_index].rollback_trigger, *plan.strategy.rollback_trigger))


def spec_for(plan: Plan, metric: str) -> MetricSpec | None:
    """What ``metric`` is: defined under ``monitoring.metrics``, else a built-in name
    (``error_rate``, ``latency_pNN``); None when it is neither."""
    defined = plan.monitoring.metrics.get(metric)
    if defined is None:
        return infer_metric_spec(metric)
    return metric_spec(metric, defined.kind, defined.higher_is_better, defined.percentile)


# --------------------------------------------------------------------------- baselines


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
    wanted = (m for m, _ in spike_checks(plan) if planned_baseline(plan, m) is None)
    return tuple(dict.fromkeys(wanted))


# --------------------------------------------------------------------------- the shell's side


def metric_request(plan: Plan, state: RolloutState) -> MetricRequest | None:
    """What the shell should measure for the rollout's current window, or None when nothing is
    being judged (no window open, or a window that needs no metric).

    In a stage: the metrics of its success criteria, its rollback triggers and the strategy's;
    while the stage's audience is still being set (ramping), only the triggers' (the version
    already serves whoever earlier stages and batches reached: a regression must not wait for
    the last batch). In validation: the metrics of the spike checks. ``since`` is when the
    window opened; while paused, the window that was open stays open (a resume judges it
    again).
    """
    status = state.paused_from if state.status is Status.PAUSED else state.status
    if state.window_started_at is None:
        return None
    env = plan.environments[state.env_index]
    if status is Status.OBSERVING:
        stage = plan.stages[state.stage_index]
        names = [c.metric for c in (*stage.success, *triggers(plan, state.stage_index))]
        window, flag = stage_window(plan, state), plan.stage_flag(stage)
    elif status is Status.RAMPING and plan.is_staged(env):
        stage = plan.stages[state.stage_index]
        names = [c.metric for c in triggers(plan, state.stage_index)]
        window, flag = ramp_window(plan, state), plan.stage_flag(stage)
    elif status is Status.VALIDATING:
        names = [metric for metric, _ in spike_checks(plan)]
        window, flag = validation_window(plan, state), plan.strategy.flag
    else:
        return None
    specs = [s for s in (spec_for(plan, n) for n in dict.fromkeys(names)) if s is not None]
    if not specs:
        return None
    return MetricRequest(
        window=window,
        environment=env.name,
        flag=flag,
        since=state.window_started_at,
        specs=tuple(specs),
    )


# --------------------------------------------------------------------------- judging


def judge_criteria(
    plan: Plan,
    observation: Observation,
    window: str,
    criteria: Sequence[Criterion],
    *,
    role: _Role,
    final: bool,
) -> list[Judged]:
    """Judge ``criteria`` on the observation's data for ``window``. A metric without data
    for this window (in this tick) makes its criteria inconclusive: no data is not a pass."""
    series = _series(observation, window)
    judged: list[Judged] = []
    for criterion in criteria:
        text = str(criterion)
        spec = spec_for(plan, criterion.metric)
        intervals = series.get(criterion.metric)
        if spec is None:
            judged.append(
                Judged(text, Verdict.ERROR, f"{criterion.metric} is not a metric the plan knows")
            )
        elif not intervals:
            judged.append(Judged(text, Verdict.INCONCLUSIVE, f"{text}: no data yet"))
        else:
            result = judge(criterion, spec, intervals, role=role, final=final)
            judged.append(Judged(text, result.verdict, f"{text}: {result.reason}"))
    return judged


def judge_spikes(
    plan: Plan, observation: Observation, window: str, baselines: dict[str, float], final: bool
) -> list[Judged]:
    """Judge the spike checks of validation against their baselines (planned or measured)."""
    series = _series(observation, window)
    judged: list[Judged] = []
    for metric, check in spike_checks(plan):
        text = f"{metric} within {check.tolerance:g}% of its baseline"
        spec = spec_for(plan, metric)
        base = planned_baseline(plan, metric)
        base = baselines.get(metric) if base is None else base
        intervals = series.get(metric)
        if spec is None:
            judged.append(Judged(text, Verdict.ERROR, f"{metric} is not a metric the plan knows"))
        elif base is None:
            judged.append(Judged(text, Verdict.INCONCLUSIVE, f"{text}: no baseline for {metric}"))
        elif not intervals:
            judged.append(Judged(text, Verdict.INCONCLUSIVE, f"{text}: no data yet"))
        else:
            canary = pool(i.canary for i in intervals)
            result = judge_against_baseline(
                spec, canary, base, check.tolerance / 100.0, end=intervals[-1].end, final=final
            )
            judged.append(Judged(text, result.verdict, result.reason))
    return judged


def canary_requests(observation: Observation, window: str) -> int:
    """Requests the new version served in ``window`` (the most any metric's data shows)."""
    series = _series(observation, window)
    return max((pool(i.canary for i in s).requests for s in series.values()), default=0)


def _series(observation: Observation, window: str) -> dict[str, tuple[Interval, ...]]:
    metrics = observation.metrics
    return dict(metrics.series) if metrics is not None and metrics.window == window else {}


def _unique(criteria: Sequence[Criterion]) -> tuple[Criterion, ...]:
    return tuple({str(c): c for c in criteria}.values())
