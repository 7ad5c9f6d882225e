"""From histogram buckets (a Prometheus ``le`` histogram) to a :class:`LatencySketch`.

A histogram says how many requests took at most ``le`` for a few fixed bounds, cumulatively:
``[(100 ms, 620), (250 ms, 940), (500 ms, 990), (+Inf, 1000)]``. What happened *inside* a bucket
is unknown, so the counts are spread evenly over it, the assumption Prometheus'
``histogram_quantile`` makes: a p99 read from the sketch agrees with what a dashboard built on
``histogram_quantile(0.99, ...)`` shows for the same buckets (to the sketch's 1 %). The first
bucket starts at 0; the ``+Inf`` bucket is put at the largest finite bound (as
``histogram_quantile`` reports it). Both arms of a comparison go through the same conversion,
so "share of canary requests slower than the control's p99" stays a fair comparison.

Worked example: 300 requests in ``(100 ms, 250 ms]`` go into 100 slices 1.5 ms wide, 3 per
slice, each slice's requests at its midpoint (100.75 ms, 102.25 ms, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rollout.analysis import LatencySketch

__all__ = ["SLICES", "sketch_from_buckets"]

SLICES = 100
"""Slices per bucket: the spread is within half a slice (0.5 % of the bucket) of uniform."""


def sketch_from_buckets(
    buckets: Sequence[tuple[float, float]], *, exact: bool = False
) -> tuple[LatencySketch, int]:
    """A sketch and its request count from cumulative ``(le_ms, count)`` pairs.

    ``le_ms`` may be ``math.inf``; the order of the pairs does not matter. Counts are rounded
    to whole requests (a Prometheus ``increase`` is extrapolated, so it is rarely whole) and
    made non-decreasing in ``le`` (each bucket series is extrapolated on its own, so a larger
    bound can come out a hair lower). With ``exact``, counts that are meant to be exact, a
    count lower than a smaller bound's is refused instead (per-bucket counts given where
    cumulative ones belong). Raises ``ValueError`` for that, a negative or non-finite count, a
    negative or NaN bound, or the same bound twice.

    >>> sketch, total = sketch_from_buckets([(100.0, 620.0), (250.0, 940.2), (math.inf, 1000)])
    >>> total, sketch.count, sketch.count_above(250.0)
    (1000, 1000, 0)
    >>> round(sketch.quantile(0.5))  # 620 of 1,000 are at most 100 ms, spread over 0..100
    81
    """
    ordered = sorted(buckets)
    bounds = [le for le, _ in ordered]
    if len(set(bounds)) != len(bounds):
        raise ValueError("a histogram lists the same bucket bound twice")
    for le, count in ordered:
        if math.isnan(le) or le < 0:
            raise ValueError(f"a histogram bucket bound must be >= 0, not {le!r}")
        if not math.isfinite(count) or count < 0:
            raise ValueError(f"a histogram bucket count must be a number >= 0, not {count!r}")
    finite = [le for le in bounds if math.isfinite(le)]
    top = finite[-1] if finite else 0.0
    sketch = LatencySketch()
    seen = 0
    lower = 0.0
    for le, count in ordered:
        if exact and round(count) < seen:
            raise ValueError(
                f"histogram counts are cumulative, but le={le:g} holds {round(count)}, fewer "
                f"than the {seen} of a smaller bound"
            )
        cumulative = max(seen, round(count))
        n = cumulative - seen
        seen = cumulative
        upper = le if math.isfinite(le) else top
        _spread(sketch, lower, upper, n)
        lower = upper
    return sketch, seen


def _spread(sketch: LatencySketch, lower: float, upper: float, n: int) -> None:
    if n == 0:
        return
    if upper <= lower:
        sketch.add(upper, n)
        return
    slices = min(n, SLICES)
    width = (upper - lower) / slices
    for j in range(slices):
        # floor((j+1)n/s) - floor(jn/s) hands out exactly n requests, as evenly as possible.
        share = (j + 1) * n // slices - j * n // slices
        sketch.add(lower + (j + 0.5) * width, share)
