"""Typed inputs: metric specs for built-in names, coherent counts, pooling."""

from __future__ import annotations

import pytest

from rollout.analysis import (
    ArmStats,
    LatencySketch,
    MetricSpec,
    infer_metric_spec,
    metric_spec,
    pool,
)


def test_built_in_names_infer_their_spec() -> None:
    assert infer_metric_spec("error_rate") == MetricSpec("error_rate", "error_rate", False)
    p999 = infer_metric_spec("latency_p999")
    assert p999 == MetricSpec("latency_p999", "latency", False, 99.9)
    assert p999.quantile == pytest.approx(0.999)
    assert p999.unit == "ms"
    assert infer_metric_spec("checkout_conversion") is None
    assert infer_metric_spec("latency_p100") is None


def test_defined_metrics_take_the_plan_defaults() -> None:
    assert metric_spec("signup", "conversion").higher_is_better is True
    assert metric_spec("crashes", "count").higher_is_better is False
    assert metric_spec("latency_p95", "latency").percentile == 95.0
    assert metric_spec("order_value", "mean", higher_is_better=True).unit == "number"
    with pytest.raises(ValueError, match="must say whether higher is better"):
        metric_spec("order_value", "mean")
    with pytest.raises(ValueError, match="needs a percentile"):
        MetricSpec("slow", "latency", False)
    with pytest.raises(ValueError, match="unknown metric kind"):
        MetricSpec("x", "median", False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stats", "problem"),
    [
        (ArmStats(10, 11), "11 errors but only 10 requests"),
        (ArmStats(10, conversions=11), "11 conversions but only 10 exposures"),
        (ArmStats(-1), "requests is negative (-1)"),
        (ArmStats(value_count=2, value_sum=float("nan")), "a sum of values is not a finite number"),
        (ArmStats(value_count=2, value_sum_sq=-1.0), "the sum of squared values is negative"),
        (ArmStats(10, 1, error_subjects=2), "error_subjects (2) exceeds errors (1)"),
        (ArmStats(10, 1, error_subjects=-1), "error_subjects is negative (-1)"),
        (ArmStats(10, 1), None),
        (ArmStats(10, 3, error_subjects=1), None),
    ],
)
def test_incoherent_counts_are_described(stats: ArmStats, problem: str | None) -> None:
    assert stats.problem() == problem


def test_pooling_adds_counts_and_merges_sketches_without_touching_them() -> None:
    a_sketch, b_sketch = LatencySketch(), LatencySketch()
    a_sketch.add(10.0)
    b_sketch.add(20.0, 2)
    a = ArmStats(10, 1, a_sketch, value_count=1, value_sum=2.0, value_sum_sq=4.0)
    b = ArmStats(5, 2, b_sketch, events=3)
    total = pool([a, b])
    assert (total.requests, total.errors, total.events, total.value_sum) == (15, 3, 3, 2.0)
    assert total.latency_count == 3
    assert (a_sketch.count, b_sketch.count) == (1, 2)
    assert (a + ArmStats(1)).requests == 11
    assert pool([]).latency is None


def test_pooled_error_subjects_are_summed_or_unknown_when_any_part_lacks_them() -> None:
    known = [ArmStats(10, 5, error_subjects=1), ArmStats(10, 2, error_subjects=2)]
    assert pool(known).error_subjects == 3
    assert pool([*known, ArmStats(10, 1)]).error_subjects is None
    assert pool([ArmStats(10, 0, error_subjects=0)]).error_subjects == 0
