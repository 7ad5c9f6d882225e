"""A criterion's chart: bounded however long the stage, and every point the pooled data."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.analysis import (
    MAX_SERIES_POINTS,
    ArmStats,
    Interval,
    LatencySketch,
    MetricSpec,
    infer_metric_spec,
    judge,
    metric_spec,
)
from rollout.plan.criteria import parse_criterion

ERRORS = infer_metric_spec("error_rate")
P99 = infer_metric_spec("latency_p99")
ORDER_VALUE = metric_spec("order_value", "mean", higher_is_better=True)
CRASHES = metric_spec("crashes", "count")
START = 1.7e9


def _arm(rng: random.Random, requests: int, error_rate: float, slow: float) -> ArmStats:
    sketch = LatencySketch()
    for _ in range(12):  # a few distinct latencies, weighted, keep the sketches small
        sketch.add(rng.lognormvariate(math.log(120.0 * slow), 0.5), requests // 12)
    values = [rng.gauss(45.0, 10.0) for _ in range(8)]
    return ArmStats(
        requests,
        sum(rng.random() < error_rate for _ in range(requests // 10)),
        sketch,
        value_count=len(values),
        value_sum=math.fsum(values),
        value_sum_sq=math.fsum(v * v for v in values),
        events=rng.randrange(3),
    )


def stage(count: int, seed: int = 3) -> list[Interval]:
    """``count`` one-minute intervals; the canary a little worse from the middle on."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        worse = i >= count // 2
        canary = _arm(rng, 120, 0.02 if worse else 0.01, 1.1 if worse else 1.0)
        control = _arm(rng, 1080, 0.01, 1.0)
        out.append(Interval(START + 60.0 * i, START + 60.0 * (i + 1), canary, control))
    return out


DAY = stage(1440)


def _figure(spec: MetricSpec, arms: list[ArmStats], *, total: bool = False) -> float:
    """The metric's figure over ``arms``, computed here from the definitions."""
    if spec.kind == "latency":
        return LatencySketch.combine(a.latency for a in arms if a.latency).quantile(spec.quantile)
    if spec.kind == "mean":
        return math.fsum(a.value_sum for a in arms) / sum(a.value_count for a in arms)
    if spec.kind == "count":
        events = sum(a.events for a in arms)
        return float(events) if total else events / sum(a.requests for a in arms)
    return sum(a.errors for a in arms) / sum(a.requests for a in arms)


@pytest.mark.parametrize(
    ("text", "spec", "compared"),
    [
        ("error_rate: no regression", ERRORS, True),
        ("latency_p99 <= control * 1.10", P99, True),
        ("latency_p99 < 300ms", P99, False),
        ("order_value >= control * 0.95", ORDER_VALUE, True),
        ("crashes <= control * 1.2", CRASHES, True),
    ],
)
def test_a_day_of_minutes_is_charted_in_at_most_the_bound_each_point_the_pooled_data(
    text: str, spec: MetricSpec | None, compared: bool
) -> None:
    assert spec is not None
    result = judge(parse_criterion(text), spec, DAY, role="success")
    points = result.series
    assert len(points) == MAX_SERIES_POINTS
    assert (points[0].time, points[-1].time) == (DAY[0].end, DAY[-1].end)
    position = {interval.end: i for i, interval in enumerate(DAY)}
    for point in points:
        upto = DAY[: position[point.time] + 1]  # every interval up to the point's time
        assert point.canary == _figure(spec, [i.canary for i in upto])
        assert point.control == _figure(spec, [i.control for i in upto])
    # The last point is the figure the verdict states (a threshold states only the canary's).
    assert points[-1].canary == result.numbers["canary_value"]
    if compared:
        assert points[-1].control == result.numbers["control_value"]


def test_the_line_follows_the_control_and_a_total_is_charted_as_a_total() -> None:
    assert ERRORS is not None
    relative = judge(parse_criterion("error_rate <= control * 1.5"), ERRORS, DAY, role="success")
    for point in relative.series:
        assert point.control is not None
        assert point.threshold == pytest.approx(1.5 * point.control)
    total = judge(parse_criterion("crashes < 2000"), CRASHES, DAY, role="success")
    assert len(total.series) == MAX_SERIES_POINTS
    assert {p.threshold for p in total.series} == {2000.0}
    assert all(p.control is None for p in total.series)
    assert total.series[-1].canary == sum(i.canary.events for i in DAY)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=1440))
def test_any_window_is_charted_from_its_first_to_its_last_interval_in_even_groups(
    count: int,
) -> None:
    assert ERRORS is not None
    window = DAY[:count]
    points = judge(parse_criterion("error_rate < 5%"), ERRORS, window, role="success").series
    times = [p.time for p in points]
    assert len(times) == min(count, MAX_SERIES_POINTS)
    assert (times[0], times[-1]) == (window[0].end, window[-1].end)
    position = {interval.end: i for i, interval in enumerate(window)}
    groups = [position[b] - position[a] for a, b in pairwise(times)]
    assert all(g >= 1 for g in groups)  # oldest first, no interval twice
    if groups:
        assert max(groups) - min(groups) <= 1  # groups of equal length to within one interval


def test_a_short_window_has_a_point_per_interval() -> None:
    assert ERRORS is not None
    window = DAY[:3]
    points = judge(parse_criterion("error_rate < 5%"), ERRORS, window, role="success").series
    assert [p.time for p in points] == [i.end for i in window]
    assert points[1].canary == (window[0].canary.errors + window[1].canary.errors) / 240
