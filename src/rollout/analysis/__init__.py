"""Statistics: anytime-valid sequential tests, criteria judging, verdicts with reasons.

Pure: no I/O, no logging. The shell gathers per-arm counts over time (:class:`Interval` of
:class:`ArmStats`, latency as a :class:`LatencySketch`) and calls :func:`judge` /
:func:`judge_stage`; everything returned is a frozen value with a reason in plain words.
"""

from rollout.analysis.judge import (
    DEFAULT_MIN_EVENTS,
    DEFAULT_MIN_REQUESTS,
    Role,
    judge,
    judge_against_baseline,
    judge_stage,
)
from rollout.analysis.observation import (
    ArmStats,
    Interval,
    MetricKind,
    MetricSeries,
    MetricSpec,
    infer_metric_spec,
    metric_spec,
    pool,
)
from rollout.analysis.sequential import (
    CONVERSION_MIXTURE,
    DEFAULT_ALPHA,
    ERROR_MIXTURE,
    CountPoint,
    MeanPoint,
    Mixture,
    RatePoint,
    SequentialResult,
    count_test,
    mean_test,
    rate_test,
    slow_request_points,
)
from rollout.analysis.sketch import LatencySketch
from rollout.analysis.verdict import (
    MAX_SERIES_POINTS,
    CriterionResult,
    SeriesPoint,
    StageVerdict,
    Verdict,
    combine,
)
from rollout.analysis.wald import kl_bernoulli, wald_bound

__all__ = [
    "CONVERSION_MIXTURE",
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_EVENTS",
    "DEFAULT_MIN_REQUESTS",
    "ERROR_MIXTURE",
    "MAX_SERIES_POINTS",
    "ArmStats",
    "CountPoint",
    "CriterionResult",
    "Interval",
    "LatencySketch",
    "MeanPoint",
    "MetricKind",
    "MetricSeries",
    "MetricSpec",
    "Mixture",
    "RatePoint",
    "Role",
    "SequentialResult",
    "SeriesPoint",
    "StageVerdict",
    "Verdict",
    "combine",
    "count_test",
    "infer_metric_spec",
    "judge",
    "judge_against_baseline",
    "judge_stage",
    "kl_bernoulli",
    "mean_test",
    "metric_spec",
    "pool",
    "rate_test",
    "slow_request_points",
    "wald_bound",
]
