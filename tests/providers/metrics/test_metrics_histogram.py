"""Histogram buckets to latency sketches, and the whole-step arithmetic every source shares."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.errors import MetricsError
from rollout.providers.metrics import Steps
from rollout.providers.metrics._base import promql_duration
from rollout.providers.metrics._histogram import sketch_from_buckets

bounds = st.lists(
    st.floats(min_value=0.5, max_value=20_000, allow_nan=False), min_size=1, max_size=8, unique=True
)


@st.composite
def histograms(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Cumulative ``(le_ms, count)`` pairs, sometimes with a ``+Inf`` bucket."""
    les = sorted(draw(bounds))
    if draw(st.booleans()):
        les.append(math.inf)
    counts = draw(st.lists(st.integers(0, 400), min_size=len(les), max_size=len(les)))
    cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
    return list(zip(les, map(float, cumulative), strict=True))


@given(histograms(), st.floats(0.0, 1.0))
def test_a_quantile_falls_in_the_bucket_that_holds_its_rank(
    histogram: list[tuple[float, float]], q: float
) -> None:
    sketch, total = sketch_from_buckets(histogram)

    assert total == sketch.count == histogram[-1][1]
    if total == 0:
        return
    rank = q * (total - 1)  # the sketch's rank rule
    top = max((le for le, _ in histogram if math.isfinite(le)), default=0.0)
    lower = 0.0
    for le, cumulative in histogram:
        upper = le if math.isfinite(le) else top
        if cumulative > rank:
            assert lower * 0.99 <= sketch.quantile(q) <= upper * 1.01
            return
        lower = upper
    raise AssertionError("no bucket holds the rank")


@given(histograms())
def test_order_does_not_matter(histogram: list[tuple[float, float]]) -> None:
    assert sketch_from_buckets(list(reversed(histogram))) == sketch_from_buckets(histogram)


def test_counts_spread_evenly_over_their_bucket_as_histogram_quantile_assumes() -> None:
    sketch, total = sketch_from_buckets([(100.0, 0.0), (200.0, 1000.0), (math.inf, 1000.0)])

    assert total == 1000
    # histogram_quantile(0.5) on these buckets reads 150 ms; p90, 190 ms.
    assert sketch.quantile(0.5) == pytest.approx(150, rel=0.015)
    assert sketch.quantile(0.9) == pytest.approx(190, rel=0.015)


def test_the_inf_bucket_sits_at_the_largest_finite_bound() -> None:
    sketch, total = sketch_from_buckets([(50.0, 90.0), (math.inf, 100.0)])

    assert total == 100
    assert sketch.quantile(0.99) == pytest.approx(50, rel=0.01)
    assert sketch.count_above(50.0 * 1.03) == 0


def test_extrapolated_counts_are_rounded_and_kept_monotone() -> None:
    sketch, total = sketch_from_buckets([(10.0, 4.6), (20.0, 4.4), (math.inf, 9.5)])

    assert total == 10  # 5, 5 (not 4), then 10 (9.5 rounds to even)
    assert sketch.count_above(10.0 * 1.03) == 5


def test_exact_counts_that_fall_are_refused() -> None:
    with pytest.raises(ValueError, match="le=20 holds 4, fewer than the 5"):
        sketch_from_buckets([(10.0, 5.0), (20.0, 4.0)], exact=True)


@pytest.mark.parametrize(
    ("buckets", "problem"),
    [
        ([(10.0, 1.0), (10.0, 2.0)], "same bucket bound twice"),
        ([(-1.0, 1.0)], "bound must be >= 0"),
        ([(10.0, -1.0)], "count must be a number >= 0"),
        ([(10.0, math.nan)], "count must be a number >= 0"),
    ],
)
def test_malformed_histograms_are_refused(buckets: list[tuple[float, float]], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        sketch_from_buckets(buckets)


def test_steps_are_whole_and_counted_from_the_start() -> None:
    steps = Steps(1000.0, 1100.0, 30.0)

    assert (steps.count, steps.stop) == (3, 1090.0)
    assert [steps.bounds(i) for i in range(steps.count)] == [
        (1000.0, 1030.0),
        (1030.0, 1060.0),
        (1060.0, 1090.0),
    ]
    assert [steps.index_of(t) for t in (999.9, 1000.0, 1029.99, 1030.0, 1089.9, 1090.0)] == [
        None, 0, 0, 1, 2, None,
    ]  # fmt: skip
    assert steps.index_of_end(1060.0004) == 1  # Prometheus rounds times to the millisecond
    assert Steps(0.0, 0.3, 0.1).count == 3  # not 2, whatever 0.1 + 0.2 is in binary


@pytest.mark.parametrize(
    ("start", "end", "step", "problem"),
    [
        (0.0, 10.0, 0.0, "step must be longer than 0 s"),
        (10.0, 0.0, 5.0, "must not end"),
        (0.0, math.inf, 5.0, "end must be a finite number"),
    ],
)
def test_impossible_windows_are_errors(start: float, end: float, step: float, problem: str) -> None:
    with pytest.raises(MetricsError, match=problem):
        Steps(start, end, step)


def test_durations_are_written_as_prometheus_reads_them() -> None:
    assert [promql_duration(s) for s in (30.0, 0.25, 86400.0, 0.0001)] == [
        "30s", "250ms", "86400s", "1ms",
    ]  # fmt: skip
