"""The built-in source against a real store (SQLite and PostgreSQL), telemetry written through
the store as the server's intake writes it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from metrics_telemetry import ENV, FLAG, T0, batch, boolean_flag, sketch

from rollout.analysis import (
    LatencySketch,
    MetricSeries,
    MetricSpec,
    infer_metric_spec,
    metric_spec,
)
from rollout.errors import MetricsError
from rollout.flags.model import Flag
from rollout.plan.model import Metric
from rollout.providers.metrics import ArmSelector, BuiltinMetricSource, NoData, flag_arms
from rollout.store import EventCount, Store, TelemetryBatch

ERROR_RATE = infer_metric_spec("error_rate")
LATENCY = infer_metric_spec("latency_p99")
assert ERROR_RATE is not None and LATENCY is not None


def fetch(
    store: Store,
    spec: MetricSpec = ERROR_RATE,
    arms: ArmSelector | None = None,
    start: float = T0,
    end: float = T0 + 90,
    step: float = 30,
) -> MetricSeries | NoData:
    return BuiltinMetricSource(store).fetch(
        spec.name, spec, None, arms or ArmSelector(ENV, FLAG), start=start, end=end, step=step
    )


def test_batches_are_summed_per_arm_in_the_step_their_window_ended(store: Store) -> None:
    boolean_flag(store)
    store.add_telemetry(
        [
            batch(10, "on", 40, 2),
            batch(30, "on", 50, 1, instance="web-2"),  # ends exactly at 30: the second step
            batch(29.5, "on", 10, 1, instance="web-2"),
            batch(20, "off", 900, 9),
            batch(20, "off", 100, 1, instance="web-2"),
            batch(50, "off", 1000, 4),
            batch(95, "on", 999, 999),  # in the partial step after 90: left for the next call
            batch(-1, "on", 999, 999),  # before the window
            batch(20, "on", 999, 999, flag="other-flag"),
            batch(20, "on", 999, 999, environment="staging"),
        ]
    )

    result = fetch(store)

    assert isinstance(result, MetricSeries)
    assert result.spec == ERROR_RATE
    got = [
        (i.start - T0, i.end - T0, i.canary.requests, i.canary.errors, i.control.requests,
         i.control.errors)
        for i in result.intervals
    ]  # fmt: skip
    assert got == [(0, 30, 50, 3, 1000, 10), (30, 60, 50, 1, 1000, 4)]


def subjects_per_step(store: Store, *rows: TelemetryBatch) -> list[tuple[int | None, ...]]:
    """(canary, control) failing subjects per step of the stored ``rows``."""
    boolean_flag(store)
    store.add_telemetry(list(rows))
    result = fetch(store)
    assert isinstance(result, MetricSeries)
    return [(i.canary.error_subjects, i.control.error_subjects) for i in result.intervals]


def test_error_subjects_are_summed_per_arm_and_step(store: Store) -> None:
    assert subjects_per_step(
        store,
        replace(batch(10, "on", 40, 30), error_subjects=1),  # one client retrying
        replace(batch(20, "on", 50, 2, instance="web-2"), error_subjects=2),
        replace(batch(20, "off", 900, 9), error_subjects=9),
        replace(batch(50, "on", 50, 0), error_subjects=0),
        replace(batch(50, "off", 1000, 4), error_subjects=3),
    ) == [(3, 9), (0, 3)]


def test_a_step_with_a_batch_that_does_not_report_error_subjects_has_none(
    store: Store,
) -> None:
    assert subjects_per_step(
        store,
        replace(batch(10, "on", 40, 30), error_subjects=1),
        batch(20, "on", 50, 2, instance="old-sdk"),  # an SDK that does not report them
        replace(batch(20, "off", 900, 9), error_subjects=9),
        replace(batch(50, "off", 1000, 4), error_subjects=4),
    ) == [(None, 9), (0, 4)]


def test_latency_sketches_merge_exactly(store: Store) -> None:
    boolean_flag(store)
    first, second = sketch(12, 15, 400), sketch(18, 22, 900, 950)
    store.add_telemetry(
        [
            batch(10, "on", 3, latency=first),
            batch(20, "on", 4, latency=second, instance="web-2"),
            batch(20, "off", 2, latency=sketch(5, 6)),
            batch(25, "off", 1),  # an SDK that sent no sketch still counts its requests
        ]
    )

    result = fetch(store, LATENCY)

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert interval.canary.latency == LatencySketch.combine([first, second])
    assert interval.canary.latency_count == 7
    assert interval.control.requests == 3
    assert interval.control.latency == sketch(5, 6)


def test_arms_come_from_the_selector_when_given(store: Store) -> None:
    store.add_telemetry(
        [batch(10, "treatment", 10, 5), batch(10, "classic", 90, 1), batch(10, "holdout", 7, 7)]
    )

    result = fetch(store, arms=ArmSelector(ENV, FLAG, canary="treatment", control="classic"))

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert (interval.canary.requests, interval.control.requests) == (10, 90)


def test_an_arm_without_telemetry_in_a_step_is_empty(store: Store) -> None:
    boolean_flag(store, percent=0)
    store.add_telemetry([batch(40, "off", 500, 2)])

    result = fetch(store)

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert (interval.start - T0, interval.canary.requests, interval.control.requests) == (
        30,
        0,
        500,
    )


def test_no_telemetry_is_no_data_not_an_error(store: Store) -> None:
    boolean_flag(store)
    store.add_telemetry([batch(10, "on", 5, flag="other-flag")])

    result = fetch(store)

    assert isinstance(result, NoData)
    assert result.metric == "error_rate"
    assert "no telemetry of flag 'new-checkout'" in result.reason


def test_a_flag_that_does_not_exist_has_no_data(store: Store) -> None:
    result = fetch(store)

    assert isinstance(result, NoData)
    assert "does not exist in production" in result.reason


def test_batches_after_the_last_whole_step_form_a_partial_step_up_to_now(store: Store) -> None:
    """A trigger is judged on every batch as soon as it lands: the batches that ended after
    the last whole step are a step of their own, ending at the moment asked for."""
    boolean_flag(store)
    store.add_telemetry(
        [
            batch(10, "on", 40, 2),
            batch(10, "off", 900, 9),
            batch(95, "on", 30, 3),
            batch(96, "off", 600, 5),
            batch(100, "on", 999, 999),  # ends at the moment asked for: the next call's
        ]
    )

    result = fetch(store, end=T0 + 100)

    assert isinstance(result, MetricSeries)
    got = [
        (i.start - T0, i.end - T0, i.canary.requests, i.canary.errors, i.control.requests,
         i.control.errors)
        for i in result.intervals
    ]  # fmt: skip
    assert got == [(0, 30, 40, 2, 900, 9), (90, 100, 30, 3, 600, 5)]


def test_before_a_whole_step_has_passed_the_batches_so_far_count(store: Store) -> None:
    boolean_flag(store)
    store.add_telemetry([batch(10, "on", 5, 1), batch(12, "off", 50)])

    result = fetch(store, end=T0 + 29)

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert (interval.start - T0, interval.end - T0) == (0, 29)
    assert (interval.canary.requests, interval.canary.errors) == (5, 1)


def test_no_batch_yet_is_no_data(store: Store) -> None:
    boolean_flag(store)

    result = fetch(store, end=T0 + 29)

    assert isinstance(result, NoData)
    assert "no telemetry of flag" in result.reason


def test_a_mean_the_telemetry_does_not_carry_is_refused(store: Store) -> None:
    spec = metric_spec("basket", "mean", higher_is_better=True)

    with pytest.raises(MetricsError, match=r"basket is a mean metric.*prometheus or command"):
        fetch(store, spec)


CONVERSION = metric_spec("checkout_conversion", "conversion")
CHECKOUTS = metric_spec("retries", "count")


def tracked(name: str = "checkout") -> Metric:
    return Metric.model_validate({"kind": "conversion", "queries": {"event": name}})


def with_events(row: TelemetryBatch, **counts: int) -> TelemetryBatch:
    return replace(row, events=tuple(EventCount(n, c, 40.0 * c) for n, c in counts.items()))


def fetch_events(store: Store, spec: MetricSpec, event: str = "checkout") -> MetricSeries:
    result = BuiltinMetricSource(store).fetch(
        spec.name, spec, tracked(event), ArmSelector(ENV, FLAG), start=T0, end=T0 + 100, step=30
    )
    assert isinstance(result, MetricSeries)
    return result


def test_a_conversion_is_the_tracked_events_per_request_of_each_arm_and_step(
    store: Store,
) -> None:
    boolean_flag(store)
    store.add_telemetry(
        [
            with_events(batch(10, "on", 400), checkout=28, signup=300),
            with_events(batch(20, "on", 600, instance="web-2"), checkout=42),
            with_events(batch(20, "off", 1000), checkout=100),
            with_events(batch(50, "on", 100), checkout=7),
            batch(50, "off", 100),  # requests with no checkout: a 0 % step
            with_events(batch(95, "on", 10), checkout=1),  # the partial step from 90 to now
        ]
    )

    result = fetch_events(store, CONVERSION)

    got = [
        (i.start - T0, i.canary.requests, i.canary.conversions, i.control.requests,
         i.control.conversions)
        for i in result.intervals
    ]  # fmt: skip
    assert got == [(0, 1000, 70, 1000, 100), (30, 100, 7, 100, 0), (90, 10, 1, 0, 0)]


def test_more_conversions_than_requests_in_a_step_are_clamped(store: Store) -> None:
    boolean_flag(store)
    store.add_telemetry([with_events(batch(10, "on", 5), checkout=9), batch(10, "off", 5)])

    [interval] = fetch_events(store, CONVERSION).intervals

    assert (interval.canary.requests, interval.canary.conversions) == (5, 5)
    assert interval.canary.problem() is None


def test_a_count_is_the_tracked_events_with_requests_as_exposure(store: Store) -> None:
    boolean_flag(store)
    store.add_telemetry(
        [with_events(batch(10, "on", 5), retries=9), with_events(batch(10, "off", 50), retries=3)]
    )

    [interval] = fetch_events(store, CHECKOUTS, "retries").intervals

    assert (interval.canary.requests, interval.canary.events) == (5, 9)
    assert (interval.control.requests, interval.control.events) == (50, 3)


@pytest.mark.parametrize("spec", [CONVERSION, CHECKOUTS], ids=["conversion", "count"])
@pytest.mark.parametrize("queries", [None, {}, {"event": ""}], ids=["no-def", "none", "empty"])
def test_an_event_metric_without_queries_event_names_the_field(
    store: Store, spec: MetricSpec, queries: dict[str, str] | None
) -> None:
    boolean_flag(store)
    definition = None if queries is None else Metric.model_validate(
        {"kind": spec.kind, "queries": queries}
    )  # fmt: skip

    with pytest.raises(MetricsError, match=f"metrics.{spec.name}.queries.event"):
        BuiltinMetricSource(store).fetch(
            spec.name, spec, definition, ArmSelector(ENV, FLAG), start=T0, end=T0 + 90, step=30
        )


def test_a_flag_is_needed(store: Store) -> None:
    with pytest.raises(MetricsError, match="no flag was named"):
        fetch(store, arms=ArmSelector(ENV))


def test_a_malformed_sketch_in_the_store_names_the_batch(store: Store) -> None:
    boolean_flag(store)
    bad = batch(10, "on", 5)
    store.add_telemetry([TelemetryBatch(**{**bad.__dict__, "latency_sketch": {"v": 9}})])

    with pytest.raises(MetricsError, match=r"SDK instance web-1.*malformed latency sketch"):
        fetch(store, LATENCY)


def test_the_same_variant_cannot_be_both_arms(store: Store) -> None:
    with pytest.raises(MetricsError, match="both variant 'on'"):
        fetch(store, arms=ArmSelector(ENV, FLAG, canary="on", control="on"))


def test_flag_arms_follow_the_ramp() -> None:
    def flag(fallthrough: dict[str, object], **more: object) -> Flag:
        return Flag.model_validate({"key": "x", "fallthrough": fallthrough, **more})

    assert flag_arms(flag({"variant": "off"})) == ("on", "off")
    rollout = {"rollout": {"variant": "blue", "percent": 5, "rest": "green"}}
    assert flag_arms(flag(rollout, variants={"green": "g", "blue": "b"})) == ("blue", "green")
    with pytest.raises(MetricsError, match="cannot tell the canary arm of flag 'x'"):
        flag_arms(flag({"variant": "a"}, variants={"a": "a", "b": "b"}))
