"""Seeded traffic and latency sketches for the analysis tests, built with numpy."""

from __future__ import annotations

import math

import numpy as np

from rollout.analysis import ArmStats, CountPoint, Interval, LatencySketch

ALPHA = 0.05


def aa_bound(runs: int, alpha: float = ALPHA) -> float:
    """The largest false-alarm rate over ``runs`` simulated runs still consistent (one-sided,
    99 %) with a true rate of ``alpha``: a broken test overshoots it by far, a valid one
    stays under it except once in a hundred seeds."""
    return alpha + 2.33 * math.sqrt(alpha * (1 - alpha) / runs)


def count_points(
    canary: np.ndarray, control: np.ndarray, canary_events: np.ndarray, control_events: np.ndarray
) -> list[CountPoint]:
    return [
        CountPoint(float(i + 1), float(c), float(b), int(x), int(y))
        for i, (c, b, x, y) in enumerate(
            zip(canary, control, canary_events, control_events, strict=True)
        )
    ]


def sketch_of(values: np.ndarray) -> LatencySketch:
    """A sketch of ``values`` (ms), filled bucket by bucket (fast for thousands of values)."""
    sketch = LatencySketch()
    gamma = (1 + sketch.relative_accuracy) / (1 - sketch.relative_accuracy)
    keys = np.ceil(np.log(values) / math.log(gamma) - 1e-9).astype(int)
    for key, n in zip(*np.unique(keys, return_counts=True), strict=True):
        sketch.add(2 * gamma ** int(key) / (gamma + 1), int(n))  # lands in bucket `key`
    return sketch


def latency_intervals(
    rng: np.random.Generator,
    intervals: int,
    per_arm: int,
    *,
    canary_scale: float = 1.0,
    length: float = 10.0,
) -> list[Interval]:
    """Log-normal latencies (median 90 ms); the canary's are scaled by ``canary_scale``."""
    out = []
    for i in range(intervals):
        canary = rng.lognormal(4.5, 0.5, per_arm) * canary_scale
        control = rng.lognormal(4.5, 0.5, per_arm)
        out.append(
            Interval(
                i * length,
                (i + 1) * length,
                ArmStats(per_arm, latency=sketch_of(canary)),
                ArmStats(per_arm, latency=sketch_of(control)),
            )
        )
    return out
