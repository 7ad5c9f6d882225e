"""Synthetic traffic has the numbers the scenario asks for (seeded, with generous margins)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.analysis import MetricSpec, infer_metric_spec, pool
from rollout.simulate.behaviour import Behaviour, LatencyModel
from rollout.simulate.traffic import Audience, Population, draw_interval

ERRORS = infer_metric_spec("error_rate")
P99 = infer_metric_spec("latency_p99")
CONVERSION = MetricSpec("orders", "conversion", higher_is_better=True)
CONTROL = Behaviour(0.01, LatencyModel(100.0, 300.0), rates={"orders": 0.05})
CANARY = Behaviour(0.03, LatencyModel(100.0, 450.0), rates={"orders": 0.04})


def within(value: float, expected: float, sd: float) -> bool:
    return abs(value - expected) <= 5 * sd


def test_one_interval_splits_and_measures_the_requests() -> None:
    assert ERRORS is not None and P99 is not None
    rng = np.random.default_rng(1)
    drawn = draw_interval(
        rng, 0.0, 600.0, rate=100.0, share=0.25, control=CONTROL, canary=CANARY,
        specs=(ERRORS, P99, CONVERSION),
    )  # fmt: skip
    errors, latency, orders = (drawn.intervals[n] for n in ("error_rate", "latency_p99", "orders"))
    total = errors.canary.requests + errors.control.requests
    assert within(total, 60_000, math.sqrt(60_000))
    n = errors.canary.requests
    assert n == drawn.canary_requests and within(n, total * 0.25, math.sqrt(total * 0.1875))
    assert drawn.canary_errors == errors.canary.errors
    assert within(errors.canary.errors, n * 0.03, math.sqrt(n * 0.03))
    assert within(orders.control.conversions, (total - n) * 0.05, math.sqrt((total - n) * 0.05))
    # The same requests behind every metric of the interval.
    assert latency.canary.requests == orders.canary.requests == n
    assert latency.canary.latency is not None and latency.control.latency is not None
    assert latency.canary.latency.count == n
    assert latency.canary.latency.quantile(0.99) == pytest.approx(450.0, rel=0.06)
    assert latency.control.latency.quantile(0.99) == pytest.approx(300.0, rel=0.06)
    assert latency.control.latency.quantile(0.5) == pytest.approx(100.0, rel=0.03)
    assert pool([latency.canary]).latency_count == n


def test_no_traffic_is_no_data() -> None:
    drawn = draw_interval(
        np.random.default_rng(1), 0.0, 60.0, rate=0.0, share=0.5, control=CONTROL,
        canary=CANARY, specs=(CONVERSION,),
    )  # fmt: skip
    assert drawn.intervals["orders"].canary.requests == 0 and drawn.canary_requests == 0


def test_a_sticky_audience_is_the_same_users_every_time() -> None:
    population = Population("production", 1000)
    audience = Audience(percent=10.0, segment=2.0)
    assert population.eligible(audience) == (100, 20)
    assert population.share(audience) == pytest.approx(0.12)
    rng = np.random.default_rng(3)
    for _ in range(20):
        population.meet(rng, audience, 500, 5, bad=False)
    met = np.flatnonzero(population.met_new)
    assert set(met.tolist()) == set(range(100)) | set(range(980, 1000))
    exposure = population.exposure()
    assert (exposure.users, exposure.users_bad, exposure.requests_bad) == (120, 0, 0)


def test_a_weighted_router_reaches_anyone() -> None:
    population = Population("production", 1000)
    audience = Audience(percent=10.0, sticky=False)
    assert population.share(audience) == pytest.approx(0.10)
    population.meet(np.random.default_rng(3), audience, 5000, 40, bad=True)
    exposure = population.exposure()
    assert exposure.users > 990 and exposure.users == exposure.users_bad
    assert (exposure.requests_bad, exposure.errors_bad) == (5000, 40)


@given(
    size=st.integers(1, 5000),
    percent=st.floats(0, 100),
    segment=st.floats(0, 100),
    requests=st.integers(0, 300),
)
def test_a_sticky_audience_never_reaches_beyond_its_users(
    size: int, percent: float, segment: float, requests: int
) -> None:
    population = Population("production", size)
    audience = Audience(percent=percent, segment=segment)
    first, in_segment = population.eligible(audience)
    assert first + in_segment <= size
    assert population.share(audience) == (first + in_segment) / size
    if first + in_segment == 0:
        return  # nobody to serve: the new version gets no requests (share 0)
    population.meet(np.random.default_rng(0), audience, requests, 0, bad=True)
    met = np.flatnonzero(population.met_bad)
    assert all(i < first or i >= size - in_segment for i in met.tolist())
    assert len(met) <= min(requests, first + in_segment)
