"""Wald's bound, checked against the figures the design quotes."""

from __future__ import annotations

import pytest

from rollout.analysis import kl_bernoulli, wald_bound
from rollout.analysis.sequential import event_share
from rollout.analysis.wald import wald_numerator


def test_the_numerator_for_five_and_ten_percent() -> None:
    assert wald_numerator(0.05, 0.1) == pytest.approx(2.376, abs=5e-4)


@pytest.mark.parametrize(("share", "kl", "events"), [(0.05, 0.0172, 138), (0.5, 0.0566, 42)])
def test_a_doubled_error_rate_needs_at_least(share: float, kl: float, events: int) -> None:
    assert kl_bernoulli(event_share(share, 2.0), share) == pytest.approx(kl, abs=5e-5)
    assert round(wald_bound(share)) == events


def test_smaller_regressions_need_more_events() -> None:
    assert wald_bound(0.05, 1.5) > wald_bound(0.05, 2.0) > wald_bound(0.05, 3.0)


def test_a_drop_is_a_regression_too() -> None:
    assert wald_bound(0.5, 0.5) > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"share": 0.0}, "share"),
        ({"share": 0.5, "theta": 1.0}, "theta"),
        ({"share": 0.5, "alpha": 0.6, "beta": 0.5}, "alpha"),
    ],
)
def test_meaningless_inputs_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wald_bound(**kwargs)
    with pytest.raises(ValueError, match="KL"):
        kl_bernoulli(0.5, 0.0)
