"""Every criterion form judged on real numbers, with the reasons a person reads."""

from __future__ import annotations

import pytest

from rollout.analysis import (
    ArmStats,
    Interval,
    LatencySketch,
    MetricSeries,
    MetricSpec,
    Verdict,
    infer_metric_spec,
    judge,
    judge_against_baseline,
    judge_stage,
    metric_spec,
)
from rollout.analysis.judge import Role
from rollout.plan.criteria import parse_criterion


def _spec(name: str) -> MetricSpec:
    spec = infer_metric_spec(name)
    assert spec is not None
    return spec


ERRORS = _spec("error_rate")
P99 = _spec("latency_p99")
CONVERSION = metric_spec("checkout_conversion", "conversion")
ORDER_VALUE = metric_spec("order_value", "mean", higher_is_better=True)
CRASHES = metric_spec("crashes", "count")


def window(canary: ArmStats, control: ArmStats | None = None, end: float = 60.0) -> list[Interval]:
    return [Interval(end - 60.0, end, canary, control or ArmStats())]


def sketch(*counts: tuple[float, int]) -> LatencySketch:
    s = LatencySketch()
    for ms, n in counts:
        s.add(ms, n)
    return s


def orders(n: int, mean: float, sd: float) -> ArmStats:
    return ArmStats(value_count=n, value_sum=n * mean, value_sum_sq=n * (mean**2 + sd**2))


def verdict_of(
    text: str,
    spec: MetricSpec,
    intervals: list[Interval],
    *,
    role: Role = "success",
    final: bool = False,
) -> tuple[Verdict, str]:
    result = judge(parse_criterion(text), spec, intervals, role=role, final=final)
    return result.verdict, result.reason


# --------------------------------------------------------------------------- no regression


def test_a_regression_shown_beyond_chance_fails_in_plain_words() -> None:
    assert verdict_of(
        "error_rate: no regression",
        ERRORS,
        window(ArmStats(4180, 88), ArmStats(1390, 14)),
        role="rollback",
    ) == (
        Verdict.FAIL,
        "canary errors 2.1% vs control 1.0% (2.1x) over 4,180 canary requests; "
        "a gap this big by chance is less likely than 1 in 40",
    )


def test_no_regression_passes_only_when_the_stage_is_over() -> None:
    data = window(ArmStats(5000, 52), ArmStats(50000, 500))
    head = "canary errors 1.0% vs control 1.0% (1.04x) over 5,000 canary requests; "
    assert verdict_of("error_rate: no regression", ERRORS, data, final=True) == (
        Verdict.PASS,
        head + "no regression shown by the end of the stage",
    )
    assert verdict_of("error_rate: no regression", ERRORS, data) == (
        Verdict.INCONCLUSIVE,
        head + "no sign of a regression so far; judged when the stage ends",
    )
    assert verdict_of("error_rate: no regression", ERRORS, data, role="rollback") == (
        Verdict.PASS,
        head + "no regression shown so far",
    )


def test_a_gap_not_yet_beyond_chance_says_how_likely_it_is() -> None:
    assert verdict_of(
        "error_rate: no regression", ERRORS, window(ArmStats(5000, 70), ArmStats(50000, 500))
    ) == (
        Verdict.INCONCLUSIVE,
        "canary errors 1.4% vs control 1.0% (1.4x) over 5,000 canary requests; "
        "not yet beyond chance (1 in 4); judged when the stage ends",
    )


def test_a_tolerance_is_shown_and_moves_the_line() -> None:
    result = judge(
        parse_criterion("error_rate: no regression > 5%"),
        ERRORS,
        window(ArmStats(5000, 120), ArmStats(50000, 500)),
        role="rollback",
    )
    assert result.verdict is Verdict.FAIL
    assert result.reason == (
        "canary errors 2.4% vs control 1.0% (2.4x; up to 1.05x allowed) over 5,000 canary "
        "requests; a gap this big by chance is less likely than 1 in 1,000,000"
    )
    assert result.numbers["limit"] == pytest.approx(0.0105)
    assert result.numbers["shown_at"] == 60.0


def test_no_data_is_never_a_pass() -> None:
    for final in (False, True):
        for role in ("success", "rollback"):
            assert verdict_of(
                "error_rate: no regression",
                ERRORS,
                window(ArmStats(), ArmStats(100, 1)),
                role=role,  # type: ignore[arg-type]
                final=final,
            ) == (Verdict.INCONCLUSIVE, "no data yet: 0 canary requests in the window (need 200)")
    assert verdict_of(
        "error_rate: no regression",
        ERRORS,
        window(ArmStats(5000, 50), ArmStats(150, 2)),
        final=True,
    ) == (
        Verdict.INCONCLUSIVE,
        "not enough data yet: 150 control requests in the window (need 200)",
    )


def test_a_huge_regression_fails_even_before_the_minimum_sample() -> None:
    verdict, reason = verdict_of(
        "error_rate: no regression", ERRORS, window(ArmStats(150, 20), ArmStats(5000, 50))
    )
    assert verdict is Verdict.FAIL
    assert reason == (
        "canary errors 13.3% vs control 1.0% (13.3x) over 150 canary requests; "
        "a gap this big by chance is less likely than 1 in 5,500"
    )


def test_latency_regression_names_the_slow_requests() -> None:
    intervals = [
        Interval(t * 10.0, t * 10.0 + 10, ArmStats(1000, latency=sketch((100, 950), (400, 50))),
                 ArmStats(1000, latency=sketch((100, 990), (250, 10))))
        for t in range(4)
    ]  # fmt: skip
    result = judge(parse_criterion("latency_p99: no regression"), P99, intervals, role="success")
    assert result.verdict is Verdict.FAIL
    assert result.reason == (
        "canary latency p99 399 ms vs control 100 ms (4x) over 4,000 canary requests; "
        "5.0% of canary requests were slower than the control's p99 (102 ms), against 1.0% of "
        "control requests; a gap this big by chance is less likely than 1 in 1,000,000"
    )
    assert result.numbers["canary_slow_share"] == pytest.approx(0.05)
    assert result.numbers["shown_at"] == 20.0  # the first interval only sets the threshold


def test_latency_tolerance_moves_the_canary_threshold_and_says_so() -> None:
    intervals = [
        Interval(t * 10.0, t * 10.0 + 10, ArmStats(1000, latency=sketch((100, 950), (400, 50))),
                 ArmStats(1000, latency=sketch((100, 990), (250, 10))))
        for t in range(4)
    ]  # fmt: skip
    result = judge(
        parse_criterion("latency_p99: no regression > 10%"), P99, intervals, role="rollback"
    )
    assert result.verdict is Verdict.FAIL
    assert result.reason == (
        "canary latency p99 399 ms vs control 100 ms (4x; up to 1.1x allowed) over 4,000 canary "
        "requests; 5.0% of canary requests were slower than 112 ms (1.1x the control's p99 of "
        "102 ms), against 1.0% of control requests slower than that p99; a gap this big by "
        "chance is less likely than 1 in 1,000,000"
    )


def test_a_regression_in_bursty_errors_says_the_evidence_was_discounted() -> None:
    """Errors only every other interval, three times as many on the canary: a regression, but
    shown later than with smooth counts (at 280 s rather than at once)."""
    clumped = [
        Interval(t * 10.0, t * 10.0 + 10, ArmStats(500, 60 * (t % 2)), ArmStats(500, 20 * (t % 2)))
        for t in range(40)
    ]
    result = judge(parse_criterion("error_rate: no regression"), ERRORS, clumped, role="rollback")
    assert result.verdict is Verdict.FAIL
    assert result.reason == (
        "canary errors 6.0% vs control 2.0% (3x) over 20,000 canary requests; a gap this big by "
        "chance is less likely than 1 in 99 (counted with care: the errors come in bursts, 40x "
        "the spread of independent errors)"
    )
    assert result.numbers["shown_at"] == 280.0
    assert result.numbers["dispersion"] == pytest.approx(40.0)


def test_latency_needs_earlier_control_data_before_it_can_pass() -> None:
    one = [Interval(0, 10, ArmStats(1000, latency=sketch((100, 1000))),
                    ArmStats(1000, latency=sketch((100, 1000))))]  # fmt: skip
    assert verdict_of("latency_p99: no regression", P99, one, final=True) == (
        Verdict.INCONCLUSIVE,
        "not enough data yet: 0 earlier control requests in the window "
        "(need 1,000 to know the control's p99)",
    )


def test_conversion_drop_beyond_tolerance_fails() -> None:
    assert verdict_of(
        "checkout_conversion: no drop > 2%",
        CONVERSION,
        window(ArmStats(20000, conversions=800), ArmStats(20000, conversions=1000)),
    ) == (
        Verdict.FAIL,
        "canary checkout conversion 4.0% vs control 5.0% (0.8x; down to 0.98x allowed) over "
        "20,000 canary requests; a gap this big by chance is less likely than 1 in 3,200",
    )


def test_conversions_need_a_few_conversions_before_a_pass() -> None:
    assert verdict_of(
        "checkout_conversion: no drop",
        CONVERSION,
        window(ArmStats(20000, conversions=4), ArmStats(20000, conversions=3)),
        final=True,
    ) == (Verdict.INCONCLUSIVE, "not enough data yet: 4 canary conversions in the window (need 5)")


def test_a_mean_drop_fails_by_the_msprt() -> None:
    assert verdict_of(
        "order_value: no drop", ORDER_VALUE, window(orders(1000, 41, 10), orders(1000, 45, 10))
    ) == (
        Verdict.FAIL,
        "canary order value 41.0 vs control 45.0 (0.91x) over 1,000 canary measurements; "
        "a gap this big by chance is less likely than 1 in 1,000,000",
    )


def test_counted_events_compare_per_thousand_requests() -> None:
    assert verdict_of(
        "crashes: no regression",
        CRASHES,
        window(ArmStats(5000, events=12), ArmStats(50000, events=50)),
        final=True,
    ) == (
        Verdict.PASS,
        "canary crashes 2.40 vs control 1.00 per 1,000 requests (2.4x) over 5,000 canary "
        "requests; no regression shown by the end of the stage",
    )


# --------------------------------------------------------------------------- thresholds


def test_threshold_success_criteria_are_judged_at_the_end_of_the_stage() -> None:
    data = window(ArmStats(5000, 20))
    assert verdict_of("error_rate < 1%", ERRORS, data, final=True) == (
        Verdict.PASS,
        "error rate 0.40% is within the limit of 1% over 5,000 canary requests",
    )
    assert verdict_of("error_rate < 1%", ERRORS, data) == (
        Verdict.INCONCLUSIVE,
        "error rate 0.40% is within the limit of 1% over 5,000 canary requests so far; "
        "judged when the stage ends",
    )


def test_latency_threshold_fails_on_the_window_figure() -> None:
    data = window(ArmStats(1204, latency=sketch((100, 1190), (312, 14))))
    assert verdict_of("latency_p99 < 300ms", P99, data, final=True) == (
        Verdict.FAIL,
        "latency p99 314 ms is above the limit of 300 ms over 1,204 canary requests",
    )


def test_minimum_thresholds_read_as_minimums() -> None:
    assert verdict_of(
        "checkout_conversion >= 4%",
        CONVERSION,
        window(ArmStats(20000, conversions=1000)),
        final=True,
    ) == (
        Verdict.PASS,
        "checkout conversion 5.0% meets the minimum of 4% over 20,000 canary requests",
    )


def test_rollback_threshold_needs_evidence_before_it_fires() -> None:
    fired = verdict_of("error_rate > 5%", ERRORS, window(ArmStats(1204, 120)), role="rollback")
    assert fired == (
        Verdict.FAIL,
        "error rate 10.0% is above the rollback trigger of 5% over 1,204 canary requests; "
        "a gap this big by chance is less likely than 1 in 1,000,000",
    )
    held = verdict_of("error_rate > 5%", ERRORS, window(ArmStats(1204, 65)), role="rollback")
    assert held == (
        Verdict.INCONCLUSIVE,
        "error rate 5.4% is above the rollback trigger of 5% over 1,204 canary requests, "
        "but not yet beyond chance; watching",
    )
    quiet = verdict_of("error_rate > 5%", ERRORS, window(ArmStats(5000, 20)), role="rollback")
    assert quiet == (
        Verdict.PASS,
        "error rate 0.40% is below the rollback trigger of 5% over 5,000 canary requests",
    )


def test_a_count_threshold_is_exact_and_fails_at_once() -> None:
    assert verdict_of(
        "crashes < 5", CRASHES, window(ArmStats(300, events=6), ArmStats(3000, events=10))
    ) == (Verdict.FAIL, "crashes 6 is above the limit of 5 over 300 canary requests")


def test_mean_threshold_uses_the_one_sample_test() -> None:
    result = judge(
        parse_criterion("order_value > 40"), ORDER_VALUE, window(orders(1000, 38, 10)),
        role="success",
    )  # fmt: skip
    assert result.verdict is Verdict.FAIL
    assert result.reason.startswith("order value 38.0 is below the minimum of 40 over 1,000 ")


# --------------------------------------------------------------------------- relative


def test_relative_rollback_trigger_fires_only_on_evidence() -> None:
    assert verdict_of(
        "error_rate > control * 2",
        ERRORS,
        window(ArmStats(5000, 150), ArmStats(50000, 500)),
        role="rollback",
    ) == (
        Verdict.FAIL,
        "canary errors 3.0% vs control 1.0% (3x) over 5,000 canary requests; above the "
        "rollback trigger of 2x control (2.0%), and a gap this big by chance is less likely "
        "than 1 in 1,100",
    )
    assert verdict_of(
        "error_rate > control * 2",
        ERRORS,
        window(ArmStats(5000, 110), ArmStats(50000, 500)),
        role="rollback",
    ) == (
        Verdict.INCONCLUSIVE,
        "canary errors 2.2% vs control 1.0% (2.2x) over 5,000 canary requests; above the "
        "rollback trigger of 2x control (2.0%), but not yet beyond chance; watching",
    )


def test_relative_with_an_offset() -> None:
    assert verdict_of(
        "error_rate <= control + 0.5%",
        ERRORS,
        window(ArmStats(5000, 60), ArmStats(50000, 500)),
        final=True,
    ) == (
        Verdict.PASS,
        "canary errors 1.2% vs control 1.0% (1.2x) over 5,000 canary requests; within the "
        "limit of control + 0.5% (1.5%)",
    )


def test_relative_latency_uses_the_scaled_slow_request_test() -> None:
    intervals = [
        Interval(t * 10.0, t * 10.0 + 10, ArmStats(1000, latency=sketch((100, 980), (280, 20))),
                 ArmStats(1000, latency=sketch((100, 990), (250, 10))))
        for t in range(3)
    ]  # fmt: skip
    result = judge(
        parse_criterion("latency_p99 <= control * 1.1"), P99, intervals, role="success",
        final=True,
    )  # fmt: skip
    assert result.verdict is Verdict.FAIL
    assert result.reason == (
        "canary latency p99 279 ms vs control 100 ms (2.8x) over 3,000 canary requests; above "
        "the limit of 1.1x control (111 ms), and a gap this big by chance is less likely than "
        "1 in 24"
    )


def test_relative_means() -> None:
    assert verdict_of(
        "order_value >= control * 0.95",
        ORDER_VALUE,
        window(orders(1000, 44, 10), orders(1000, 45, 10)),
        final=True,
    ) == (
        Verdict.PASS,
        "canary order value 44.0 vs control 45.0 (0.98x) over 1,000 canary measurements; "
        "meets the minimum of 0.95x control (42.8)",
    )


# --------------------------------------------------------------------------- numbers, chart


def test_numbers_and_series_follow_the_window() -> None:
    intervals = [
        Interval(0, 60, ArmStats(1000, 10), ArmStats(9000, 90)),
        Interval(60, 120, ArmStats(1000, 30), ArmStats(9000, 90)),
    ]
    result = judge(parse_criterion("error_rate <= control * 1.5"), ERRORS, intervals,
                   role="success", final=True)  # fmt: skip
    assert result.numbers["canary_requests"] == 2000
    assert result.numbers["canary_value"] == pytest.approx(0.02)
    assert result.numbers["control_value"] == pytest.approx(0.01)
    assert result.numbers["limit"] == pytest.approx(0.015)
    assert [(p.time, p.canary, p.control, p.threshold) for p in result.series] == [
        (60, pytest.approx(0.01), pytest.approx(0.01), pytest.approx(0.015)),
        (120, pytest.approx(0.02), pytest.approx(0.01), pytest.approx(0.015)),
    ]
    as_json = result.to_dict()
    assert as_json["verdict"] == "fail"
    assert as_json["series"][1][0] == 120


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "spec", "intervals", "reason"),
    [
        ("error_rate < 300ms", ERRORS, window(ArmStats(5000, 20)),
         "error_rate is not a latency: write a % such as 1%"),
        ("crashes < 1%", CRASHES, window(ArmStats(5000, events=2)),
         "crashes is a count: write a plain number"),
        ("latency_p99: no drop", P99, window(ArmStats(10)),
         "latency_p99 cannot regress by dropping: use 'no regression' or 'no increase'"),
        ("error_rate < 1%", P99, window(ArmStats(10)),
         "the measurements are of latency_p99, not error_rate"),
        ("error_rate < 1%", ERRORS, window(ArmStats(10, 12)),
         "the canary data for the interval ending 1970-01-01 00:01:00 UTC are inconsistent: "
         "12 errors but only 10 requests"),
        ("error_rate < 1%", ERRORS, [*window(ArmStats(10)), Interval(0, 30, ArmStats(),
                                                                     ArmStats())],
         "the measurements are out of time order (the interval ending 1970-01-01 00:00:30 UTC)"),
        ("crashes < 5", CRASHES, window(ArmStats(0, events=3), ArmStats(30, events=1)),
         "the canary data for the interval ending 1970-01-01 00:01:00 UTC are inconsistent: "
         "3 events but no requests"),
        ("latency_p99 < 300ms", P99,
         [Interval(0, 1, ArmStats(latency=LatencySketch(0.01)),
                   ArmStats(latency=LatencySketch(0.02)))],
         "the latency sketches have different accuracies and cannot be combined"),
    ],
)  # fmt: skip
def test_data_that_cannot_be_judged_is_an_error_with_a_reason(
    text: str, spec: MetricSpec, intervals: list[Interval], reason: str
) -> None:
    assert verdict_of(text, spec, intervals) == (Verdict.ERROR, reason)


def test_alpha_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="alpha"):
        judge(parse_criterion("error_rate < 1%"), ERRORS, [], role="success", alpha=0)


# --------------------------------------------------------------------------- stage, baseline


def test_a_stage_fails_on_any_failure_and_holds_on_missing_data() -> None:
    good = MetricSeries(ERRORS, window(ArmStats(5000, 20), ArmStats(50000, 200)))
    stage = judge_stage(
        [parse_criterion("error_rate < 1%"), parse_criterion("error_rate: no regression")],
        [parse_criterion("latency_p99 > 500ms")],
        {"error_rate": good},
        final=True,
    )
    assert stage.verdict is Verdict.INCONCLUSIVE
    assert stage.reason == (
        "waiting on latency_p99 > 500ms: no data yet: latency_p99 has no measurements in the window"
    )
    assert [r.verdict for r in stage.results] == [Verdict.PASS, Verdict.PASS, Verdict.INCONCLUSIVE]

    bad = MetricSeries(ERRORS, window(ArmStats(4180, 88), ArmStats(1390, 14)))
    failed = judge_stage([], [parse_criterion("error_rate: no regression")], {"error_rate": bad},
                         final=False)  # fmt: skip
    assert failed.verdict is Verdict.FAIL
    assert failed.reason == (
        "failed error_rate: no regression: canary errors 2.1% vs control 1.0% (2.1x) over "
        "4,180 canary requests; a gap this big by chance is less likely than 1 in 40"
    )


def test_a_stage_passes_when_every_criterion_is_met() -> None:
    good = MetricSeries(ERRORS, window(ArmStats(5000, 20), ArmStats(50000, 200)))
    stage = judge_stage([parse_criterion("error_rate < 1%")], [parse_criterion("error_rate > 5%")],
                        {"error_rate": good}, final=True)  # fmt: skip
    assert (stage.verdict, stage.reason) == (Verdict.PASS, "all 2 criteria are met")


def test_baseline_checks_name_the_baseline() -> None:
    ok = judge_against_baseline(ERRORS, ArmStats(5000, 20), 0.004, 0.5)
    assert (ok.criterion, ok.verdict, ok.reason) == (
        "error_rate <= baseline 0.4% + 50%",
        Verdict.PASS,
        "error rate 0.40% is within the limit of 0.6% (baseline 0.4% + 50%) over 5,000 "
        "canary requests",
    )
    spike = judge_against_baseline(ERRORS, ArmStats(5000, 60), 0.004, 0.5, final=False)
    assert spike.verdict is Verdict.FAIL
    assert spike.reason == (
        "error rate 1.2% is above the limit of 0.6% (baseline 0.4% + 50%) over 5,000 canary "
        "requests; a gap this big by chance is less likely than 1 in 58,000"
    )
    slow = judge_against_baseline(
        P99, ArmStats(1204, latency=sketch((100, 1190), (312, 14))), 250.0, 0.2
    )
    assert (slow.verdict, slow.reason) == (
        Verdict.FAIL,
        "latency p99 314 ms is above the limit of 300 ms (baseline 250 ms + 20%) over 1,204 "
        "canary requests",
    )
    drop = judge_against_baseline(CONVERSION, ArmStats(5000, conversions=150), 0.04, 0.1)
    assert (drop.criterion, drop.verdict) == ("checkout_conversion >= baseline 4% - 10%",
                                              Verdict.FAIL)  # fmt: skip
    with pytest.raises(ValueError, match="negative"):
        judge_against_baseline(ERRORS, ArmStats(), 0.004, -0.1)
