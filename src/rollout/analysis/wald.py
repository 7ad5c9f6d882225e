"""Wald's lower bound on the events any sequential test needs to detect a regression.

Among all tests with false-alarm rate ``alpha`` and miss rate ``beta`` that decide between
"the canary's event rate equals the control's" and "it is ``theta`` times the control's", none
needs fewer events on average, when the regression is real, than (Wald & Wolfowitz 1948)::

    E[N] >= [(1 - beta) ln((1 - beta)/alpha) + beta ln(beta/(1 - alpha))] / KL(q1 || q0)

per event, ``q0 = s`` (the canary's request share) and ``q1 = theta*s / (theta*s + 1 - s)``.
For ``alpha = 0.05, beta = 0.1`` the numerator is 2.376; a doubled error rate gives at least
138 events at a 5 % canary share and 42 at 50 %. The events counted are all error events,
both arms, since the count test looks at every one of them.

>>> round(wald_bound(0.05)), round(wald_bound(0.5))
(138, 42)
"""

from __future__ import annotations

import math

from rollout.analysis.sequential import event_share

__all__ = ["kl_bernoulli", "wald_bound", "wald_numerator"]


def kl_bernoulli(q1: float, q0: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(q1) from Bernoulli(q0), in nats per trial.

    >>> round(kl_bernoulli(event_share(0.05, 2.0), 0.05), 4)
    0.0172
    """
    if not (0.0 < q0 < 1.0 and 0.0 <= q1 <= 1.0):
        raise ValueError("KL needs 0 < q0 < 1 and 0 <= q1 <= 1")
    total = 0.0
    if q1 > 0.0:
        total += q1 * math.log(q1 / q0)
    if q1 < 1.0:
        total += (1.0 - q1) * math.log((1.0 - q1) / (1.0 - q0))
    return total


def wald_numerator(alpha: float = 0.05, beta: float = 0.1) -> float:
    """``(1 - beta) ln((1 - beta)/alpha) + beta ln(beta/(1 - alpha))``; 2.376 at 0.05 / 0.1."""
    if not (0.0 < alpha < 1.0 and 0.0 < beta < 1.0 and alpha + beta < 1.0):
        raise ValueError("need 0 < alpha, beta and alpha + beta < 1")
    return (1.0 - beta) * math.log((1.0 - beta) / alpha) + beta * math.log(beta / (1.0 - alpha))


def wald_bound(share: float, theta: float = 2.0, alpha: float = 0.05, beta: float = 0.1) -> float:
    """The least mean number of events (both arms) to detect a canary event rate ``theta``
    times the control's when the canary serves ``share`` of the requests."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"the canary share must be between 0 and 1, not {share}")
    if theta <= 0.0 or theta == 1.0:
        raise ValueError("theta must be positive and different from 1")
    return wald_numerator(alpha, beta) / kl_bernoulli(event_share(share, theta), share)
