"""How each checkout version of the sample shop behaves: failures, service time, declines.

A :class:`Behaviour` is the whole difference between two versions of the checkout code, as
numbers. The shop draws every request's outcome from it with its own random generator, so the
differences the rollout measures are real differences in what the shop served, not labels.

=================  ==========  ================  =============  ====================
version            5xx share   service time      slow share     payments declined
=================  ==========  ================  =============  ====================
current (1.x)      1 %         median 24 ms      --             3 %
new, good (2.0.1)  0.8 %       median 22 ms      --             3 %
new, bad           5 %         median 24 ms      20 % +300 ms   15 %
=================  ==========  ================  =============  ====================

Worked example (the bad version): of 1,000 checkout requests about 50 fail with a 500, about
200 wait an extra 300-500 ms (a slow call to the payment provider, so the p99 rises from about
70 ms to about 500 ms), and of the orders that reach payment 15 % are declined instead of 3 %,
so about 15 % fewer checkouts turn into orders.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BAD", "CURRENT", "GOOD", "Behaviour", "Outcome", "Quality", "behaviour_of"]


class Quality(StrEnum):
    """Which new checkout the shop ships behind the flag."""

    GOOD = "good"
    BAD = "bad"


@dataclass(frozen=True)
class Outcome:
    """One request's fate: how long the handler works (ms), and whether it fails with a 5xx."""

    service_ms: float
    fails: bool


@dataclass(frozen=True)
class Behaviour:
    """One checkout version's behaviour.

    ``error_rate``: share of checkout requests that fail with a 500; ``median_ms`` and
    ``spread`` (the sigma of the log): the usual service time, log-normal; ``slow_share``: share
    of requests that also wait ``slow_min_ms`` to ``slow_max_ms`` more; ``decline_rate``: share
    of valid payments the version declines (an order lost without any error).
    """

    name: str
    error_rate: float
    median_ms: float
    spread: float = 0.45
    slow_share: float = 0.0
    slow_min_ms: float = 0.0
    slow_max_ms: float = 0.0
    decline_rate: float = 0.03

    def draw(self, rng: random.Random) -> Outcome:
        """The outcome of one request, drawn from ``rng``.

        >>> CURRENT.draw(random.Random(7)).service_ms > 0
        True
        """
        service = self.median_ms * math.exp(rng.gauss(0.0, self.spread))
        if self.slow_share and rng.random() < self.slow_share:
            service += rng.uniform(self.slow_min_ms, self.slow_max_ms)
        return Outcome(service, rng.random() < self.error_rate)

    def declines(self, rng: random.Random) -> bool:
        """Whether this version declines one valid payment."""
        return rng.random() < self.decline_rate


CURRENT = Behaviour("current", error_rate=0.01, median_ms=24.0)
GOOD = Behaviour("good", error_rate=0.008, median_ms=22.0)
BAD = Behaviour(
    "bad",
    error_rate=0.05,
    median_ms=24.0,
    slow_share=0.2,
    slow_min_ms=300.0,
    slow_max_ms=500.0,
    decline_rate=0.15,
)


def behaviour_of(quality: Quality) -> Behaviour:
    """The new checkout's behaviour for ``quality``."""
    return GOOD if quality is Quality.GOOD else BAD
