"""Numbers as people read them."""

from __future__ import annotations

import pytest

from rollout.analysis import figures as fmt


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(0.0213, "2.1%"), (0.01, "1.0%"), (0.004, "0.40%"), (0.00052, "0.052%"), (0.253, "25.3%"),
     (0.0, "0%"), (1.0, "100.0%")],
)  # fmt: skip
def test_percentages_show_two_significant_digits(ratio: float, text: str) -> None:
    assert fmt.percent(ratio) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(312.4, "312 ms"), (1250.0, "1,250 ms"), (45.67, "45.7 ms"), (4.56, "4.6 ms"),
     (0.456, "0.46 ms")],
)  # fmt: skip
def test_milliseconds(ms: float, text: str) -> None:
    assert fmt.millis(ms) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [(2.13, "2.1x"), (2.0, "2x"), (1.05, "1.05x"), (0.82, "0.82x"), (13.37, "13.4x"),
     (0.0031, "0.0031x"), (1.0, "1x")],
)  # fmt: skip
def test_ratios_are_finer_near_one(x: float, text: str) -> None:
    assert fmt.ratio(x) == text


@pytest.mark.parametrize(
    ("e", "text"),
    [(40.9, "1 in 40"), (47.3, "1 in 47"), (1234.0, "1 in 1,200"), (5.2, "1 in 5"),
     (3e9, "1 in 1,000,000"), (0.3, "1 in 1")],
)  # fmt: skip
def test_odds_round_down_so_they_never_overstate(e: float, text: str) -> None:
    assert fmt.one_in(e) == text


def test_limits_keep_the_digits_the_user_wrote() -> None:
    assert fmt.quantity(0.01, "ratio", as_limit=True) == "1%"
    assert fmt.quantity(0.025, "ratio", as_limit=True) == "2.5%"
    assert fmt.quantity(300.0, "ms", as_limit=True) == "300 ms"
    assert fmt.quantity(42.75, "number") == "42.8"
    assert fmt.count(4180) == "4,180"
    assert fmt.number(1234.5) == "1,234"
