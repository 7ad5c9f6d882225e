"""How fast does each canary rule catch a doubled error rate, and how often does it cry wolf?

Simulated Poisson traffic at 100 requests/s, control error rate 1 %, canary share 5 % and 50 %,
one-hour horizon. Side by side:

- **Rollout**: the count test of ``rollout.analysis`` (``error_rate: no regression``), judged
  once per tick on per-tick counts, at three cadences: 1 s (the defaults: an SDK sends a
  window in which a request failed once a second has passed, and the server's controller
  judges each batch as it lands), 5 s (the SDK's plain flush period, early error flush off)
  and 30 s (the default monitoring interval, the cadence of sources that answer in whole
  steps: Prometheus, command). Many runs need a vectorised copy of the
  formula; the copy is checked against the product's own ``judge()`` on a subset of runs (same
  decisions, same tick) before any figure is printed.
- **Flagger-style**: every minute, the canary's error rate over that minute against a
  threshold; roll back after 5 failed checks (Flagger's ``threshold: 5``).
- **Kayenta-style**: every 5 minutes, a one-sided Mann-Whitney test of the canary's per-minute
  error rates against the control's, on all minutes so far.
- **z-test**: every minute, a one-sided two-proportion z-test on all counts so far.
- **Wald's bound**: the fewest error events any test can need on average (alpha 5 %, beta 10 %).

Each peer's threshold is tuned so that 5 % of A/A runs (canary = control) roll back within
the hour, on one set of A/A runs, and its false-rollback rate is then measured on a fresh set.
Rollout is not tuned: its alpha is 5 % by construction. Then the canary's error rate doubles
from t = 0 and each rule's detection rate, time to rollback and error events until the
rollback (canary only, and both arms: the count test sees every error event, so that is what
Wald's bound counts) are measured.

Also: false rollbacks over six hours with the one-hour tuning, Rollout against other
regression sizes, and A/A runs on untidy traffic (a split that ramps while an incident
triples the error rate in both arms; errors arriving in bursts, judged on the raw error counts
and on the counts of failing subjects, when each burst is one subject retrying: the SDK
counts a failing subject once per telemetry window).

Run: ``.venv/bin/python bench/detection.py`` (two to four minutes on 2 cores); ``--quick``
for a smaller run; ``--check`` exits 1 when Rollout misses its goals (A/A <= 5 % everywhere,
<= 1.5x Wald's bound at the default 1 s cadence).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rollout.analysis import (
    ERROR_MIXTURE,
    ArmStats,
    Interval,
    Mixture,
    infer_metric_spec,
    judge,
    wald_bound,
)
from rollout.plan.criteria import NoRegression

RATE = 100.0  # requests per second, both arms together
P_ERROR = 0.01  # control error rate
HORIZON = 3600  # seconds
ALPHA = 0.05
FLAGGER_CHECKS = 5  # failed checks before rollback
KAYENTA_EVERY = 5  # minutes between judgements
BURST_CAP = 3.0  # as in rollout.analysis.sequential.count_test

ShareFn = Callable[[np.ndarray], np.ndarray]  # seconds -> canary share
RateFn = Callable[[np.ndarray], np.ndarray]  # seconds -> control error rate


@dataclass
class Traffic:
    """Counts per time bin of ``resolution`` seconds, shape (runs, bins): requests and
    errors per arm, and (for bursty errors) failing subjects per arm, one per burst and bin:
    what the SDK reports as ``error_subjects`` when a burst is one client retrying."""

    c: np.ndarray
    b: np.ndarray
    xc: np.ndarray
    xb: np.ndarray
    resolution: int = 1
    sc: np.ndarray | None = None
    sb: np.ndarray | None = None

    def ticks(self, seconds: int) -> Traffic:
        """The same traffic in bins of ``seconds`` (a multiple of the resolution)."""
        width = seconds // self.resolution

        def fold(a: np.ndarray) -> np.ndarray:
            runs, n = a.shape
            return a.reshape(runs, n // width, width).sum(axis=2)

        return self._map(fold, seconds)

    def runs(self, count: int) -> Traffic:
        return self._map(lambda a: a[:count], self.resolution)

    def by_subject(self) -> Traffic:
        """The traffic with each arm's failing subjects as its error events (the count test
        on deduplicated counts); the error rates a person reads stay errors / requests."""
        assert self.sc is not None and self.sb is not None, "no subjects simulated"
        return Traffic(self.c, self.b, self.sc, self.sb, self.resolution)

    def _map(self, f: Callable[[np.ndarray], np.ndarray], resolution: int) -> Traffic:
        subjects = (None, None) if self.sc is None or self.sb is None else (f(self.sc), f(self.sb))
        return Traffic(f(self.c), f(self.b), f(self.xc), f(self.xb), resolution, *subjects)


def simulate(
    rng: np.random.Generator,
    runs: int,
    share: float | ShareFn,
    theta: float,
    *,
    error_rate: RateFn | None = None,
    burst: float = 1.0,
    seconds: int = HORIZON,
    resolution: int = 1,
) -> Traffic:
    """Poisson arrivals, counted per bin of ``resolution`` seconds; each request fails
    independently (or, with ``burst`` > 1, failures come in clusters of geometric size with
    that mean, at the same mean rate, each cluster from one subject)."""
    t = np.arange(0, seconds, resolution)
    s = share(t) if callable(share) else np.full(t.size, share)
    p = error_rate(t) if error_rate is not None else np.full(t.size, P_ERROR)
    c = rng.poisson(RATE * resolution * s, (runs, t.size)).astype(np.int64)
    b = rng.poisson(RATE * resolution * (1 - s), (runs, t.size)).astype(np.int64)
    if burst == 1.0:
        xc = rng.binomial(c, np.minimum(1.0, p * theta))
        xb = rng.binomial(b, p)
    else:
        kc = rng.binomial(c, np.minimum(1.0, p * theta / burst))
        kb = rng.binomial(b, p / burst)
        # A sum of k geometric sizes (mean `burst`) is k plus a negative binomial.
        xc = kc + np.where(kc > 0, rng.negative_binomial(np.maximum(kc, 1), 1 / burst), 0)
        xb = kb + np.where(kb > 0, rng.negative_binomial(np.maximum(kb, 1), 1 / burst), 0)
        # A burst is failing requests (a client retrying), so never more errors than requests.
        xc, xb = np.minimum(xc, c), np.minimum(xb, b)
        # One subject per burst (kc <= c, so never more subjects than errors).
        return Traffic(c, b, xc, xb, resolution, kc, kb)
    return Traffic(c, b, xc, xb, resolution)


# --------------------------------------------------------------------------- the rules
# Each rule returns, per run, the second at which it rolls back (end of the deciding tick),
# or -1 when it never does within the horizon.


def rollout_rule(traffic: Traffic, tick: int, mixture: Mixture = ERROR_MIXTURE) -> np.ndarray:
    """The count test of rollout.analysis.sequential.count_test, vectorised over runs (in
    chunks, to keep the arrays in memory small)."""
    t = traffic.ticks(tick)
    chunk = 200
    return np.concatenate([
        _rollout_chunk(t.c[i : i + chunk], t.b[i : i + chunk], t.xc[i : i + chunk],
                       t.xb[i : i + chunk], tick, mixture)
        for i in range(0, t.c.shape[0], chunk)
    ])  # fmt: skip


def _rollout_chunk(
    c: np.ndarray, b: np.ndarray, xc: np.ndarray, xb: np.ndarray, tick: int, mixture: Mixture
) -> np.ndarray:
    n = (xc + xb).astype(float)
    valid = (n > 0) & (c > 0) & (b > 0)
    s = np.where(valid, c / np.maximum(c + b, 1), 0.5)
    paths = []
    for ratio, weight in zip(mixture.ratios, mixture.weights, strict=True):
        q = ratio * s / (ratio * s + 1 - s)
        # The per-interval burst cap, as in the product: at most BURST_CAP standard deviations
        # above what this alternative predicts, and never below one event.
        x_c = np.minimum(xc, np.maximum(1.0, n * q + BURST_CAP * np.sqrt(n * q * (1 - q))))
        step = x_c * np.log(q / s) + (n - x_c) * np.log((1 - q) / (1 - s))
        paths.append((math.log(weight), np.cumsum(np.where(valid, step, 0.0), axis=1)))
    log_e = _mix(paths, 1.0)
    phi, bursty = _dispersion(c, b, xc, xb)
    used = np.where(bursty, np.minimum(log_e, _mix(paths, np.maximum(phi, 1.0))), log_e)
    # The product only re-weighs the evidence at intervals that carry events.
    return _first(valid & (used >= math.log(1 / ALPHA)), tick)


def _mix(paths: list[tuple[float, np.ndarray]], phi: np.ndarray | float) -> np.ndarray:
    out = None
    for log_w, path in paths:
        term = log_w + path / phi
        out = term if out is None else np.logaddexp(out, term)
    assert out is not None
    return out


def _dispersion(
    c: np.ndarray, b: np.ndarray, xc: np.ndarray, xb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The product's dispersion check: Pearson X^2 per pair of consecutive ticks within each
    arm, and whether it is significant at 0.1 % (Wilson-Hilferty), as of each tick."""
    runs, ticks = c.shape
    x2 = np.zeros((runs, ticks))
    df = np.zeros((runs, ticks))
    for x, e in ((xc, c), (xb, b)):
        x1, x_2 = x[:, 0 : ticks - 1 : 2], x[:, 1:ticks:2]
        e1, e2 = e[:, 0 : ticks - 1 : 2], e[:, 1:ticks:2]
        total = x1 + x_2
        share = e2 / np.maximum(e1 + e2, 1)
        ok = (total > 0) & (e1 > 0) & (e2 > 0)
        term = (x_2 - total * share) ** 2 / np.maximum(total * share * (1 - share), 1e-300)
        x2[:, 1:ticks:2] += np.where(ok, term, 0.0)
        df[:, 1:ticks:2] += ok
    x2, df = np.cumsum(x2, axis=1), np.cumsum(df, axis=1)
    phi = np.where(df > 0, x2 / np.maximum(df, 1), 1.0)
    spread = 2.0 / (9.0 * np.maximum(df, 1))
    z = (np.cbrt(phi) - (1.0 - spread)) / np.sqrt(spread)
    return phi, (df >= 2) & (z > 3.09)


def minutes(traffic: Traffic) -> Traffic:
    return traffic.ticks(60)


def flagger_stat(m: Traffic) -> np.ndarray:
    """Per run: the canary's 5th-highest one-minute error rate (it fails iff above the
    threshold)."""
    rates = m.xc / np.maximum(m.c, 1)
    return -np.sort(-rates, axis=1)[:, FLAGGER_CHECKS - 1]


def flagger_rule(m: Traffic, threshold: float) -> np.ndarray:
    failed = np.cumsum(m.xc / np.maximum(m.c, 1) > threshold, axis=1)
    return _first(failed >= FLAGGER_CHECKS, 60)


def z_scores(m: Traffic) -> np.ndarray:
    cc, cb = np.cumsum(m.c, 1), np.cumsum(m.b, 1)
    ec, eb = np.cumsum(m.xc, 1), np.cumsum(m.xb, 1)
    pooled = (ec + eb) / np.maximum(cc + cb, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(cc, 1) + 1 / np.maximum(cb, 1)))
    diff = ec / np.maximum(cc, 1) - eb / np.maximum(cb, 1)
    return np.where(se > 0, diff / np.where(se > 0, se, 1), 0.0)


def z_rule(m: Traffic, threshold: float) -> np.ndarray:
    return _first(z_scores(m) > threshold, 60)


def kayenta_pvalues(m: Traffic) -> np.ndarray:
    """One-sided Mann-Whitney p-values at every judgement (minutes 5, 10, ...)."""
    canary = m.xc / np.maximum(m.c, 1)
    control = m.xb / np.maximum(m.b, 1)
    looks = range(KAYENTA_EVERY, canary.shape[1] + 1, KAYENTA_EVERY)
    cols = [
        stats.mannwhitneyu(
            canary[:, :k], control[:, :k], alternative="greater", axis=1, method="asymptotic"
        ).pvalue
        for k in looks
    ]
    return np.nan_to_num(np.stack(cols, axis=1), nan=1.0)


def kayenta_rule(m: Traffic, threshold: float) -> np.ndarray:
    return _first(kayenta_pvalues(m) < threshold, 60 * KAYENTA_EVERY)


def _first(hit: np.ndarray, step: int) -> np.ndarray:
    """Second at the end of the first hitting step per run, -1 if none."""
    any_hit = hit.any(axis=1)
    return np.where(any_hit, (hit.argmax(axis=1) + 1) * step, -1)


# --------------------------------------------------------------------------- tuning


def tune_upper(stat: np.ndarray) -> float:
    """Smallest threshold t with P(stat > t) <= ALPHA on the tuning runs."""
    ordered = np.sort(stat)
    return float(ordered[math.ceil((1 - ALPHA) * len(ordered)) - 1])


def tune_lower(stat: np.ndarray) -> float:
    """Largest threshold t with P(stat < t) <= ALPHA on the tuning runs."""
    ordered = np.sort(stat)
    return float(ordered[math.floor(ALPHA * len(ordered))])


# --------------------------------------------------------------------------- the check


def check_against_product(
    traffic: Traffic, tick: int, runs: int, *, by_subject: bool = False
) -> tuple[int, int]:
    """Judge the first ``runs`` runs with the product's judge() and compare the second at
    which each first shows the regression with the vectorised rule (on failing subjects
    when ``by_subject``: the product is given them as ``error_subjects``). Returns (agree,
    total)."""
    sample = traffic.runs(runs)
    fast = rollout_rule(sample.by_subject() if by_subject else sample, tick)
    t = sample.ticks(tick)

    def subjects(counts: np.ndarray | None, r: int, i: int) -> int | None:
        return int(counts[r, i]) if by_subject and counts is not None else None

    spec = infer_metric_spec("error_rate")
    assert spec is not None
    criterion = NoRegression("error_rate", 0.0, "auto")
    agree = 0
    for r in range(runs):
        intervals = [
            Interval(
                i * tick,
                (i + 1) * tick,
                ArmStats(int(t.c[r, i]), int(t.xc[r, i]), error_subjects=subjects(t.sc, r, i)),
                ArmStats(int(t.b[r, i]), int(t.xb[r, i]), error_subjects=subjects(t.sb, r, i)),
            )
            for i in range(t.c.shape[1])
        ]
        result = judge(criterion, spec, intervals, role="rollback")
        shown = result.numbers.get("shown_at", -1)
        agree += int(shown == fast[r])
    return agree, runs


# --------------------------------------------------------------------------- reporting


@dataclass
class Outcome:
    false_rollback: float
    detection: float
    seconds: float
    canary_events: float
    total_events: float
    total_se: float  # standard error of total_events


def events_until(traffic: Traffic, when: np.ndarray) -> tuple[float, float, float]:
    """Mean canary and total error events up to each detected run's rollback second, and the
    standard error of the total."""
    hit = when > 0
    if not hit.any():
        return math.nan, math.nan, math.nan
    ec = np.cumsum(traffic.xc[hit], axis=1)
    eb = np.cumsum(traffic.xb[hit], axis=1)
    idx = when[hit] // traffic.resolution - 1
    rows = np.arange(idx.size)
    canary = ec[rows, idx]
    total = canary + eb[rows, idx]
    return float(canary.mean()), float(total.mean()), float(total.std() / math.sqrt(total.size))


def outcome(aa: np.ndarray, bad: np.ndarray, traffic: Traffic) -> Outcome:
    hit = bad > 0
    canary, total, se = events_until(traffic, bad)
    return Outcome(
        false_rollback=float((aa > 0).mean()),
        detection=float(hit.mean()),
        seconds=float(bad[hit].mean()) if hit.any() else math.nan,
        canary_events=canary,
        total_events=total,
        total_se=se,
    )


def upper95(rate: float, n: int) -> float:
    """Clopper-Pearson 95 % upper bound on a rate seen in ``n`` runs."""
    k = round(rate * n)
    return 1.0 if k >= n else float(stats.beta.ppf(0.975, k + 1, n - k))


def above_alpha(rate: float, n: int) -> bool:
    """Is a false-rollback rate seen in ``n`` runs clearly above ALPHA (its Clopper-Pearson
    95 % lower bound is)? A point estimate a little above 5 % is sampling noise."""
    k = round(rate * n)
    return k > 0 and float(stats.beta.ppf(0.025, k, n - k + 1)) > ALPHA


def print_table(share: float, rows: list[tuple[str, Outcome]], aa_runs: int) -> None:
    bound = wald_bound(share)
    print(f"\ncanary share {share:.0%}  (Wald's bound for a doubling: {bound:.0f} error events)")
    head = (
        f"{'rule':34} {'A/A false rollback':>19} {'detected':>9} {'time to rollback':>17} "
        f"{'canary errors':>14} {'all errors':>11} {'x Wald':>13}"
    )
    print(head)
    print("-" * len(head))
    for name, o in rows:
        aa = f"{o.false_rollback:.1%} (<{upper95(o.false_rollback, aa_runs):.1%})"
        print(
            f"{name:34} {aa:>19} {o.detection:>9.1%} {o.seconds:>16.0f}s "
            f"{o.canary_events:>14.0f} {o.total_events:>11.0f} "
            f"{o.total_events / bound:>7.2f} ±{o.total_se / bound:.2f}"
        )
    print(f"{'Wald SPRT lower bound':34} {'5.0%':>19} {'90.0%':>9} {'':>17} {'':>14} "
          f"{bound:>11.0f} {1.0:>7.2f}")  # fmt: skip
    print("(± is one standard error of the mean over the runs.)")


Thresholds = dict[float, tuple[float, float, float]]  # share -> Flagger, Kayenta, z
# Judging cadences, in seconds. Rollout judges a rollback trigger whenever a telemetry batch
# lands (the server wakes its controller), and by default an SDK sends a window in which a
# request failed once a second has passed since its last one (error_flush_interval=1), so
# error events are judged about a second after they happen: DEFAULT_TICK. 5 s is the SDK's
# plain flush period (error_flush_interval=None); 30 s the default monitoring interval, the
# cadence of sources that answer in whole steps (Prometheus, command).
DEFAULT_TICK = 1
TICKS = (DEFAULT_TICK, 5, 30)
ROLLOUT_COLUMN = f"Rollout {DEFAULT_TICK} s"
TICK_LABELS = {
    DEFAULT_TICK: f"{DEFAULT_TICK} s (defaults)",
    5: "5 s (no early flush)",
    30: "30 s (whole steps)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs per scenario")
    parser.add_argument("--verify", type=int, default=25,
                        help="runs per scenario replayed through judge()")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="500 runs, 10 replayed")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when Rollout misses its goals")  # fmt: skip
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    runs, verify = (500, 10) if args.quick else (args.runs, args.verify)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(
        f"Poisson traffic at {RATE:.0f} requests/s, control error rate {P_ERROR:.0%}, "
        f"{HORIZON // 60} minutes; {runs:,} runs per scenario; seed {args.seed}."
    )
    thresholds: Thresholds = {}
    missed: list[str] = []
    for share in (0.05, 0.5):
        rows, thresholds[share] = compare(rng, runs, share, verify)
        print_table(share, rows, runs)
        print("(Rollout's A/A is over both A/A sets, 2 x runs; each peer's over the fresh set.)")
        missed += goals(share, rows, runs)
    long_horizon(rng, max(200, runs // 4), thresholds, missed)
    power_curve(rng, max(200, runs // 4))
    untidy(rng, max(400, runs // 2), thresholds)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if missed:
        print("Goals missed:\n  " + "\n  ".join(missed))
    else:
        print("Goals met: A/A not above 5 % anywhere; <= 1.5x Wald's bound at 1 s ticks.")
    if args.check and missed:
        raise SystemExit(1)


def compare(
    rng: np.random.Generator, runs: int, share: float, verify: int
) -> tuple[list[tuple[str, Outcome]], tuple[float, float, float]]:
    """All rules at one canary share: tune the peers, check the vectorised rule against the
    product, then measure false rollbacks and detection."""
    tune = simulate(rng, runs, share, 1.0)
    tune_m = minutes(tune)
    flagger_t = tune_upper(flagger_stat(tune_m))
    z_t = tune_upper(z_scores(tune_m).max(axis=1))
    kayenta_t = tune_lower(kayenta_pvalues(tune_m).min(axis=1))
    rollout_tune_aa = {tick: rollout_rule(tune, tick) for tick in TICKS}
    del tune, tune_m

    aa = simulate(rng, runs, share, 1.0)
    bad = simulate(rng, runs, share, 2.0)
    agree = sum(check_against_product(t, DEFAULT_TICK, verify)[0] for t in (aa, bad))
    if agree != 2 * verify:
        raise SystemExit(f"the vectorised rule disagrees with judge() ({agree}/{2 * verify})")
    print(f"\n[verified] the vectorised Rollout rule and the product's judge() give the same "
          f"rollback time on all {2 * verify} replayed runs ({DEFAULT_TICK} s ticks)")  # fmt: skip
    aa_m, bad_m = minutes(aa), minutes(bad)
    rows: list[tuple[str, Outcome]] = []
    for tick in TICKS:
        o = outcome(rollout_rule(aa, tick), rollout_rule(bad, tick), bad)
        both = np.concatenate([rollout_tune_aa[tick], rollout_rule(aa, tick)])  # untuned
        o.false_rollback = float((both > 0).mean())
        rows.append((f"Rollout, {TICK_LABELS[tick]}", o))
    rows.append((
        f"Flagger-style, >{flagger_t:.2%} x{FLAGGER_CHECKS}",
        outcome(flagger_rule(aa_m, flagger_t), flagger_rule(bad_m, flagger_t), bad),
    ))  # fmt: skip
    rows.append((
        f"Kayenta-style MW, p<{kayenta_t:.4f}",
        outcome(kayenta_rule(aa_m, kayenta_t), kayenta_rule(bad_m, kayenta_t), bad),
    ))  # fmt: skip
    rows.append((
        f"z-test every minute, z>{z_t:.2f}",
        outcome(z_rule(aa_m, z_t), z_rule(bad_m, z_t), bad),
    ))  # fmt: skip
    return rows, (flagger_t, kayenta_t, z_t)


def goals(share: float, rows: list[tuple[str, Outcome]], runs: int) -> list[str]:
    missed = []
    for name, o in rows:
        if name.startswith("Rollout") and above_alpha(o.false_rollback, 2 * runs):
            missed.append(f"{name} at {share:.0%}: A/A {o.false_rollback:.1%} > 5%")
    fine = dict(rows)[f"Rollout, {TICK_LABELS[DEFAULT_TICK]}"]
    if fine.total_events > 1.5 * wald_bound(share):
        missed.append(
            f"1 s ticks at {share:.0%}: {fine.total_events / wald_bound(share):.2f}x Wald"
        )
    return missed


def long_horizon(
    rng: np.random.Generator, runs: int, thresholds: Thresholds, missed: list[str]
) -> None:
    """A/A over six hours with everything as tuned for one: only Rollout's alpha holds."""
    hours = 6
    print(f"\nA/A false rollbacks over {hours} hours (thresholds as tuned for 1 hour), "
          f"{runs:,} runs each:")  # fmt: skip
    print(f"{'share':>6} {ROLLOUT_COLUMN:>13} {'Flagger':>8} {'Kayenta':>8} {'z-test':>7}")
    chunk = 100  # six hours of one-second bins: simulate a hundred runs at a time
    for share in (0.05, 0.5):
        flagger_t, kayenta_t, z_t = thresholds[share]
        fired = np.zeros(4)
        for done in range(0, runs, chunk):
            aa = simulate(rng, min(chunk, runs - done), share, 1.0, seconds=hours * HORIZON,
                          resolution=DEFAULT_TICK)  # fmt: skip
            m = minutes(aa)
            fired += [
                (rollout_rule(aa, DEFAULT_TICK) > 0).sum(),
                (flagger_rule(m, flagger_t) > 0).sum(),
                (kayenta_rule(m, kayenta_t) > 0).sum(),
                (z_rule(m, z_t) > 0).sum(),
            ]
            del aa, m
        rates = [float(f / runs) for f in fired]
        print(f"{share:>6.0%} " + " ".join(f"{r:>{w}.1%}" for r, w in
                                           zip(rates, (13, 8, 8, 7), strict=True)))  # fmt: skip
        if above_alpha(rates[0], runs):
            missed.append(f"Rollout over {hours} h at {share:.0%}: A/A {rates[0]:.1%} > 5%")


def power_curve(rng: np.random.Generator, runs: int) -> None:
    """Rollout at the default cadence against other regressions: the mixture is not tuned to
    one."""
    print(f"\nRollout ({DEFAULT_TICK} s ticks) against other regressions, {runs:,} runs each:")
    print(f"{'share':>6} {'theta':>6} {'detected':>9} {'time':>7} {'all errors':>11} {'x Wald':>7}")
    for share in (0.05, 0.5):
        for theta in (1.25, 1.5, 3.0, 5.0):
            bad = simulate(rng, runs, share, theta)
            o = outcome(np.array([-1]), rollout_rule(bad, DEFAULT_TICK), bad)
            times_wald = o.total_events / wald_bound(share, theta)
            print(f"{share:>6.0%} {theta:>6} {o.detection:>9.1%} {o.seconds:>6.0f}s "
                  f"{o.total_events:>11.0f} {times_wald:>7.2f}")  # fmt: skip


def untidy(rng: np.random.Generator, runs: int, thresholds: Thresholds) -> None:
    """A/A runs on traffic that is not tidy Poisson; peers keep their tuned thresholds (for
    the ramp, those of its starting 5 % share)."""

    def ramp(t: np.ndarray) -> np.ndarray:
        return np.select([t < 1200, t < 2400], [0.05, 0.2], 0.5)

    def incident(t: np.ndarray) -> np.ndarray:
        return np.where((t >= 1500) & (t < 2100), 3 * P_ERROR, P_ERROR)

    ramped = simulate(rng, runs, ramp, 1.0, error_rate=incident)
    bursts = {share: simulate(rng, runs, share, 1.0, burst=3.0) for share in (0.05, 0.5)}
    # name -> (share, traffic, judged on failing subjects rather than errors)
    scenarios = {
        "split 5->20->50 %, errors x3 for 10 min": (0.05, ramped, False),
        "errors in bursts (mean size 3), 5 %": (0.05, bursts[0.05], False),
        "errors in bursts (mean size 3), 50 %": (0.5, bursts[0.5], False),
        "errors in bursts (mean size 3), one subject per burst, 5 %": (0.05, bursts[0.05], True),
        "errors in bursts (mean size 3), one subject per burst, 50 %": (0.5, bursts[0.5], True),
    }
    print(
        f"\nA/A false rollbacks on untidy traffic, {runs:,} runs each (peers keep their tuned "
        "thresholds; Rollout's rule replayed through judge() on 10 runs each; \"one subject "
        'per burst": the same bursts, every rule judged on the failing subjects the SDK '
        "reports, one per burst):"
    )
    width = max(map(len, scenarios))
    print(f"{'scenario':{width}} {ROLLOUT_COLUMN:>13} {'Flagger':>8} {'Kayenta':>8} {'z-test':>7}")
    for name, (share, raw, by_subject) in scenarios.items():
        agree, total = check_against_product(raw, DEFAULT_TICK, 10, by_subject=by_subject)
        if agree != total:
            raise SystemExit(f"the vectorised rule disagrees with judge() on {name!r}")
        traffic = raw.by_subject() if by_subject else raw
        flagger_t, kayenta_t, z_t = thresholds[share]
        m = minutes(traffic)
        rates = [
            (rollout_rule(traffic, DEFAULT_TICK) > 0).mean(),
            (flagger_rule(m, flagger_t) > 0).mean(),
            (kayenta_rule(m, kayenta_t) > 0).mean(),
            (z_rule(m, z_t) > 0).mean(),
        ]
        print(
            f"{name:{width}} "
            + " ".join(f"{r:>{w}.1%}" for r, w in zip(rates, (13, 8, 8, 7), strict=True))
        )


if __name__ == "__main__":
    main()
