"""Which anytime-valid test weighs a criterion, per metric kind.

Every criterion has a "bad side": for a success criterion, failing it; for a rollback trigger,
firing it. The tests here measure the evidence that the canary is truly on the bad side, so
that a verdict of FAIL never rests on noise (see :mod:`rollout.analysis.sequential`).

An error rate compared with the control's counts failing subjects rather than failed requests
when every interval of both arms knows them (``ArmStats.error_subjects``): a count test assumes
independent events, and thirty retries of one client are one event, not thirty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.analysis import measures as m
from rollout.analysis.observation import ArmStats, Interval, MetricSpec
from rollout.analysis.sequential import (
    CONVERSION_MIXTURE,
    ERROR_MIXTURE,
    CountPoint,
    Direction,
    MeanPoint,
    Mixture,
    RatePoint,
    SequentialResult,
    count_test,
    mean_test,
    rate_test,
    slow_request_points,
)


@dataclass(frozen=True)
class SlowShares:
    """For latency comparisons: the share of each arm's requests above the control-derived
    thresholds, over the intervals where a threshold existed, and the latest thresholds (the
    canary's is ``scale`` times the control's, plus any offset)."""

    canary: float | None
    control: float | None
    threshold_ms: float | None
    canary_threshold_ms: float | None
    scale: float = 1.0


@dataclass(frozen=True)
class FailingSubjects:
    """The failing subjects a count test of errors counted instead of the errors, per arm,
    over the window."""

    canary: int
    control: int


@dataclass(frozen=True)
class Evidence:
    """A test's result, plus the slow-request shares behind a latency comparison and the
    failing subjects behind an error comparison that counted them."""

    result: SequentialResult
    slow: SlowShares | None = None
    subjects: FailingSubjects | None = None


def mixture_for(spec: MetricSpec) -> Mixture:
    return CONVERSION_MIXTURE if spec.kind == "conversion" else ERROR_MIXTURE


def one_sample(
    spec: MetricSpec,
    intervals: Sequence[Interval],
    *,
    limit: float,
    direction: Direction,
    alpha: float,
    tau_ratio: float,
) -> Evidence | None:
    """Evidence that the canary's own figure lies beyond ``limit`` in ``direction``; None
    where no test applies (a total count is compared exactly; a latency "too fast")."""
    if spec.kind in ("error_rate", "conversion"):
        points = [RatePoint(i.end, i.canary.requests, m.events(spec, i.canary)) for i in intervals]
        return Evidence(
            rate_test(
                points, limit=limit, direction=direction, mixture=mixture_for(spec), alpha=alpha
            )
        )
    if spec.kind == "latency" and direction == "up":
        # "p99 <= 300 ms" means at most 1 % of requests above 300 ms: a rate test on those.
        points = [
            RatePoint(
                i.end,
                i.canary.latency_count,
                i.canary.latency.count_above(limit) if i.canary.latency is not None else 0,
            )
            for i in intervals
        ]
        return Evidence(rate_test(points, limit=1.0 - spec.quantile, alpha=alpha))
    if spec.kind == "mean":
        means = [MeanPoint(i.end, i.canary.value_count, i.canary.value_sum,
                           i.canary.value_sum_sq) for i in intervals]  # fmt: skip
        return Evidence(
            mean_test(
                means, factor=0.0, offset=limit, direction=direction, tau_ratio=tau_ratio,
                alpha=alpha,
            )
        )  # fmt: skip
    return None


def two_sample(
    spec: MetricSpec,
    intervals: Sequence[Interval],
    *,
    factor: float,
    offset: float,
    direction: Direction,
    alpha: float,
    tau_ratio: float,
) -> Evidence | None:
    """Evidence that ``canary`` lies beyond ``factor * control + offset`` in ``direction``;
    None where no test applies (a latency "too fast")."""
    if m.is_count_type(spec):
        if offset == 0.0:
            by_subject = _knows_subjects(spec, intervals)
            points = [
                CountPoint(
                    i.end,
                    i.canary.requests,
                    i.control.requests,
                    _events(spec, i.canary, by_subject=by_subject),
                    _events(spec, i.control, by_subject=by_subject),
                )
                for i in intervals
            ]
            subjects = None
            if by_subject:
                subjects = FailingSubjects(
                    sum(p.canary_events for p in points), sum(p.control_events for p in points)
                )
            return Evidence(
                count_test(
                    points, theta0=factor, direction=direction, mixture=mixture_for(spec),
                    alpha=alpha,
                ),
                subjects=subjects,
            )  # fmt: skip
        # An absolute offset ("control + 0.5%") is not a ratio: compare the rates as means of
        # 0/1 outcomes per request (for counted events, a Poisson variance).
        means = [
            MeanPoint(
                i.end,
                i.canary.requests,
                m.events(spec, i.canary),
                m.events(spec, i.canary),
                i.control.requests,
                m.events(spec, i.control),
                m.events(spec, i.control),
            )
            for i in intervals
        ]
        return Evidence(
            mean_test(means, factor=factor, offset=offset, direction=direction,
                      tau_ratio=tau_ratio, alpha=alpha)
        )  # fmt: skip
    if spec.kind == "latency":
        if direction != "up":
            return None
        slow_points, thresholds = slow_request_points(
            intervals, spec.quantile, scale=factor, shift_ms=offset
        )
        return Evidence(
            count_test(slow_points, alpha=alpha),
            _slow_shares(slow_points, thresholds, factor, offset),
        )
    means = [
        MeanPoint(
            i.end,
            i.canary.value_count,
            i.canary.value_sum,
            i.canary.value_sum_sq,
            i.control.value_count,
            i.control.value_sum,
            i.control.value_sum_sq,
        )
        for i in intervals
    ]
    return Evidence(
        mean_test(means, factor=factor, offset=offset, direction=direction, tau_ratio=tau_ratio,
                  alpha=alpha)
    )  # fmt: skip


def _knows_subjects(spec: MetricSpec, intervals: Sequence[Interval]) -> bool:
    """Whether an error comparison can count failing subjects: every interval of both arms
    has them (mixing subjects in one interval with errors in the next would weigh them
    unevenly)."""
    return spec.kind == "error_rate" and all(
        i.canary.error_subjects is not None and i.control.error_subjects is not None
        for i in intervals
    )


def _events(spec: MetricSpec, arm: ArmStats, *, by_subject: bool) -> int:
    if by_subject and arm.error_subjects is not None:
        return arm.error_subjects
    return m.events(spec, arm)


def _slow_shares(
    points: Sequence[CountPoint], thresholds: Sequence[float | None], scale: float, shift: float
) -> SlowShares:
    used = [p for p, t in zip(points, thresholds, strict=True) if t is not None]
    canary_n = sum(p.canary_exposures for p in used)
    control_n = sum(p.control_exposures for p in used)
    latest = next((t for t in reversed(thresholds) if t is not None), None)
    return SlowShares(
        canary=sum(p.canary_events for p in used) / canary_n if canary_n else None,
        control=sum(p.control_events for p in used) / control_n if control_n else None,
        threshold_ms=latest,
        canary_threshold_ms=scale * latest + shift if latest is not None else None,
        scale=scale,
    )
