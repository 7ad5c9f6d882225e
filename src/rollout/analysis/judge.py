"""Judge criteria on a stage's measurements: PASS, FAIL, INCONCLUSIVE or ERROR, with a reason.

Semantics, per criterion form (``final`` says the stage's duration is over):

- **Threshold** (``error_rate < 1%``, ``latency_p99 < 300ms``): the canary's figure over the
  whole window (all intervals pooled) against the value.
- **Relative to control** (``latency_p99 <= control * 1.10``): the canary's figure against
  ``control * factor + offset``, both over the window.
- **No regression / no drop / no increase** (``error_rate: no regression > 5%``): the
  anytime-valid sequential test of :mod:`rollout.analysis.sequential`.

Every criterion has a bad side (failing it, for a ``success`` criterion; firing it, for a
``rollback`` trigger), and FAIL needs *evidence* that the canary is on it: an anytime-valid
test reaching ``1/alpha`` (a total count, which is exact, needs none). So a rollback never
rests on noise and checking every tick does not inflate false rollbacks. Without that
evidence:

- a success criterion is INCONCLUSIVE until ``final``; then its point figure decides (PASS or
  FAIL) for thresholds and relative limits, and "no regression shown" is a PASS;
- a rollback trigger is PASS while the canary is on the good side, INCONCLUSIVE (the stage
  holds) while it looks past the trigger without evidence yet.

No PASS without data: each arm compared needs ``min_requests`` requests (measurements, for a
mean), a conversion needs ``min_events`` conversions per arm, and a latency comparison needs
enough earlier control requests to know its percentile (1,000 for p99). Before that the verdict
is INCONCLUSIVE with a reason like ``no data yet: 0 canary requests in the window (need 200)``.

``CriterionResult.numbers`` keys (present when defined): ``canary_requests``,
``control_requests`` (traffic behind each figure), ``canary_value``, ``control_value``,
``limit``, ``ratio`` (canary / control), ``canary_events``, ``control_events``, ``e_value``,
``p_value``, ``alpha``, ``shown_at`` (the interval end at which the evidence first reached
``1/alpha``), ``dispersion`` (spread of the counts against independent events, about 1
when they are independent), ``canary_slow_share``, ``control_slow_share``,
``slow_threshold_ms``, ``canary_error_subjects``, ``control_error_subjects`` (the failing
subjects an error comparison counted instead of ``canary_events`` / ``control_events``).

Several criteria in one stage each keep their own ``alpha``: the stage's false-rollback rate is
at most the sum over its sequential criteria.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rollout.analysis import _reasons as say
from rollout.analysis import figures as fmt
from rollout.analysis import measures as m
from rollout.analysis._evidence import Evidence, one_sample, two_sample
from rollout.analysis.observation import ArmStats, Interval, MetricSeries, MetricSpec
from rollout.analysis.sequential import DEFAULT_ALPHA, reference_size
from rollout.analysis.verdict import (
    CriterionResult,
    Role,
    SeriesPoint,
    StageVerdict,
    Verdict,
    combine,
)
from rollout.plan.criteria import Comparison, Criterion, NoRegression, RelativeToControl, Threshold

__all__ = [
    "DEFAULT_MIN_EVENTS",
    "DEFAULT_MIN_REQUESTS",
    "Role",
    "judge",
    "judge_against_baseline",
    "judge_stage",
]

DEFAULT_MIN_REQUESTS = 200
DEFAULT_MIN_EVENTS = 5
TAU_RATIO = 0.1  # the means test's prior expects effects of about 10 % of the compared value


@dataclass(frozen=True)
class _Case:
    """One criterion being judged, with everything the functions below need."""

    text: str
    spec: MetricSpec
    intervals: Sequence[Interval]
    role: Role
    final: bool
    alpha: float
    min_requests: int
    min_events: int

    def result(
        self,
        verdict: Verdict,
        reason: str,
        numbers: dict[str, float | None],
        series: tuple[SeriesPoint, ...] = (),
    ) -> CriterionResult:
        clean = {k: float(v) for k, v in numbers.items() if v is not None}
        return CriterionResult(self.text, verdict, reason, clean, series)


def judge(
    criterion: Criterion,
    spec: MetricSpec,
    intervals: Sequence[Interval],
    *,
    role: Role,
    final: bool = False,
    alpha: float = DEFAULT_ALPHA,
    min_requests: int = DEFAULT_MIN_REQUESTS,
    min_events: int = DEFAULT_MIN_EVENTS,
) -> CriterionResult:
    """The verdict on ``criterion`` over ``intervals`` (the stage window, oldest first).

    >>> from rollout.plan.criteria import parse_criterion
    >>> from rollout.analysis.observation import infer_metric_spec
    >>> spec = infer_metric_spec("error_rate")
    >>> data = [Interval(0, 60, ArmStats(4180, 88), ArmStats(41800, 418))]
    >>> r = judge(parse_criterion("error_rate: no regression"), spec, data, role="success")
    >>> r.verdict.value, r.reason
    ('fail', 'canary errors 2.1% vs control 1.0% (2.1x) over 4,180 canary requests; a gap \
this big by chance is less likely than 1 in 1,000,000')
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    case = _Case(str(criterion), spec, intervals, role, final, alpha, min_requests, min_events)
    problem = _problem(criterion, spec, intervals)
    if problem is not None:
        return case.result(Verdict.ERROR, problem, {})
    if isinstance(criterion, Threshold):
        return _threshold(case, criterion)
    if isinstance(criterion, RelativeToControl):
        return _relative(case, criterion.op, criterion.factor, criterion.offset)
    return _no_regression(case, criterion)


def judge_stage(
    success: Sequence[Criterion],
    rollback: Sequence[Criterion],
    data: Mapping[str, MetricSeries],
    *,
    final: bool,
    alpha: float = DEFAULT_ALPHA,
    min_requests: int = DEFAULT_MIN_REQUESTS,
    min_events: int = DEFAULT_MIN_EVENTS,
) -> StageVerdict:
    """Judge a stage's success criteria and rollback triggers on ``data`` (by metric name)
    and combine them (see :func:`rollout.analysis.verdict.combine`). A metric missing from
    ``data`` makes its criteria INCONCLUSIVE: no data is never a pass."""
    results = []
    groups: tuple[tuple[Role, Sequence[Criterion]], ...] = (
        ("success", success),
        ("rollback", rollback),
    )
    for role, criteria in groups:
        for criterion in criteria:
            series = data.get(criterion.metric)
            if series is None:
                results.append(
                    CriterionResult(
                        str(criterion),
                        Verdict.INCONCLUSIVE,
                        f"no data yet: {criterion.metric} has no measurements in the window",
                    )
                )
                continue
            results.append(
                judge(
                    criterion,
                    series.spec,
                    series.intervals,
                    role=role,
                    final=final,
                    alpha=alpha,
                    min_requests=min_requests,
                    min_events=min_events,
                )
            )
    return combine(results, final=final)


def judge_against_baseline(
    spec: MetricSpec,
    window: ArmStats,
    baseline: float,
    tolerance: float,
    *,
    end: float = 0.0,
    final: bool = True,
    alpha: float = DEFAULT_ALPHA,
    min_requests: int = DEFAULT_MIN_REQUESTS,
    min_events: int = DEFAULT_MIN_EVENTS,
) -> CriterionResult:
    """Post-deployment checks ("no error rate spike", "performance within baseline"): the new
    version's ``window`` against ``baseline`` (criterion units) allowing a relative
    ``tolerance`` (0.5 = 50 % worse) in the metric's bad direction. It is the threshold
    ``metric <= baseline * (1 + tolerance)`` (``>= baseline * (1 - tolerance)`` when higher is
    better), judged like a success criterion; the reason names the baseline.

    >>> from rollout.analysis.observation import infer_metric_spec
    >>> r = judge_against_baseline(infer_metric_spec("error_rate"), ArmStats(5000, 20), 0.004, 0.5)
    >>> r.verdict.value, r.reason
    ('pass', 'error rate 0.40% is within the limit of 0.6% (baseline 0.4% + 50%) over 5,000 \
canary requests')
    """
    if tolerance < 0:
        raise ValueError(f"a tolerance cannot be negative ({tolerance})")
    if spec.higher_is_better:
        criterion = Threshold(spec.name, ">=", baseline * (1.0 - tolerance), spec.unit)
        sign = "-"
    else:
        criterion = Threshold(spec.name, "<=", baseline * (1.0 + tolerance), spec.unit)
        sign = "+"
    allowance = (
        f"baseline {m.show_limit(spec, baseline, per_request=False)} "
        f"{sign} {fmt.limit_percent(tolerance)}"
    )
    note = f" ({allowance})"
    text = f"{spec.name} {criterion.op} {allowance}"
    intervals = (Interval(end, end, window, ArmStats()),)
    case = _Case(text, spec, intervals, "success", final, alpha, min_requests, min_events)
    problem = _problem(criterion, spec, intervals)
    if problem is not None:
        return case.result(Verdict.ERROR, problem, {})
    return _threshold(case, criterion, limit_note=note)


# --------------------------------------------------------------------------- the three forms


def _threshold(case: _Case, c: Threshold, *, limit_note: str = "") -> CriterionResult:
    spec = case.spec
    total = spec.kind == "count"  # a count threshold is on the total, not a rate
    window = m.measure(spec, case.intervals, per_request=not total, with_control=not total)
    canary = window.canary
    n = m.exposures(spec, canary)
    v = m.value(spec, canary, per_request=not total)
    bad_up = (c.op in ("<", "<=")) == (case.role == "success")
    evidence = None
    if not total:
        evidence = one_sample(spec, case.intervals, limit=c.value,
                              direction="up" if bad_up else "down", alpha=case.alpha,
                              tau_ratio=TAU_RATIO)  # fmt: skip
    chart = m.series(window, factor=None, offset=c.value)
    numbers: dict[str, float | None] = {"canary_requests": n, "canary_value": v, "limit": c.value}
    if total:
        numbers["canary_events"] = canary.events
    numbers.update(_test_numbers(evidence))
    bad_now = v is not None and say.on_bad_side(v, c.op, c.value, case.role)
    words = say.position(case.role, c.op, bad_now, v == c.value)
    said = (
        f"{m.label(spec)} {m.show(spec, v, per_request=not total)} {say.with_verb(words)} "
        f"{m.show_limit(spec, c.value, per_request=not total)}{limit_note} "
        f"over {fmt.count(n)} canary {m.noun(spec)}"
    )

    def done(verdict: Verdict, reason: str) -> CriterionResult:
        return case.result(verdict, reason, numbers, chart)

    if evidence is not None and evidence.result.rejected:
        return done(Verdict.FAIL, f"{said}; {say.beyond_chance(spec, evidence)}")
    if total and bad_now and bad_up:
        return done(Verdict.FAIL, said)  # counts only grow: once past, for good
    return done(*_without_evidence(case, window, evidence, bad_now, said, both=False))


def _relative(case: _Case, op: Comparison, factor: float, offset: float) -> CriterionResult:
    spec = case.spec
    window = m.measure(spec, case.intervals)
    canary, control = window.canary, window.control
    c_v, b_v = m.value(spec, canary), m.value(spec, control)
    limit = factor * b_v + offset if b_v is not None else None
    bad_up = (op in ("<", "<=")) == (case.role == "success")
    evidence = two_sample(spec, case.intervals, factor=factor, offset=offset,
                          direction="up" if bad_up else "down", alpha=case.alpha,
                          tau_ratio=TAU_RATIO)  # fmt: skip
    chart = m.series(window, factor=factor, offset=offset)
    numbers = _compare_numbers(spec, canary, control, c_v, b_v, limit, evidence)
    bad_now = c_v is not None and limit is not None and say.on_bad_side(c_v, op, limit, case.role)
    words = say.position(case.role, op, bad_now, c_v == limit)
    target = say.relative_target(spec, factor, offset, limit)
    head = say.head(spec, canary, c_v, b_v, allowed="")
    if evidence is not None:
        head += say.subject_words(evidence, canary, control)
    said = f"{head}; {words} {target}"

    def done(verdict: Verdict, reason: str) -> CriterionResult:
        return case.result(verdict, reason, numbers, chart)

    if evidence is not None and evidence.result.rejected:
        if bad_now:
            return done(Verdict.FAIL, f"{said}, and {say.beyond_chance(spec, evidence)}")
        when = say.when(evidence.result.crossed_at)
        return done(
            Verdict.FAIL,
            f"{said} now, but it went past {target} at {when}, beyond chance "
            f"(less likely than {fmt.one_in(evidence.result.e_max)})",
        )
    return done(*_without_evidence(case, window, evidence, bad_now, said, both=True))


def _no_regression(case: _Case, c: NoRegression) -> CriterionResult:
    spec = case.spec
    worse_up = c.direction == "up" or (c.direction == "auto" and not spec.higher_is_better)
    factor = 1.0 + c.tolerance if worse_up else 1.0 - c.tolerance
    window = m.measure(spec, case.intervals)
    canary, control = window.canary, window.control
    c_v, b_v = m.value(spec, canary), m.value(spec, control)
    evidence = two_sample(spec, case.intervals, factor=factor, offset=0.0,
                          direction="up" if worse_up else "down", alpha=case.alpha,
                          tau_ratio=TAU_RATIO)  # fmt: skip
    assert evidence is not None  # a latency drop was refused in _problem
    chart = m.series(window, factor=factor, offset=0.0)
    limit = factor * b_v if b_v is not None else None
    numbers = _compare_numbers(spec, canary, control, c_v, b_v, limit, evidence)
    allowed = ""
    if c.tolerance:
        allowed = f"{'up' if worse_up else 'down'} to {fmt.ratio(factor)} allowed"
    said = (
        say.head(spec, canary, c_v, b_v, allowed=allowed)
        + say.slow_words(spec, evidence.slow)
        + say.subject_words(evidence, canary, control)
    )

    def done(verdict: Verdict, reason: str) -> CriterionResult:
        return case.result(verdict, reason, numbers, chart)

    if evidence.result.rejected:
        return done(Verdict.FAIL, f"{said}; {say.beyond_chance(spec, evidence)}")
    short = _shortfall(case, window, both=True) or _event_shortfall(case, window, both=True)
    if short is not None:
        return done(Verdict.INCONCLUSIVE, short)
    if case.role == "rollback":
        return done(Verdict.PASS, f"{said}; no regression shown so far")
    if case.final:
        return done(Verdict.PASS, f"{said}; no regression shown by the end of the stage")
    progress = (
        say.not_yet(evidence) if evidence.result.e_value >= 2 else "no sign of a regression so far"
    )
    return done(Verdict.INCONCLUSIVE, f"{said}; {progress}; judged when the stage ends")


def _without_evidence(
    case: _Case,
    window: m.Window,
    evidence: Evidence | None,
    bad_now: bool,
    said: str,
    *,
    both: bool,
) -> tuple[Verdict, str]:
    """A threshold's or relative limit's verdict when no test has shown the bad side: too
    little data holds; a success criterion waits for the end of the stage and then goes by
    the window's figure; a rollback trigger holds while the figure looks past it (and fires
    on the figure alone only where no test applies)."""
    short = _shortfall(case, window, both=both)
    if short is not None:
        return Verdict.INCONCLUSIVE, short
    if case.role == "success":
        if not case.final:
            return Verdict.INCONCLUSIVE, f"{said} so far; judged when the stage ends"
        if bad_now:
            return Verdict.FAIL, said
    elif bad_now:
        if evidence is None:
            return Verdict.FAIL, said
        return Verdict.INCONCLUSIVE, f"{said}, but {say.not_yet(evidence)}; watching"
    short = _event_shortfall(case, window, both=both)
    return (Verdict.PASS, said) if short is None else (Verdict.INCONCLUSIVE, short)


# --------------------------------------------------------------------------- data checks


def _shortfall(case: _Case, window: m.Window, *, both: bool) -> str | None:
    """Why there is too little traffic to judge yet, or None."""
    spec = case.spec
    arms = (("canary", window.canary), ("control", window.control))
    for arm, total in arms if both else arms[:1]:
        n = m.exposures(spec, total)
        if n < case.min_requests:
            lead = "no data yet" if n == 0 else "not enough data yet"
            need = fmt.count(case.min_requests)
            return f"{lead}: {fmt.count(n)} {arm} {m.noun(spec)} in the window (need {need})"
    if both and spec.kind == "latency":
        reference = reference_size(spec.quantile)
        # The control's requests before the last interval (its percentile is set from those).
        last = case.intervals[-1].control.latency_count if case.intervals else 0
        n = window.control.latency_count - last
        if n < reference:
            return (
                f"not enough data yet: {fmt.count(n)} earlier control requests in the window "
                f"(need {fmt.count(reference)} to know the control's p{spec.percentile:g})"
            )
    return None


def _event_shortfall(case: _Case, window: m.Window, *, both: bool) -> str | None:
    """Conversions are the data of a conversion metric: too few of them is no data."""
    if case.spec.kind != "conversion":
        return None
    arms = (("canary", window.canary), ("control", window.control))
    for arm, total in arms if both else arms[:1]:
        k = total.conversions
        if k < case.min_events:
            return (
                f"not enough data yet: {fmt.count(k)} {arm} conversions in the window "
                f"(need {case.min_events})"
            )
    return None


def _test_numbers(evidence: Evidence | None) -> dict[str, float | None]:
    if evidence is None:
        return {}
    r = evidence.result
    found: dict[str, float | None] = {"e_value": r.e_value, "p_value": r.p_value, "alpha": r.alpha}
    found["shown_at"] = r.crossed_at
    found["dispersion"] = r.dispersion
    if evidence.slow is not None:
        found["canary_slow_share"] = evidence.slow.canary
        found["control_slow_share"] = evidence.slow.control
        found["slow_threshold_ms"] = evidence.slow.threshold_ms
    if evidence.subjects is not None:
        found["canary_error_subjects"] = evidence.subjects.canary
        found["control_error_subjects"] = evidence.subjects.control
    return found


def _compare_numbers(  # noqa: PLR0917 (one private call site per form, all positional)
    spec: MetricSpec,
    canary: ArmStats,
    control: ArmStats,
    c_v: float | None,
    b_v: float | None,
    limit: float | None,
    evidence: Evidence | None,
) -> dict[str, float | None]:
    numbers: dict[str, float | None] = {
        "canary_requests": m.exposures(spec, canary),
        "control_requests": m.exposures(spec, control),
        "canary_value": c_v,
        "control_value": b_v,
        "limit": limit,
        "ratio": c_v / b_v if c_v is not None and b_v else None,
    }
    if m.is_count_type(spec):
        numbers["canary_events"] = m.events(spec, canary)
        numbers["control_events"] = m.events(spec, control)
    numbers.update(_test_numbers(evidence))
    return numbers


def _problem(criterion: Criterion, spec: MetricSpec, intervals: Sequence[Interval]) -> str | None:
    """What makes the criterion impossible to judge on these data, or None."""
    if criterion.metric != spec.name:
        return f"the measurements are of {spec.name}, not {criterion.metric}"
    unit = None
    if isinstance(criterion, Threshold | RelativeToControl) and (
        isinstance(criterion, Threshold) or criterion.offset != 0
    ):
        unit = criterion.unit
    if unit is not None:
        if spec.kind == "latency" and unit == "ratio":
            return f"{spec.name} is a latency: write a time such as 300ms"
        if spec.kind != "latency" and unit == "ms":
            wanted = "a plain number" if spec.kind in ("count", "mean") else "a % such as 1%"
            return f"{spec.name} is not a latency: write {wanted}"
        if spec.kind == "count" and unit == "ratio":
            return f"{spec.name} is a count: write a plain number"
    if (
        isinstance(criterion, NoRegression)
        and spec.kind == "latency"
        and (
            criterion.direction == "down"
            or (criterion.direction == "auto" and spec.higher_is_better)
        )
    ):
        return f"{spec.name} cannot regress by dropping: use 'no regression' or 'no increase'"
    accuracy = None
    previous_end = -math.inf
    count = spec.kind == "count"
    for interval in intervals:
        if interval.end < interval.start or interval.end < previous_end:
            return (
                "the measurements are out of time order "
                f"(the interval ending {say.when(interval.end)})"
            )
        previous_end = interval.end
        for arm, stats in (("canary", interval.canary), ("control", interval.control)):
            trouble = stats.problem()
            if trouble is None and count and stats.events and not stats.requests:
                trouble = f"{stats.events} events but no requests"
            if trouble is not None:
                return (
                    f"the {arm} data for the interval ending {say.when(interval.end)} are "
                    f"inconsistent: {trouble}"
                )
            if stats.latency is not None:
                if accuracy is not None and stats.latency.relative_accuracy != accuracy:
                    return "the latency sketches have different accuracies and cannot be combined"
                accuracy = stats.latency.relative_accuracy
    return None
