"""Baselines: measured over all traffic before the start, kept in the store, reported beside
the plan's own figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from metrics_plans import plan
from metrics_telemetry import T0, batch, boolean_flag, sketch

from rollout.errors import MetricsError, NotFound
from rollout.providers.metrics import (
    Baseline,
    baseline_metrics,
    default_registry,
    measure_baselines,
)
from rollout.store import Store

NOW = T0 + 3600  # the plan's baseline window is the hour before NOW


def hour_of_traffic(store: Store) -> None:
    """12,000 requests with 48 errors before the start, nearly all on the control arm; plus
    batches just outside the hour that must not count."""
    boolean_flag(store, percent=0)
    store.add_telemetry(
        [
            batch(600, "off", 5000, 20, sketch(*[100.0] * 98, 900.0, 900.0)),
            batch(1800, "off", 6990, 28, sketch(*[120.0] * 98, 950.0, 950.0)),
            batch(3000, "on", 10, 0),  # a few internal testers on the new version
            batch(-5, "off", 99_999, 99_999),  # ended before the window
            batch(3600, "off", 99_999, 99_999),  # ended at NOW: after it (half-open)
        ]
    )


def test_measured_over_all_traffic_and_kept_in_the_store(store: Store) -> None:
    hour_of_traffic(store)

    found = measure_baselines(plan(), default_registry(store=store), NOW, store=store)

    error_rate, latency = found
    assert error_rate == Baseline(
        metric="error_rate",
        value=48 / 12_000,
        planned=None,
        measured=48 / 12_000,
        exposures=12_000,
        window_seconds=3600.0,
        note="error_rate: measured 0.40% over the 1h before the start (12,000 requests)",
    )
    assert latency.metric == "latency_p99"
    assert latency.exposures == 200  # only batches with a sketch carry latency
    assert latency.measured == pytest.approx(900.0, rel=0.01)
    kept = store.get_baseline("checkout", "error_rate")
    assert (kept.value, kept.window_seconds) == (48 / 12_000, 3600.0)
    assert kept.measured_at == datetime.fromtimestamp(NOW, UTC)


def test_the_plans_baselines_are_used_and_the_measurement_shown_beside(store: Store) -> None:
    hour_of_traffic(store)
    p = plan(monitoring={"error_rate_baseline": "0.2%", "latency_baseline": "250ms"})

    error_rate, latency = measure_baselines(p, default_registry(store=store), NOW)

    assert (error_rate.value, error_rate.planned, error_rate.measured) == (
        0.002,
        0.002,
        48 / 12_000,
    )
    assert error_rate.note == (
        "error_rate: the plan's 0.2% is used; measured 0.40% over the 1h before the start "
        "(12,000 requests)"
    )
    assert latency.value == 250.0
    assert latency.note.startswith("latency_p99: the plan's 250 ms is used; measured 9")


def test_no_traffic_gives_no_baseline_unless_the_plan_has_one(store: Store) -> None:
    p = plan(monitoring={"latency_baseline": "300ms"})

    error_rate, latency = measure_baselines(p, default_registry(store=store), NOW, store=store)

    assert (error_rate.value, error_rate.measured) == (None, None)
    assert error_rate.note == "error_rate: no data over the 1h before the start"
    assert (latency.value, latency.measured) == (300.0, None)
    with pytest.raises(NotFound):
        store.get_baseline("checkout", "error_rate")


def test_a_failing_source_only_matters_without_a_planned_baseline(tmp_path: Path) -> None:
    failing = {"type": "command", "run": "echo 'warehouse down' >&2; exit 1"}
    registry = default_registry(base_dir=tmp_path)

    planned = plan(monitoring={"source": failing, "error_rate_baseline": "1%"})
    [error_rate] = measure_baselines(planned, registry, NOW, metrics=["error_rate"])
    assert error_rate.value == 0.01
    assert "measuring it failed: the metric command for error_rate exited with 1" in error_rate.note

    with pytest.raises(MetricsError, match="warehouse down"):
        measure_baselines(
            plan(monitoring={"source": failing}), registry, NOW, metrics=["error_rate"]
        )


def test_the_business_metric_is_measured_by_its_own_source(tmp_path: Path) -> None:
    (tmp_path / "conversions.json").write_text(
        f'{{"intervals": [{{"start": {T0}, "end": {NOW}, '
        '"canary": {"requests": 100, "conversions": 5}, '
        '"control": {"requests": 900, "conversions": 27}}]}'
    )
    p = plan(
        monitoring={
            "business_metric": "checkout_conversion",
            "metrics": {
                "checkout_conversion": {
                    "kind": "conversion",
                    "source": {"type": "command", "run": "cat conversions.json"},
                }
            },
        }
    )

    [found] = measure_baselines(
        p, default_registry(base_dir=tmp_path), NOW, metrics=["checkout_conversion"]
    )

    assert (found.measured, found.exposures) == (32 / 1000, 1000)


def test_unknown_metrics_are_reported_not_measured(store: Store) -> None:
    [found] = measure_baselines(plan(), default_registry(store=store), NOW, metrics=["typo_rate"])

    assert found.value is None
    assert "not a metric the plan defines or a built-in name" in found.note


def test_which_metrics_have_baselines() -> None:
    assert baseline_metrics(plan()) == ("error_rate", "latency_p99")
    stages = [
        {"name": "Canary", "audience": 5, "duration": "10m", "success": ["latency_p95 < 800ms"]},
        {"name": "Everyone", "audience": 100, "duration": "10m"},
    ]
    p = plan(
        stages=stages,
        validation={"performance": {"metric": "latency_p99.9"}},
        monitoring={
            "business_metric": "checkout",
            "metrics": {"checkout": {"kind": "conversion", "queries": {"event": "order"}}},
        },
    )
    assert baseline_metrics(p) == ("error_rate", "latency_p95", "latency_p99.9", "checkout")
