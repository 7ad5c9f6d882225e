"""Error comparisons count failing subjects when the data know them: a burst of retries from one
client is one failure, not a regression, while errors spread over many users still are."""

from __future__ import annotations

from rollout.analysis import (
    ArmStats,
    CriterionResult,
    Interval,
    MetricSpec,
    Verdict,
    infer_metric_spec,
    judge,
)
from rollout.analysis.judge import Role
from rollout.plan.criteria import parse_criterion

_SPEC = infer_metric_spec("error_rate")
assert _SPEC is not None
ERRORS: MetricSpec = _SPEC

# 30 failures of one client retrying, and 5 failures of 5 other users, in 1,000 canary requests;
# the control fails 45 times for 45 users in 9,000 requests.
BURST = ArmStats(1000, 35, error_subjects=6)
CONTROL = ArmStats(9000, 45, error_subjects=45)
HEAD = "canary errors 3.5% vs control 0.50% (7x) over 1,000 canary requests; "
COUNTED = "counting each failing user once per report, 6 in the canary and 45 in the control; "


def result_of(text: str, *intervals: Interval, role: Role = "rollback") -> CriterionResult:
    return judge(parse_criterion(text), ERRORS, intervals, role=role)


def judged(text: str, *intervals: Interval, role: Role = "rollback") -> tuple[Verdict, str]:
    result = result_of(text, *intervals, role=role)
    return result.verdict, result.reason


def test_a_burst_from_one_client_does_not_roll_back_where_the_raw_counts_would() -> None:
    raw = Interval(0, 60, ArmStats(1000, 35), ArmStats(9000, 45))
    assert judged("error_rate: no regression", raw) == (
        Verdict.FAIL,
        HEAD + "a gap this big by chance is less likely than 1 in 1,000,000",
    )
    assert judged("error_rate: no regression", Interval(0, 60, BURST, CONTROL)) == (
        Verdict.PASS,
        HEAD + COUNTED + "no regression shown so far",
    )


def test_a_relative_trigger_holds_on_a_burst_instead_of_firing() -> None:
    assert judged("error_rate > control * 1.5", Interval(0, 60, BURST, CONTROL)) == (
        Verdict.INCONCLUSIVE,
        HEAD + COUNTED + "above the rollback trigger of 1.5x control (0.75%), but not yet beyond "
        "chance; watching",
    )


def test_a_regression_spread_over_many_users_still_rolls_back() -> None:
    spread = Interval(0, 60, ArmStats(1000, 40, error_subjects=38), CONTROL)
    result = result_of("error_rate: no regression", spread)
    assert (result.verdict, result.reason) == (
        Verdict.FAIL,
        "canary errors 4.0% vs control 0.50% (8x) over 1,000 canary requests; counting each "
        "failing user once per report, 38 in the canary and 45 in the control; a gap this big "
        "by chance is less likely than 1 in 1,000,000",
    )
    numbers = result.numbers
    assert (numbers["canary_events"], numbers["control_events"]) == (40, 45)
    assert (numbers["canary_error_subjects"], numbers["control_error_subjects"]) == (38, 45)


def test_when_every_failure_is_a_different_user_the_reason_is_the_usual_one() -> None:
    once_each = Interval(0, 60, ArmStats(1000, 6, error_subjects=6), CONTROL)
    assert judged("error_rate: no regression", once_each) == (
        Verdict.PASS,
        "canary errors 0.60% vs control 0.50% (1.2x) over 1,000 canary requests; "
        "no regression shown so far",
    )


def test_an_interval_without_subjects_makes_the_test_count_errors() -> None:
    """An older SDK's batch in the window: mixing subjects and errors would weigh them
    unevenly, so the whole window is judged on errors."""
    unknown = Interval(60, 120, ArmStats(10, 0), ArmStats(90, 0))
    result = result_of("error_rate: no regression", Interval(0, 60, BURST, CONTROL), unknown)
    assert result.verdict is Verdict.FAIL
    assert "canary_error_subjects" not in result.numbers


def test_a_threshold_keeps_judging_the_error_rate() -> None:
    assert judged("error_rate < 1%", Interval(0, 60, BURST, CONTROL), role="success") == (
        Verdict.FAIL,
        "error rate 3.5% is above the limit of 1% over 1,000 canary requests; a gap this big "
        "by chance is less likely than 1 in 1,000,000",
    )


def test_more_error_subjects_than_errors_is_an_error_naming_the_interval() -> None:
    bad = Interval(0, 60, ArmStats(1000, 3, error_subjects=4), CONTROL)
    assert judged("error_rate: no regression", bad) == (
        Verdict.ERROR,
        "the canary data for the interval ending 1970-01-01 00:01:00 UTC are inconsistent: "
        "error_subjects (4) exceeds errors (3)",
    )
