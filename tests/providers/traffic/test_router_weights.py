"""Percentages to integer weights and back (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.errors import TrafficError
from rollout.providers.traffic._base import check_percent, format_percent
from rollout.providers.traffic._weights import share_percent, split_weights

percents = st.floats(min_value=0, max_value=100, allow_nan=False)


@pytest.mark.parametrize(
    ("percent", "max_weight", "weights"),
    [
        (0, 256, (1, 0)),
        (100, 256, (0, 1)),
        (50, 256, (1, 1)),
        (5, 256, (19, 1)),
        (25, 10_000, (3, 1)),
        (75, 256, (1, 3)),
        (0.5, 256, (199, 1)),
        (0.1, 256, (256, 1)),
        (0.1, 10_000, (999, 1)),
        (99.9, 256, (1, 256)),
    ],
)
def test_known_splits(percent: float, max_weight: int, weights: tuple[int, int]) -> None:
    assert split_weights(percent, max_weight) == weights


@given(percents, st.integers(min_value=1, max_value=40))
def test_split_is_the_closest_ratio_any_weights_allow(percent: float, max_weight: int) -> None:
    stable, canary = split_weights(percent, max_weight)
    achieved = share_percent(stable, canary)
    candidates = [
        (s, c)
        for s in range(max_weight + 1)
        for c in range(max_weight + 1)
        if s + c and (c > 0) == (percent > 0) and (s > 0) == (percent < 100)
    ]
    best = min(abs(share_percent(s, c) - percent) for s, c in candidates)
    assert abs(achieved - percent) <= best + 1e-9
    assert 0 <= stable <= max_weight and 0 <= canary <= max_weight


@given(percents)
def test_a_canary_gets_traffic_exactly_when_asked_for_some(percent: float) -> None:
    stable, canary = split_weights(percent, 256)
    assert (canary > 0) == (percent > 0)
    assert (stable > 0) == (percent < 100)


@given(percents, percents)
def test_more_percent_never_gives_the_canary_less(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert share_percent(*split_weights(low, 256)) <= share_percent(*split_weights(high, 256))


@given(st.integers(0, 100_000).map(lambda n: n / 1000))
def test_exact_within_a_hundredth_for_nginx_weights(percent: float) -> None:
    assert abs(share_percent(*split_weights(percent, 10_000)) - percent) < 0.01


def test_no_live_server_is_an_error() -> None:
    with pytest.raises(TrafficError, match="no server is live"):
        share_percent(0, 0)


@pytest.mark.parametrize(("value", "text"), [(5.0, "5"), (2.5, "2.5"), (1 / 3, "0.333"), (0, "0")])
def test_format_percent(value: float, text: str) -> None:
    assert format_percent(value) == text


@pytest.mark.parametrize("bad", [-1, 100.5, float("nan")])
def test_check_percent_refuses_non_percentages(bad: float) -> None:
    with pytest.raises(TrafficError, match="from 0 to 100"):
        check_percent(bad)
