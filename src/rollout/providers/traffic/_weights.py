"""Turning a canary percentage into two integer server weights, and back.

Load balancers split traffic by integer weights: nginx takes any positive integer (``down``
stands for zero), HAProxy takes 0 to 256. A percentage becomes the pair ``(stable, canary)``
whose ratio comes closest to it, with the smallest weights that do (so 5 % is 19:1, not 950:50,
which keeps a weighted round robin's cycle short).
"""

from __future__ import annotations

import math

from rollout.errors import TrafficError


def split_weights(canary_percent: float, max_weight: int) -> tuple[int, int]:
    """The ``(stable, canary)`` weights, each 0..``max_weight``, closest to ``canary_percent``.

    0 % gives ``(1, 0)`` and 100 % gives ``(0, 1)``; any share strictly between gives two
    positive weights, so a tiny canary still gets some traffic. Among equally close pairs the
    one with the smallest weights wins.

    >>> split_weights(5, 256)
    (19, 1)
    >>> split_weights(25, 256)
    (3, 1)
    >>> split_weights(0.1, 256)  # 1/1000 cannot be had with weights up to 256
    (256, 1)
    """
    if max_weight < 1:
        raise ValueError("max_weight must be at least 1")
    if canary_percent <= 0:
        return (1, 0)
    if canary_percent >= 100:
        return (0, 1)
    # Work on the minority side's share q <= 1/2; the majority side gets the larger weight.
    canary_is_minority = canary_percent <= 50
    q = (canary_percent if canary_is_minority else 100 - canary_percent) / 100
    best: tuple[float, int, int] | None = None
    for large in range(1, max_weight + 1):
        # small/(large+small) = q  <=>  small = large * q / (1 - q); the nearest share is at the
        # floor or the ceiling of that (share grows monotonically with small).
        ideal = large * q / (1 - q)
        for rounded in (math.floor(ideal), math.ceil(ideal)):
            small = min(max(rounded, 1), large)
            error = abs(small / (large + small) - q)
            if best is None or error < best[0] - 1e-15:
                best = (error, large, small)
        if best is not None and best[0] < 1e-12:
            break
    assert best is not None
    _, large, small = best
    return (large, small) if canary_is_minority else (small, large)


def share_percent(stable: int, canary: int) -> float:
    """The canary's share in percent for effective weights ``stable`` and ``canary`` (>= 0).

    >>> share_percent(19, 1)
    5.0

    Raises ``TrafficError`` when both are zero: then no server would take traffic.
    """
    if stable < 0 or canary < 0:
        raise TrafficError(f"weights cannot be negative (stable {stable}, canary {canary})")
    total = stable + canary
    if total == 0:
        raise TrafficError("both the stable and the canary server have weight 0: no server is live")
    return 100.0 * canary / total
