"""The sentences of a verdict's reason: where the canary stands, against what, on how much
data, and how unlikely the gap is by chance."""

from __future__ import annotations

from datetime import UTC, datetime

from rollout.analysis import figures as fmt
from rollout.analysis import measures as m
from rollout.analysis._evidence import Evidence, SlowShares
from rollout.analysis.observation import ArmStats, MetricSpec
from rollout.analysis.verdict import Role
from rollout.plan.criteria import Comparison


def position(role: Role, op: Comparison, bad: bool, equal: bool) -> str:
    """Where the canary stands against the line: ``above the limit of``, ``below the
    rollback trigger of``, ``at the minimum of`` ..."""
    below_is_bad = op in (">", ">=")  # for a success criterion
    if role == "success":
        noun = "the minimum of" if below_is_bad else "the limit of"
        if equal:
            return f"at {noun}"
        if not bad:
            return f"meets {noun}" if below_is_bad else f"within {noun}"
        return f"below {noun}" if below_is_bad else f"above {noun}"
    if equal:
        return "at the rollback trigger of"
    fires_above = op in (">", ">=")
    return f"{'above' if fires_above == bad else 'below'} the rollback trigger of"


def with_verb(words: str) -> str:
    return words if words.startswith("meets") else f"is {words}"


def on_bad_side(v: float, op: Comparison, limit: float, role: Role) -> bool:
    holds = {"<": v < limit, "<=": v <= limit, ">": v > limit, ">=": v >= limit}[op]
    return not holds if role == "success" else holds


def head(
    spec: MetricSpec, canary: ArmStats, c_v: float | None, b_v: float | None, *, allowed: str
) -> str:
    """``canary errors 2.1% vs control 1.0% (2.1x) over 4,180 canary requests``."""
    inside = [fmt.ratio(c_v / b_v)] if c_v is not None and b_v else []
    if allowed:
        inside.append(allowed)
    gap = f" ({'; '.join(inside)})" if inside else ""
    return (
        f"canary {m.arm_label(spec)} {m.show(spec, c_v)} vs control {m.show(spec, b_v)}"
        f"{m.rate_suffix(spec)}{gap} over {fmt.count(m.exposures(spec, canary))} "
        f"canary {m.noun(spec)}"
    )


def relative_target(spec: MetricSpec, factor: float, offset: float, limit: float | None) -> str:
    """``1.1x control (297 ms)``, ``control + 20 ms (290 ms)``, ``2x control + 0.5% (2.5%)``."""
    text = "control" if factor == 1.0 else f"{fmt.ratio(factor)} control"
    if offset:
        sign = "+" if offset > 0 else "-"
        text += f" {sign} {m.show_limit(spec, abs(offset))}"
    return f"{text} ({m.show(spec, limit)})" if limit is not None else text


def slow_words(spec: MetricSpec, slow: SlowShares | None) -> str:
    """What the latency test counted: the shares of requests above the thresholds."""
    if (
        slow is None
        or slow.canary is None
        or slow.control is None
        or slow.threshold_ms is None
        or slow.canary_threshold_ms is None
    ):
        return ""
    p = f"p{spec.percentile:g}"
    if slow.canary_threshold_ms == slow.threshold_ms:
        return (
            f"; {fmt.percent(slow.canary)} of canary requests were slower than the control's "
            f"{p} ({fmt.millis(slow.threshold_ms)}), against {fmt.percent(slow.control)} of "
            f"control requests"
        )
    return (
        f"; {fmt.percent(slow.canary)} of canary requests were slower than "
        f"{fmt.millis(slow.canary_threshold_ms)} ({fmt.ratio(slow.scale)} the control's {p} of "
        f"{fmt.millis(slow.threshold_ms)}), against {fmt.percent(slow.control)} of control "
        f"requests slower than that {p}"
    )


def subject_words(evidence: Evidence, canary: ArmStats, control: ArmStats) -> str:
    """What an error comparison counted, when it counted failing subjects and they were fewer
    than the errors (otherwise the counts are the errors the head shows, and nothing is said)."""
    subjects = evidence.subjects
    if subjects is None or (
        subjects.canary >= canary.errors and subjects.control >= control.errors
    ):
        return ""
    return (
        f"; counting each failing user once per report, {fmt.count(subjects.canary)} in the "
        f"canary and {fmt.count(subjects.control)} in the control"
    )


def beyond_chance(spec: MetricSpec, evidence: Evidence) -> str:
    r = evidence.result
    text = f"a gap this big by chance is less likely than {fmt.one_in(r.e_max)}"
    if r.bursty and r.dispersion is not None:
        what = "slow requests" if spec.kind == "latency" else m.event_noun(spec)
        text += (
            f" (counted with care: the {what} come in bursts, {fmt.ratio(r.dispersion)} the "
            f"spread of independent {what})"
        )
    return text


def not_yet(evidence: Evidence) -> str:
    e = evidence.result.e_value
    return f"not yet beyond chance ({fmt.one_in(e)})" if e >= 2 else "not yet beyond chance"


def when(t: float | None) -> str:
    if t is None:
        return "an earlier point"
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
