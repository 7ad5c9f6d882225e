"""Exponential backoff with jitter, for reconnecting streams and retrying telemetry.

Attempt ``n`` (0-based) waits a random time in ``[d/2, d]`` where ``d = min(cap, base * 2**n)``
("equal jitter"): never zero, so a fleet of clients that lost one server does not stampede it
in lock-step, and never more than ``cap``.

Worked example, ``base = 1 s``, ``cap = 30 s``: the first retry waits 0.5-1 s, the second 1-2 s,
the third 2-4 s, ..., from the sixth on 15-30 s.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays (seconds) for consecutive failed attempts; :meth:`reset` after a success."""

    __slots__ = ("_attempt", "_rng", "base", "cap")

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if not 0 < base <= cap:
            raise ValueError(f"need 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self._attempt = 0
        self._rng = rng or random.Random()

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; counts one more failure."""
        # 2**n overflows a float only past n ~ 1000; the cap is reached long before.
        ceiling = min(self.cap, self.base * 2.0 ** min(self._attempt, 64))
        self._attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        """Start again from ``base`` (after an attempt succeeded)."""
        self._attempt = 0
