"""The shop's conversion ledger: checkout exposures and the orders they turned into, per arm.

An *exposure* is a shopper shown the checkout page by one arm of the flag (its variant); a
*conversion* is an order that shopper then placed successfully. A conversion is booked at the
time and under the variant of the exposure it completes, and at most once per exposure, so
within any interval conversions never outnumber exposures.

:meth:`ConversionLedger.intervals` answers in the shape a ``command`` metric source prints
(:mod:`rollout.providers.metrics.command`), one interval per whole step:

>>> ledger = ConversionLedger()
>>> ledger.expose("u1", "on", at=100.2)
>>> ledger.expose("u2", "off", at=100.7)
>>> ledger.convert("u1")
True
>>> ledger.intervals(100.0, 102.0, 2.0, canary="on", control="off", now=110.0)
[{'start': 100.0, 'end': 102.0, 'canary': {'requests': 1, 'conversions': 1}, \
'control': {'requests': 1, 'conversions': 0}}]

Orders come a moment after the checkout page, so the newest steps are still filling up; steps
that ended less than ``settle`` seconds before ``now`` are left for a later call.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from typing import Any

__all__ = ["RESOLUTION", "SETTLE_SECONDS", "ConversionLedger"]

RESOLUTION = 0.1
"""Seconds per bucket of the ledger: an interval's edges are accurate to this."""

SETTLE_SECONDS = 1.5
"""How long after a step ends its orders are counted as complete (the simulated shoppers
place an order within about a second of seeing the checkout page)."""


class ConversionLedger:
    """Exposures and conversions per variant, kept per tenth of a second (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (tick of RESOLUTION seconds, variant) -> [exposures, conversions]
        self._counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        self._open: dict[str, tuple[int, str]] = {}

    def expose(self, user: str, variant: str, *, at: float) -> None:
        """``user`` saw the checkout page of ``variant`` at ``at`` (epoch seconds)."""
        key = (math.floor(at / RESOLUTION), variant)
        with self._lock:
            self._counts[key][0] += 1
            self._open[user] = key

    def convert(self, user: str) -> bool:
        """``user`` placed an order: book it on their open exposure. False when they have
        none (they ordered without seeing a checkout page, or already converted)."""
        with self._lock:
            key = self._open.pop(user, None)
            if key is None:
                return False
            self._counts[key][1] += 1
            return True

    def intervals(
        self,
        start: float,
        end: float,
        step: float,
        *,
        canary: str,
        control: str,
        now: float,
        settle: float = SETTLE_SECONDS,
    ) -> list[dict[str, Any]]:
        """The whole ``step``-second intervals of ``[start, end)`` that ended at least
        ``settle`` seconds before ``now`` and hold any exposure, oldest first."""
        if not step > 0:
            raise ValueError(f"step must be > 0 seconds, not {step!r}")
        with self._lock:
            counts = {key: tuple(value) for key, value in self._counts.items()}
        found = []
        steps = math.floor((end - start) / step + 1e-9)
        for index in range(max(0, steps)):
            low, high = start + index * step, start + (index + 1) * step
            if high > now - settle:
                break
            arms = {"canary": [0, 0], "control": [0, 0]}
            for tick in range(math.ceil(low / RESOLUTION), math.ceil(high / RESOLUTION)):
                for arm, variant in (("canary", canary), ("control", control)):
                    exposures, conversions = counts.get((tick, variant), (0, 0))
                    arms[arm][0] += exposures
                    arms[arm][1] += conversions
            if arms["canary"][0] or arms["control"][0]:
                found.append(
                    {
                        "start": low,
                        "end": high,
                        **{arm: {"requests": n, "conversions": k} for arm, (n, k) in arms.items()},
                    }
                )
        return found
