"""Synthetic traffic, one monitoring interval at a time: Poisson arrivals split between the two
versions, the measurements the engine judges, and who met the new version.

Each interval of length ``dt`` seconds brings ``N ~ Poisson(rate * dt)`` requests; the new
version serves ``Binomial(N, share)`` of them. Per arm, errors are ``Binomial(n, error_rate)``,
conversions ``Binomial(n, rate)``, counted events ``Poisson(n * rate)``, and latencies ``n``
log-normal draws put into a :class:`~rollout.analysis.LatencySketch`.

Users: each environment has a population of ``users`` ids. When traffic moves by flag, users are
*sticky*: a flag at ``p`` % serves the new version to the same ``p`` % of users every time (the
first ``p`` % of ids, as bucketing keeps a ramp's earlier users in), plus the ids of the open
segment (the last ``s`` % of ids); so the new version's share of requests is its share of users.
A weighted router (nginx, HAProxy, a command, rolling instances) sends each *request* to the
new version with probability ``p``, whoever makes it. Either way the users behind the new
version's requests are drawn from those eligible, so a repeat visitor counts once in
:class:`Exposure`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rollout.analysis import ArmStats, Interval, LatencySketch, MetricSpec
from rollout.simulate.behaviour import Behaviour, LatencyModel

__all__ = ["Audience", "Exposure", "Population", "draw_interval"]

# Latencies are binned on a log grid 1 % wide before they enter the sketch (whose own buckets
# are 2 % wide): the sketch then sees each value within 0.5 %, at a fraction of the cost.
_LOG_STEP = math.log(1.01)


@dataclass(frozen=True)
class Audience:
    """Who the new version serves in an environment: ``percent`` % of users (or of requests,
    when not ``sticky``), plus the users of a segment holding ``segment`` % of them."""

    percent: float = 0.0
    segment: float = 0.0
    sticky: bool = True

    @property
    def share(self) -> float:
        """The new version's share of requests, a fraction.

        >>> round(Audience(percent=10.0, segment=5.0).share, 6)
        0.145
        """
        p, s = self.percent / 100.0, self.segment / 100.0
        return min(1.0, s + (1.0 - s) * p)


@dataclass(frozen=True)
class Exposure:
    """Who met the new version in one environment.

    ``users``: distinct users served by it at all; ``users_bad``: distinct users served by it
    while a regression was active; ``requests_bad`` and ``errors_bad``: its requests, and the
    error events among them, while a regression was active.
    """

    environment: str
    users: int
    users_bad: int
    requests_bad: int
    errors_bad: int


@dataclass
class Population:
    """One environment's users and what they met (mutable while the simulation runs)."""

    environment: str
    size: int
    met_new: np.ndarray = field(init=False)
    met_bad: np.ndarray = field(init=False)
    requests_bad: int = 0
    errors_bad: int = 0

    def __post_init__(self) -> None:
        self.met_new = np.zeros(self.size, dtype=bool)
        self.met_bad = np.zeros(self.size, dtype=bool)

    def eligible(self, audience: Audience) -> tuple[int, int]:
        """``(first, segment)``: the new version serves ids below ``first`` and the last
        ``segment`` ids (sticky); a non-sticky audience draws from every id."""
        if not audience.sticky:
            return self.size, 0
        first = math.floor(self.size * audience.percent / 100.0)
        segment = math.floor(self.size * audience.segment / 100.0)
        return first, min(segment, self.size - first)

    def share(self, audience: Audience) -> float:
        """The new version's share of requests (for a sticky audience, of users)."""
        if not audience.sticky:
            return audience.share
        first, segment = self.eligible(audience)
        return (first + segment) / self.size

    def meet(
        self, rng: np.random.Generator, audience: Audience, requests: int, errors: int, bad: bool
    ) -> None:
        """Record ``requests`` of the new version (``errors`` of them failed) by users drawn
        from those eligible; ``bad`` when a regression was active."""
        first, segment = self.eligible(audience)
        if requests <= 0 or first + segment == 0:
            return
        ids = rng.integers(0, first + segment, size=requests)
        ids = np.where(ids < first, ids, self.size - segment + (ids - first))
        self.met_new[ids] = True
        if bad:
            self.met_bad[ids] = True
            self.requests_bad += requests
            self.errors_bad += errors

    def exposure(self) -> Exposure:
        return Exposure(
            self.environment,
            int(self.met_new.sum()),
            int(self.met_bad.sum()),
            self.requests_bad,
            self.errors_bad,
        )


@dataclass(frozen=True)
class Drawn:
    """One interval's traffic: the measurements by metric name, and the new version's
    request and error counts."""

    intervals: dict[str, Interval]
    canary_requests: int
    canary_errors: int


def draw_interval(
    rng: np.random.Generator,
    start: float,
    end: float,
    *,
    rate: float,
    share: float,
    control: Behaviour,
    canary: Behaviour,
    specs: tuple[MetricSpec, ...],
) -> Drawn:
    """Draw ``[start, end)``: ``rate`` requests per second, a fraction ``share`` of them on the
    new version, measured for each metric of ``specs``."""
    total = int(rng.poisson(rate * (end - start))) if rate > 0 else 0
    canary_n = int(rng.binomial(total, min(1.0, max(0.0, share))))
    canary_arm = _Arm(rng, canary, canary_n)
    control_arm = _Arm(rng, control, total - canary_n)
    intervals = {
        spec.name: Interval(start, end, canary_arm.stats(spec), control_arm.stats(spec))
        for spec in specs
    }
    return Drawn(intervals, canary_n, canary_arm.errors)


class _Arm:
    """One arm's requests in one interval; each measurement is drawn once, when first asked."""

    def __init__(self, rng: np.random.Generator, behaviour: Behaviour, requests: int) -> None:
        self.rng = rng
        self.behaviour = behaviour
        self.requests = requests
        self.errors = int(rng.binomial(requests, behaviour.error_rate)) if requests else 0
        self._sketch: LatencySketch | None = None

    def stats(self, spec: MetricSpec) -> ArmStats:
        n = self.requests
        if spec.kind == "error_rate":
            return ArmStats(requests=n, errors=self.errors)
        if spec.kind == "latency":
            if self._sketch is None:
                self._sketch = _sketch(self.rng, self.behaviour.latency, n)
            return ArmStats(requests=n, latency=self._sketch)
        if spec.kind == "mean":
            return self._mean(spec.name)
        rate = self.behaviour.rates.get(spec.name, 0.0)
        if spec.kind == "conversion":
            return ArmStats(requests=n, conversions=int(self.rng.binomial(n, min(1.0, rate))))
        return ArmStats(requests=n, events=int(self.rng.poisson(n * rate)))

    def _mean(self, name: str) -> ArmStats:
        found = self.behaviour.means.get(name)
        if found is None or self.requests == 0:
            return ArmStats(requests=self.requests)
        values = self.rng.normal(found.mean, found.sd, self.requests)
        return ArmStats(
            requests=self.requests,
            value_count=self.requests,
            value_sum=float(values.sum()),
            value_sum_sq=float(np.square(values).sum()),
        )


def _sketch(rng: np.random.Generator, model: LatencyModel, n: int) -> LatencySketch:
    sketch = LatencySketch()
    if n == 0:
        return sketch
    draws = rng.lognormal(model.mu, model.sigma, n)
    keys, counts = np.unique(np.floor(np.log(draws) / _LOG_STEP), return_counts=True)
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        sketch.add(math.exp((key + 0.5) * _LOG_STEP), int(count))
    return sketch
