"""The anytime-valid tests: exact validity, false-alarm rates under A/A, power, replay."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from traffic_sim import aa_bound, count_points, latency_intervals

from rollout.analysis import (
    CONVERSION_MIXTURE,
    ERROR_MIXTURE,
    CountPoint,
    MeanPoint,
    Mixture,
    RatePoint,
    count_test,
    mean_test,
    rate_test,
    slow_request_points,
    wald_bound,
)
from rollout.analysis.sequential import event_share

# --------------------------------------------------------------------------- exact validity


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 80),
    share=st.floats(0.01, 0.99),
    theta0=st.sampled_from([1.0, 1.05, 1.5, 0.98, 0.9]),
    direction=st.sampled_from(["up", "down"]),
    mixture=st.sampled_from([ERROR_MIXTURE, CONVERSION_MIXTURE]),
    below=st.floats(0.5, 1.0),
)
def test_count_test_e_value_has_mean_at_most_one_under_the_null(
    n: int, share: float, theta0: float, direction: str, mixture: Mixture, below: float
) -> None:
    """E[e-value] <= 1 for every null rate ratio on the null side of theta0, computed
    exactly by summing over every possible split of n events (burst cap included)."""
    theta = theta0 * below if direction == "up" else theta0 / below
    p_canary = event_share(share, theta)
    expected = 0.0
    for x in range(n + 1):
        point = CountPoint(1.0, share, 1 - share, x, n - x)
        e = count_test([point], theta0=theta0, direction=direction, mixture=mixture).e_value  # type: ignore[arg-type]
        expected += stats.binom.pmf(x, n, p_canary) * e
    assert expected <= 1 + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 400),
    limit=st.floats(0.001, 0.5),
    direction=st.sampled_from(["up", "down"]),
)
def test_rate_test_e_value_has_mean_at_most_one_for_binomial_counts(
    n: int, limit: float, direction: str
) -> None:
    xs = np.arange(n + 1)
    pmf = stats.binom.pmf(xs, n, limit)
    e = [rate_test([RatePoint(1.0, n, int(x))], limit=limit, direction=direction).e_value  # type: ignore[arg-type]
         for x in xs]  # fmt: skip
    assert float(np.dot(pmf, e)) <= 1 + 1e-9


# --------------------------------------------------------------------------- A/A and power


def _traffic(
    rng: np.random.Generator,
    runs: int,
    intervals: int,
    share: np.ndarray | float,
    theta: float,
    rate: np.ndarray | float = 0.01,
    per_interval: float = 1000.0,
) -> list[list[CountPoint]]:
    s = np.broadcast_to(share, (intervals,))
    p = np.broadcast_to(rate, (intervals,))
    c = rng.poisson(per_interval * s, (runs, intervals))
    b = rng.poisson(per_interval * (1 - s), (runs, intervals))
    xc = rng.binomial(c, np.minimum(1, p * theta))
    xb = rng.binomial(b, p)
    return [count_points(c[r], b[r], xc[r], xb[r]) for r in range(runs)]


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.05, 0.5])
def test_false_alarms_stay_below_alpha_when_canary_equals_control(share: float) -> None:
    runs = 1000
    rng = np.random.default_rng(11 + int(share * 100))
    series = _traffic(rng, runs, 40, share, 1.0, per_interval=3000)
    alarms = sum(count_test(points).rejected for points in series)
    assert alarms / runs <= aa_bound(runs)


@pytest.mark.slow
def test_false_alarms_stay_below_alpha_when_the_split_and_the_error_rate_move_together() -> None:
    """Split 5 % -> 50 % half-way while the error rate triples in both arms: pooled rates
    would make the canary look three times worse (Simpson); per-interval shares do not."""
    runs = 1000
    rng = np.random.default_rng(5)
    share = np.where(np.arange(40) < 20, 0.05, 0.5)
    rate = np.where(np.arange(40) < 20, 0.01, 0.03)
    series = _traffic(rng, runs, 40, share, 1.0, rate=rate, per_interval=3000)
    alarms = sum(count_test(points).rejected for points in series)
    assert alarms / runs <= aa_bound(runs)
    pooled = series[0]
    canary_rate = sum(p.canary_events for p in pooled) / sum(p.canary_exposures for p in pooled)
    control_rate = sum(p.control_events for p in pooled) / sum(p.control_exposures for p in pooled)
    assert canary_rate / control_rate > 1.4  # the trap the test must not fall into


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.05, 0.5])
def test_a_doubled_error_rate_is_caught_near_walds_bound(share: float) -> None:
    """100 requests/s, 1 % control errors, 10 s intervals, 30 minutes."""
    runs = 200
    rng = np.random.default_rng(21 + int(share * 100))
    series = _traffic(rng, runs, 180, share, 2.0)
    events = []
    for points in series:
        result = count_test(points)
        assert result.rejected
        assert result.crossed_at is not None
        shown = int(result.crossed_at)
        events.append(sum(p.canary_events + p.control_events for p in points[:shown]))
    assert np.mean(events) <= 1.9 * wald_bound(share)
    assert np.mean(events) >= wald_bound(share)  # nothing beats the bound


@pytest.mark.slow
def test_a_tolerance_moves_the_null() -> None:
    """``no regression > 5%``: a canary 5 % worse is on the null boundary and must not be
    flagged more than alpha; a canary 50 % worse is."""
    rng = np.random.default_rng(8)
    runs = 500
    at_boundary = _traffic(rng, runs, 60, 0.5, 1.05, per_interval=5000)
    alarms = sum(count_test(p, theta0=1.05).rejected for p in at_boundary)
    assert alarms / runs <= aa_bound(runs)
    worse = _traffic(rng, 50, 60, 0.5, 1.5, per_interval=5000)
    assert all(count_test(p, theta0=1.05).rejected for p in worse)


@pytest.mark.slow
def test_a_conversion_drop_is_caught_and_equal_conversions_are_not_flagged() -> None:
    rng = np.random.default_rng(9)
    drop = _traffic(rng, 100, 40, 0.5, 0.8, rate=0.10, per_interval=2000)
    found = [count_test(p, direction="down", mixture=CONVERSION_MIXTURE).rejected for p in drop]
    assert np.mean(found) >= 0.95
    runs = 1000
    same = _traffic(rng, runs, 40, 0.5, 1.0, rate=0.10, per_interval=2000)
    alarms = sum(count_test(p, direction="down", mixture=CONVERSION_MIXTURE).rejected for p in same)
    assert alarms / runs <= aa_bound(runs)


# --------------------------------------------------------------------------- latency


@pytest.mark.slow
def test_latency_slow_request_test_holds_alpha_in_a_and_a() -> None:
    rng = np.random.default_rng(13)
    runs = 200
    alarms = 0
    for _ in range(runs):
        intervals = latency_intervals(rng, 15, 400)
        points, _ = slow_request_points(intervals, 0.99)
        alarms += count_test(points).rejected
    assert alarms / runs <= aa_bound(runs)


@pytest.mark.slow
def test_latency_slow_request_test_catches_a_slower_canary_and_respects_a_tolerance() -> None:
    rng = np.random.default_rng(14)
    caught = 0
    for _ in range(40):
        intervals = latency_intervals(rng, 15, 500, canary_scale=1.25)
        points, thresholds = slow_request_points(intervals, 0.99)
        caught += count_test(points).rejected
        # The first two intervals (1,000 control requests) only build the p99 reference.
        assert thresholds[0] is None and thresholds[1] is None and thresholds[2] is not None
    assert caught >= 36
    runs, alarms = 150, 0
    for _ in range(runs):  # 5 % slower against "no regression > 10 %": within tolerance
        intervals = latency_intervals(rng, 15, 400, canary_scale=1.05)
        points, _ = slow_request_points(intervals, 0.99, scale=1.10)
        alarms += count_test(points).rejected
    assert alarms / runs <= aa_bound(runs)


def test_the_latency_threshold_comes_only_from_earlier_control_data() -> None:
    rng = np.random.default_rng(3)
    intervals = latency_intervals(rng, 3, 1000)
    _, thresholds = slow_request_points(intervals, 0.99)
    assert thresholds[0] is None
    first_control = intervals[0].control.latency
    assert first_control is not None
    assert thresholds[1] == first_control.upper_edge(first_control.quantile(0.99))


# --------------------------------------------------------------------------- means


def _mean_points(
    rng: np.random.Generator, intervals: int, per_arm: int, canary_factor: float
) -> list[MeanPoint]:
    points = []
    for i in range(intervals):
        c = rng.lognormal(3.0, 0.5, per_arm) * canary_factor
        b = rng.lognormal(3.0, 0.5, per_arm)
        points.append(MeanPoint(float(i + 1), per_arm, c.sum(), (c * c).sum(), per_arm, b.sum(),
                                (b * b).sum()))  # fmt: skip
    return points


@pytest.mark.slow
def test_msprt_holds_alpha_in_a_and_a_and_catches_a_ten_percent_drop() -> None:
    rng = np.random.default_rng(17)
    runs = 1000
    alarms = sum(mean_test(_mean_points(rng, 30, 100, 1.0), direction="down").rejected
                 for _ in range(runs))  # fmt: skip
    assert alarms / runs <= aa_bound(runs)
    caught = [mean_test(_mean_points(rng, 30, 100, 0.9), direction="down").rejected
              for _ in range(100)]  # fmt: skip
    assert np.mean(caught) >= 0.9


def test_msprt_one_sample_compares_with_a_fixed_limit() -> None:
    points = [MeanPoint(1.0, 400, 400 * 52.0, 400 * (52.0**2 + 25.0))]
    assert mean_test(points, factor=0.0, offset=50.0).rejected
    assert not mean_test(points, factor=0.0, offset=50.0, direction="down").rejected


def test_msprt_needs_two_values_per_arm_and_some_spread() -> None:
    assert mean_test([MeanPoint(1.0, 1, 5.0, 25.0, 1, 4.0, 16.0)]).e_value == 1.0
    flat = [MeanPoint(1.0, 10, 50.0, 250.0, 10, 40.0, 160.0)]  # no variance at all
    assert not mean_test(flat).rejected


# --------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 400), st.integers(1, 400), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 39),
)
def test_replaying_a_prefix_never_contradicts_the_full_series(
    rows: list[tuple[int, int, int, int]], cut: int
) -> None:
    points = [CountPoint(float(i), c, b, x, y) for i, (c, b, x, y) in enumerate(rows)]
    full = count_test(points)
    prefix = count_test(points[: cut + 1])
    if prefix.rejected:
        assert full.crossed_at == prefix.crossed_at
    assert full.e_max >= prefix.e_max


_ROWS = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(0, 30), st.integers(0, 30)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    _ROWS,
    st.sampled_from(["up", "down"]),
    st.sampled_from([ERROR_MIXTURE, CONVERSION_MIXTURE]),
    st.sampled_from([0.9, 1.0, 1.05]),
)
def test_count_test_maximum_and_crossing_are_the_evidence_after_each_interval(
    rows: list[tuple[int, int, int, int]], direction: str, mixture: Mixture, theta0: float
) -> None:
    """The series' largest evidence and first crossing are read off the evidence after each
    interval, however the test gets there."""
    points = [CountPoint(float(i), c, b, x, y) for i, (c, b, x, y) in enumerate(rows)]
    kw = {"direction": direction, "mixture": mixture, "theta0": theta0}
    full = count_test(points, **kw)  # type: ignore[arg-type]
    after = [count_test(points[: k + 1], **kw) for k in range(len(points))]  # type: ignore[arg-type]
    assert full.e_max == max(1.0, *(r.e_value for r in after))
    first = next((points[k].time for k, r in enumerate(after) if r.rejected), None)
    assert full.crossed_at == first
    assert full.e_value == after[-1].e_value


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 40)), min_size=1, max_size=30),
    st.sampled_from(["up", "down"]),
    st.sampled_from([0.002, 0.01, 0.05]),
)
def test_rate_test_maximum_and_crossing_are_the_evidence_after_each_interval(
    rows: list[tuple[int, int]], direction: str, limit: float
) -> None:
    points = [RatePoint(float(i), n, min(x, n)) for i, (n, x) in enumerate(rows)]
    full = rate_test(points, limit=limit, direction=direction)  # type: ignore[arg-type]
    after = [
        rate_test(points[: k + 1], limit=limit, direction=direction)  # type: ignore[arg-type]
        for k in range(len(points))
    ]
    assert full.e_max == max(1.0, *(r.e_value for r in after))
    first = next((points[k].time for k, r in enumerate(after) if r.rejected), None)
    assert full.crossed_at == first
    assert full.e_value == after[-1].e_value


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 400), st.integers(1, 400), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
        max_size=20,
    ),
    st.floats(0.1, 100.0),
)
def test_only_the_split_matters_not_the_traffic_units(
    rows: list[tuple[int, int, int, int]], scale: float
) -> None:
    points = [CountPoint(float(i), c, b, x, y) for i, (c, b, x, y) in enumerate(rows)]
    scaled = [CountPoint(p.time, p.canary_exposures * scale, p.control_exposures * scale,
                         p.canary_events, p.control_events) for p in points]  # fmt: skip
    assert count_test(scaled).e_value == pytest.approx(count_test(points).e_value, rel=1e-9)


def test_intervals_without_events_or_without_one_arm_carry_no_evidence() -> None:
    quiet = [CountPoint(1.0, 50, 950, 0, 0), CountPoint(2.0, 0, 1000, 0, 12)]
    result = count_test(quiet)
    assert (result.e_value, result.estimate, result.rejected) == (1.0, None, False)


def test_the_docstring_example_likelihood_ratio() -> None:
    """5 % share, 20 errors of which 3 are the canary's, theta = 2: ratio 3.0."""
    at_two = Mixture((2.0,), (1.0,))
    result = count_test([CountPoint(1.0, 50, 950, 3, 17)], mixture=at_two)
    assert result.e_value == pytest.approx(3.02, abs=0.01)


def test_a_burst_in_one_interval_is_capped() -> None:
    """40 canary errors at once at a 5 % share would be overwhelming evidence uncapped; the
    cap lets one interval count for at most 3 standard deviations above theta's forecast."""
    burst = [CountPoint(1.0, 50, 950, 40, 10)]
    capped = count_test(burst)
    uncapped = count_test(burst, burst_cap=math.inf)
    assert uncapped.e_value > 1e17
    assert capped.e_value < uncapped.e_value / 1e10


def test_bursty_counts_are_flagged_and_independent_ones_are_not() -> None:
    rng = np.random.default_rng(4)
    (tidy,) = _traffic(rng, 1, 120, 0.5, 1.0)
    result = count_test(tidy)
    assert result.dispersion == pytest.approx(1.0, abs=0.3)
    assert not result.bursty
    clumped = [CountPoint(p.time, p.canary_exposures, p.control_exposures,
                          p.canary_events * 5, p.control_events * 5) for p in tidy]  # fmt: skip
    assert count_test(clumped).bursty


def test_the_same_excess_counts_for_less_when_errors_come_in_bursts() -> None:
    """Equal rates, but each arm's errors alternate 0, 20, 0, 20 ... between intervals: far
    more spread than independent errors allow. The same canary excess that is a clear
    regression after smooth counts is then not enough."""
    smooth = [CountPoint(float(t), 500, 500, 10, 10) for t in range(10)]
    clumped = [CountPoint(float(t), 500, 500, 20 * (t % 2), 20 * (t % 2)) for t in range(10)]
    excess = [CountPoint(10.0, 500, 500, 40, 10), CountPoint(11.0, 500, 500, 40, 10)]
    plain = count_test(smooth + excess)
    bursty = count_test(clumped + excess)
    assert (plain.rejected, plain.bursty) == (True, False)
    assert (bursty.rejected, bursty.bursty) == (False, True)
    assert bursty.dispersion == pytest.approx(16.7, abs=0.1)


def test_rate_test_example_and_zero_limit() -> None:
    r = rate_test([RatePoint(1.0, 1000, 25)], limit=0.01)
    assert (r.rejected, r.estimate) == (True, 2.5)
    assert rate_test([RatePoint(1.0, 1000, 1)], limit=0.0).rejected
    assert not rate_test([RatePoint(1.0, 1000, 0)], limit=0.0).rejected
    assert not rate_test([RatePoint(1.0, 1000, 0)], limit=0.0, direction="down").rejected


def test_p_value_is_the_inverse_of_the_largest_e_value() -> None:
    r = count_test([CountPoint(1.0, 500, 500, 40, 10)])
    assert r.p_value == pytest.approx(1 / r.e_max)
    assert count_test([]).p_value == 1.0


@pytest.mark.parametrize(
    ("ratios", "weights", "message"),
    [((), (), "at least one"), ((2.0,), (0.5, 0.5), "as many"), ((0.9,), (1.0,), "> 1"),
     ((2.0, 3.0), (0.5, 0.4), "sum to 1")],
)  # fmt: skip
def test_mixtures_are_checked(
    ratios: tuple[float, ...], weights: tuple[float, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Mixture(ratios, weights)


def test_the_default_mixture_puts_its_weight_on_a_doubling() -> None:
    heaviest = max(zip(ERROR_MIXTURE.weights, ERROR_MIXTURE.ratios, strict=True))[1]
    assert 1.8 <= heaviest <= 2.2
    assert ERROR_MIXTURE.ratios[0] == pytest.approx(1.25)
    assert ERROR_MIXTURE.ratios[-1] == pytest.approx(4.0)
    assert sum(ERROR_MIXTURE.weights) == pytest.approx(1.0)


def test_alpha_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="alpha"):
        count_test([], alpha=1.5)
