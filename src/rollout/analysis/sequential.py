"""Anytime-valid tests: checked after every tick without inflating the false-alarm rate.

Each test is a pure function of the whole series so far (recomputed each tick, so a verdict
replays exactly from the recorded data) and returns a :class:`SequentialResult`: the e-value
``E`` now, its largest value over the series, and when it first reached ``1/alpha``. Every
``E`` here is a nonnegative supermartingale under the null hypothesis, so by Ville's inequality
``P(E ever reaches 1/alpha) <= alpha``: the test may stop at the first crossing and its false
alarm rate stays at most ``alpha`` (default 0.05) however often it is looked at. The
always-valid p-value is ``min(1, 1/max E)``.

**The count test** (errors, slow requests, conversions, counted events). Condition on the
events: within an interval where the canary served a share ``s = c / (c + b)`` of the requests,
each event is the canary's with probability ``s`` when both arms have the same rate, and with
``q(theta) = theta*s / (theta*s + 1 - s)`` when the canary's rate is ``theta`` times the
control's (Lindon & Malek, "Anytime-valid inference for multinomial count data", NeurIPS 2022).
The overall rate may move however it likes (a busy hour, an incident hitting both arms) and the
split may change between intervals: each interval uses its own ``s``. The e-value is a mixture
of likelihood ratios ``theta_k`` against the null boundary ``theta0`` (1 for "no regression";
1.05 for "no regression > 5%", which covers every ``theta <= 1.05`` because the ratio is
monotone), weighted by a :class:`Mixture`.

Worked example: 5 % canary share, 20 errors of which 3 are the canary's, ``theta = 2``:
``q = 0.0952``, the ratio is ``(0.0952/0.05)**3 * (0.9048/0.95)**17 = 6.9 * 0.437 = 3.0``;
at ``alpha = 0.05`` the test needs a mixture of such ratios to reach 20.

Two guards go beyond the textbook, both for errors that come in bursts (one client retrying
in a loop), which break the "independent events" the test assumes:

- within one interval the canary's count enters the ratio at most ``burst_cap`` standard
  deviations above what ``theta_k`` predicts (never below one event). Capping only lowers a
  ratio, so validity is kept, and one burst cannot roll a canary back on its own;
- when the counts spread clearly more than independent events allow (``_Dispersion``), each
  log-likelihood ratio is divided by that dispersion (a quasi-likelihood) and the smaller of
  the plain and the discounted e-value counts. It never raises the evidence, so the guarantee
  for independent events stands; for bursty events it is an approximation that helps once
  the bursts are recognisable (bench/detection.py, bursts of mean size 3: false rollbacks
  fell from about 20 % to 9 % at a 5 % canary share and from 50 % to 33 % at 50 %; bursts
  early in a stage still count before they can be seen).

**Means** (order value, revenue per user): mSPRT with a normal mixing prior N(0, tau^2) on the
difference (Johari, Pekelis & Walsh, "Always valid inference", Operations Research 2022), here
one-sided (a half-normal prior), on the contrast ``canary - factor*control - offset`` with the
variance estimated from the data (a plug-in: valid as the sample grows, not exactly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rollout.analysis.observation import Interval
from rollout.analysis.sketch import LatencySketch

__all__ = [
    "CONVERSION_MIXTURE",
    "DEFAULT_ALPHA",
    "ERROR_MIXTURE",
    "CountPoint",
    "Direction",
    "MeanPoint",
    "Mixture",
    "RatePoint",
    "SequentialResult",
    "count_test",
    "event_share",
    "mean_test",
    "rate_test",
    "reference_size",
    "slow_request_points",
]

DEFAULT_ALPHA = 0.05
Direction = Literal["up", "down"]
"""Which way a regression goes: ``up`` (more errors, slower) or ``down`` (fewer conversions)."""

_LOG_MAX = 700.0  # exp() overflows a float past ~709.78


@dataclass(frozen=True)
class Mixture:
    """Weights over alternatives, as ratios ``r > 1``: how many times worse than the null
    boundary the canary is (``theta = theta0 * r`` for an increase, ``theta0 / r`` for a drop).
    Weights are positive and sum to 1, which is what keeps the mixture an e-value."""

    ratios: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.ratios or len(self.ratios) != len(self.weights):
            raise ValueError("a mixture needs as many weights as ratios, at least one")
        if any(r <= 1.0 for r in self.ratios) or any(w <= 0.0 for w in self.weights):
            raise ValueError("mixture ratios must be > 1 and weights > 0")
        if abs(math.fsum(self.weights) - 1.0) > 1e-9:
            raise ValueError("mixture weights must sum to 1")

    @classmethod
    def log_normal(
        cls, *, centre: float, spread: float, low: float, high: float, points: int
    ) -> Mixture:
        """``points`` log-spaced ratios from ``low`` to ``high``, weighted by a normal density
        on ``ln r`` centred on ``ln centre`` with standard deviation ``spread``."""
        if points == 1:
            return cls((centre,), (1.0,))
        step = (math.log(high) - math.log(low)) / (points - 1)
        logs = [math.log(low) + i * step for i in range(points)]
        raw = [math.exp(-0.5 * ((x - math.log(centre)) / spread) ** 2) for x in logs]
        total = math.fsum(raw)
        return cls(tuple(math.exp(x) for x in logs), tuple(w / total for w in raw))


# Errors, slow requests and counted events. The weight sits on a doubling, the regression the
# count test is built to catch as early as possible (Wald's bound is quoted for it): a normal
# prior on ln(theta) centred on ln 2 with spread 0.2 (a factor of 1.22), truncated to
# [1.25, 4]. Smaller regressions are still caught, only later; larger ones are caught quickly
# anyway because their evidence grows fast. Measured with bench/detection.py (1 s ticks,
# 3,000 runs): against a spread of 0.3 it needs 2-3 % fewer events at a doubling and no
# measurably more at 1.5x or 3x; a flat weight over [1.25, 4] needs about 10 % more.
ERROR_MIXTURE = Mixture.log_normal(centre=2.0, spread=0.2, low=1.25, high=4.0, points=12)

# Conversions and other business rates, where a drop of a few percent matters: weight centred
# on a 10 % change, spread 0.15 on the log scale, truncated to [1.02, 1.6].
CONVERSION_MIXTURE = Mixture.log_normal(centre=1.1, spread=0.15, low=1.02, high=1.6, points=12)


@dataclass(frozen=True)
class SequentialResult:
    """The state of an anytime-valid test after the whole series.

    ``e_value``: the evidence now; ``e_max``: its largest value so far; ``crossed_at``: the
    time (an interval's end) when it first reached ``1 / alpha``, None if it never did;
    ``estimate``: the effect as a canary/control ratio (or canary/limit for one-sample tests),
    None when the data do not define it yet. For the count test, ``dispersion`` is how much
    more the event counts spread than independent events would (about 1 when they are
    independent) and ``bursty`` says it is clearly above 1: events come in clusters, and the
    evidence was discounted for it (see the module docstring).
    """

    e_value: float
    e_max: float
    crossed_at: float | None
    alpha: float
    estimate: float | None
    dispersion: float | None = None
    bursty: bool = False

    @property
    def rejected(self) -> bool:
        """True once the evidence reached ``1 / alpha``: the regression is shown."""
        return self.crossed_at is not None

    @property
    def p_value(self) -> float:
        """The always-valid p-value ``min(1, 1 / e_max)``."""
        return min(1.0, 1.0 / self.e_max) if self.e_max > 0 else 1.0


class _Tracker:
    """Follows ``ln E`` through the series: running maximum and first crossing."""

    def __init__(self, alpha: float) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
        self.alpha = alpha
        self.threshold = math.log(1.0 / alpha)
        self.log_e = 0.0
        self.log_max = 0.0
        self.crossed_at: float | None = None

    def see(self, log_e: float, time: float) -> None:
        self.log_e = log_e
        self.log_max = max(self.log_max, log_e)
        if self.crossed_at is None and log_e >= self.threshold:
            self.crossed_at = time

    def result(
        self, estimate: float | None, dispersion: float | None = None, bursty: bool = False
    ) -> SequentialResult:
        return SequentialResult(
            e_value=math.exp(min(self.log_e, _LOG_MAX)),
            e_max=math.exp(min(self.log_max, _LOG_MAX)),
            crossed_at=self.crossed_at,
            alpha=self.alpha,
            estimate=estimate,
            dispersion=dispersion,
            bursty=bursty,
        )


def _log_sum_exp(values: Iterable[float]) -> float:
    items = list(values)
    top = max(items)
    if math.isinf(top):
        return top
    exp = math.exp
    return top + math.log(sum([exp(v - top) for v in items]))


def event_share(share: float, theta: float) -> float:
    """The probability that an event is the canary's when it serves ``share`` of the requests
    and its event rate is ``theta`` times the control's: ``theta*s / (theta*s + 1 - s)``.

    >>> round(event_share(0.05, 2.0), 4)
    0.0952
    """
    return theta * share / (theta * share + 1.0 - share)


# --------------------------------------------------------------------------- the count test


@dataclass(frozen=True)
class CountPoint:
    """One interval of the count test: exposures (requests) and events per arm, ending at
    ``time``. Exposures may be any positive measure of traffic; only their ratio matters."""

    time: float
    canary_exposures: float
    control_exposures: float
    canary_events: int
    control_events: int


def count_test(
    points: Sequence[CountPoint],
    *,
    theta0: float = 1.0,
    direction: Direction = "up",
    mixture: Mixture = ERROR_MIXTURE,
    alpha: float = DEFAULT_ALPHA,
    burst_cap: float = 3.0,
) -> SequentialResult:
    """Is the canary's event rate more than ``theta0`` times the control's (``up``), or less
    than ``theta0`` times (``down``)? See the module docstring. Intervals where an arm served
    nothing carry no information about the ratio and are skipped. ``estimate`` is the
    Mantel-Haenszel rate ratio across intervals (robust to a changing split).

    >>> pts = [CountPoint(t, 50, 950, 3, 10) for t in range(1, 31)]
    >>> r = count_test(pts)
    >>> r.rejected, round(r.estimate, 2)
    (True, 5.7)
    """
    up = direction == "up"
    thetas = [theta0 * r if up else theta0 / r for r in mixture.ratios]
    log_w = [math.log(w) for w in mixture.weights]
    log_l = [0.0] * len(thetas)
    tracker = _Tracker(alpha)
    spread_check = _Dispersion()
    mh_num = mh_den = 0.0
    log, sqrt = math.log, math.sqrt  # the hot loop below runs once per interval and alternative
    last = next((i for i in range(len(points) - 1, -1, -1) if _weighs(points[i])), -1)
    for i, p in enumerate(points):
        spread_check.see(p)
        if not _weighs(p):
            continue
        n = p.canary_events + p.control_events
        s = p.canary_exposures / (p.canary_exposures + p.control_exposures)
        mh_num += p.canary_events * (1.0 - s)
        mh_den += p.control_events * s
        s0 = event_share(s, theta0)
        for k, theta in enumerate(thetas):
            q = theta * s / (theta * s + 1.0 - s)  # event_share, inlined
            spread = burst_cap * sqrt(n * q * (1.0 - q))
            if up:
                x_canary = min(float(p.canary_events), max(1.0, n * q + spread))
                x_control = n - x_canary
            else:
                x_control = min(float(p.control_events), max(1.0, n * (1.0 - q) + spread))
                x_canary = n - x_control
            log_l[k] += x_canary * log(q / s0) + x_control * log((1.0 - q) / (1.0 - s0))
        top = max(log_l)
        if i != last and top + 1e-9 * (1.0 + abs(top)) < 0.0:
            # E is a weighted mean of the ratios, so below 1 while every ratio is: it moves
            # neither its running maximum (at least 1) nor the crossing, and only the last
            # point's E is reported. Not weighing it leaves the result exactly the same.
            continue
        log_e = _log_sum_exp(w + ll for w, ll in zip(log_w, log_l, strict=True))
        if spread_check.bursty:
            # Quasi-likelihood: divide the evidence by the dispersion; never let it raise E.
            phi = max(1.0, spread_check.ratio or 1.0)
            tempered = _log_sum_exp(w + ll / phi for w, ll in zip(log_w, log_l, strict=True))
            log_e = min(log_e, tempered)
        tracker.see(log_e, p.time)
    estimate = mh_num / mh_den if mh_den > 0 else None
    return tracker.result(estimate, spread_check.ratio, spread_check.bursty)


def _weighs(p: CountPoint) -> bool:
    """Whether an interval says anything about the ratio: events, and traffic on both arms."""
    return (
        p.canary_events + p.control_events != 0
        and p.canary_exposures > 0
        and p.control_exposures > 0
    )


class _Dispersion:
    """How much more event counts spread than independent events allow, judged within each
    arm between consecutive intervals (taken in pairs: 1-2, 3-4, ...). Given a pair's total
    ``N`` and the same rate in both, the second interval's count is binomial with its share
    of the exposures, so ``(x - N p)**2 / (N p (1 - p))`` averages 1; clustered events push
    it up. Comparing an arm with itself, a canary regression that holds steady leaves it
    alone. ``ratio`` is Pearson's X^2 per pair; ``bursty`` says it is above 1 at the 0.1 %
    level (Wilson-Hilferty: (X^2/df)^(1/3) is about normal, mean 1 - 2/(9 df), variance
    2/(9 df))."""

    def __init__(self) -> None:
        self.x2 = 0.0
        self.df = 0
        self._held: CountPoint | None = None

    def see(self, point: CountPoint) -> None:
        if self._held is None:
            self._held = point
            return
        first, self._held = self._held, None
        for x1, e1, x2, e2 in (
            (first.canary_events, first.canary_exposures, point.canary_events,
             point.canary_exposures),
            (first.control_events, first.control_exposures, point.control_events,
             point.control_exposures),
        ):  # fmt: skip
            total = x1 + x2
            if total == 0 or e1 <= 0 or e2 <= 0:
                continue
            share = e2 / (e1 + e2)
            self.x2 += (x2 - total * share) ** 2 / (total * share * (1.0 - share))
            self.df += 1

    @property
    def ratio(self) -> float | None:
        return self.x2 / self.df if self.df else None

    @property
    def bursty(self) -> bool:
        if self.df < 2:
            return False
        spread = 2.0 / (9.0 * self.df)
        z: float = (math.pow(self.x2 / self.df, 1.0 / 3.0) - (1.0 - spread)) / math.sqrt(spread)
        return z > 3.09


def reference_size(quantile: float) -> int:
    """Control requests needed before their ``quantile`` serves as a threshold: enough for
    10 of them above it (1,000 for a p99, 20 for a median)."""
    return math.ceil(10.0 / (1.0 - quantile))


def slow_request_points(
    intervals: Sequence[Interval],
    quantile: float,
    *,
    scale: float = 1.0,
    shift_ms: float = 0.0,
    min_reference: int | None = None,
) -> tuple[tuple[CountPoint, ...], tuple[float | None, ...]]:
    """Turn latency sketches into slow-request counts for the count test.

    For each interval the threshold is the control's ``quantile`` over the *previous*
    intervals (so it is fixed before the interval's data are seen, which keeps the test
    valid), rounded up to a sketch bucket edge ``t``. The control's events are its requests
    slower than ``t``; the canary's are its requests slower than ``scale * t + shift_ms``.
    If the canary is no slower than ``scale * control + shift_ms`` (as distributions), its
    chance of exceeding the second threshold is at most the control's chance of exceeding the
    first, so "canary events at no higher rate" is the null of the count test with
    ``theta0 = 1``. The canary's count leaves out requests in the bucket straddling its
    threshold, which can only make the test more cautious.

    Until the earlier control data hold ``min_reference`` requests (default: enough for 10
    above the quantile, i.e. 1,000 for a p99) an interval counts no events and no traffic.
    Returns the points and, per interval, the control threshold ``t`` in ms (None before it
    exists).
    """
    if min_reference is None:
        min_reference = reference_size(quantile)
    reference: LatencySketch | None = None
    points: list[CountPoint] = []
    thresholds: list[float | None] = []
    for interval in intervals:
        canary, control = interval.canary.latency, interval.control.latency
        edge: float | None = None
        canary_slow = control_slow = 0
        if reference is not None and reference.count >= min_reference:
            edge = reference.upper_edge(reference.quantile(quantile))
            if canary is not None:
                canary_slow = canary.count_above(scale * edge + shift_ms)
            if control is not None:
                control_slow = control.count_above(edge)
        if edge is None:  # nothing is counted yet, so the interval carries no traffic either
            points.append(CountPoint(interval.end, 0, 0, 0, 0))
        else:
            points.append(
                CountPoint(
                    interval.end,
                    canary.count if canary is not None else 0,
                    control.count if control is not None else 0,
                    canary_slow,
                    control_slow,
                )
            )
        thresholds.append(edge)
        if control is not None:
            if reference is None:
                reference = control.copy()
            else:
                reference.merge(control)
    return tuple(points), tuple(thresholds)


# --------------------------------------------------------------------------- one-sample rates


@dataclass(frozen=True)
class RatePoint:
    """One interval of a one-sample rate test: ``events`` among ``exposures``."""

    time: float
    exposures: float
    events: int


def rate_test(
    points: Sequence[RatePoint],
    *,
    limit: float,
    direction: Direction = "up",
    mixture: Mixture = ERROR_MIXTURE,
    alpha: float = DEFAULT_ALPHA,
) -> SequentialResult:
    """Is the event rate per exposure above ``limit`` (``up``) or below it (``down``)?

    A mixture of Poisson likelihood ratios ``r**X * exp(-n * limit * (r - 1))`` over the
    alternatives ``limit * r`` (or ``limit / r``). It is an e-value for Poisson counts and,
    because ``1 + x <= exp(x)``, also for binomial ones (an error is at most one per request).
    ``estimate`` is the observed rate divided by ``limit``.

    >>> r = rate_test([RatePoint(1.0, 1000, 25)], limit=0.01)
    >>> r.rejected, r.estimate
    (True, 2.5)
    """
    tracker = _Tracker(alpha)
    if limit < 0:
        raise ValueError(f"a rate limit cannot be negative ({limit})")
    factors = [r if direction == "up" else 1.0 / r for r in mixture.ratios]
    log_w = [math.log(w) for w in mixture.weights]
    terms_of = [(w, math.log(f), f - 1.0) for w, f in zip(log_w, factors, strict=True)]
    # Where the rate so far lies on the null's side of the limit, every alternative's ratio is
    # below 1 (ln f <= f - 1): with a gap of g = |events - expected| each log-ratio is at most
    # -g * |f - 1|, so E < 1, which moves neither its running maximum (at least 1) nor the
    # crossing of 1/alpha. Such points are not weighed; only the last point's E is reported,
    # so the result is exactly the same. The margin covers rounding in the sums.
    nearest = min(abs(f - 1.0) for f in factors)
    scale = max(abs(f - 1.0) for f in factors) + max(abs(x) for _, x, _ in terms_of)
    last = len(points) - 1
    exposures = 0.0
    events = 0
    for i, p in enumerate(points):
        exposures += p.exposures
        events += p.events
        if limit == 0.0:
            # Any event disproves a zero rate; a rate cannot be shown to be below zero.
            tracker.see(math.inf if direction == "up" and events > 0 else 0.0, p.time)
            continue
        expected = exposures * limit
        gap = expected - events if direction == "up" else events - expected
        if gap * nearest > 1e-9 * (1.0 + (events + expected) * scale) and i != last:
            continue
        terms = (w + events * log_f - expected * f_1 for w, log_f, f_1 in terms_of)
        tracker.see(_log_sum_exp(terms), p.time)
    estimate = events / exposures / limit if exposures > 0 and limit > 0 else None
    return tracker.result(estimate)


# --------------------------------------------------------------------------- means (mSPRT)


@dataclass(frozen=True)
class MeanPoint:
    """One interval of the means test: count, sum and sum of squares per arm."""

    time: float
    canary_n: int
    canary_sum: float
    canary_sum_sq: float
    control_n: int = 0
    control_sum: float = 0.0
    control_sum_sq: float = 0.0


def _variance(n: int, total: float, total_sq: float) -> float:
    return max(0.0, (total_sq - total * total / n) / (n - 1))


def _log_norm_cdf(z: float) -> float:
    if z > -30.0:
        return math.log(0.5 * math.erfc(-z / math.sqrt(2.0)))
    # Mills ratio: Phi(z) ~ phi(z) / -z far in the lower tail, where erfc underflows.
    return -0.5 * z * z - math.log(-z) - 0.5 * math.log(2.0 * math.pi)


def mean_test(
    points: Sequence[MeanPoint],
    *,
    factor: float = 1.0,
    offset: float = 0.0,
    direction: Direction = "up",
    tau_ratio: float = 0.1,
    alpha: float = DEFAULT_ALPHA,
) -> SequentialResult:
    """Is the canary's mean above ``factor * control mean + offset`` (``up``) or below it
    (``down``)? With ``factor = 0`` it is a one-sample test against ``offset``.

    On the cumulative data at each interval: ``d`` is the observed excess in the regression
    direction, ``V = var_c/n_c + factor**2 * var_b/n_b`` its variance, and with a half-normal
    prior of scale ``tau`` on the true excess the e-value is
    ``2 * Phi(d*tau / sqrt(V*(V+tau**2))) * sqrt(V/(V+tau**2)) * exp(d**2 tau**2 / (2V(V+tau**2)))``
    (for equal arms of n each this is the notes' ``Lambda_n`` with the one-sided factor).
    ``tau`` is ``tau_ratio`` times the size of the boundary ``|factor * control + offset|``:
    effects of about 10 % are what the prior expects. Each arm needs 2 values first.
    ``estimate`` is canary mean / boundary.
    """
    tracker = _Tracker(alpha)
    n_c = n_b = 0
    sum_c = sq_c = sum_b = sq_b = 0.0
    estimate: float | None = None
    two_sample = factor != 0.0
    for p in points:
        n_c += p.canary_n
        sum_c += p.canary_sum
        sq_c += p.canary_sum_sq
        n_b += p.control_n
        sum_b += p.control_sum
        sq_b += p.control_sum_sq
        if n_c < 2 or (two_sample and n_b < 2):
            continue
        mean_c = sum_c / n_c
        mean_b = sum_b / n_b if two_sample else 0.0
        boundary = factor * mean_b + offset
        variance = _variance(n_c, sum_c, sq_c) / n_c
        if two_sample:
            variance += factor * factor * _variance(n_b, sum_b, sq_b) / n_b
        estimate = mean_c / boundary if boundary != 0 else None
        excess = mean_c - boundary if direction == "up" else boundary - mean_c
        tau = tau_ratio * abs(boundary)
        if tau == 0.0 or variance == 0.0:
            # No spread in the data (or no scale for the prior): too degenerate to weigh.
            tracker.see(0.0, p.time)
            continue
        tau2 = tau * tau
        log_e = (
            math.log(2.0)
            + _log_norm_cdf(excess * tau / math.sqrt(variance * (variance + tau2)))
            + 0.5 * math.log(variance / (variance + tau2))
            + excess * excess * tau2 / (2.0 * variance * (variance + tau2))
        )
        tracker.see(log_e, p.time)
    return tracker.result(estimate)
