"""Business events end to end: SDK clients serve a 50 % rollout and track checkouts, their
telemetry bodies are posted to the intake, the built-in source reads them back as a conversion
metric per arm and step, and the analysis judges ``checkout_conversion: no drop`` on it."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from rollout.analysis import MetricSeries, Verdict, judge, metric_spec
from rollout.flags import FlagConfig
from rollout.plan.criteria import parse_criterion
from rollout.plan.model import Metric
from rollout.providers.metrics import ArmSelector, BuiltinMetricSource
from rollout.sdk import RolloutClient
from rollout.sdk.telemetry import TelemetryWindow, telemetry_body
from rollout.store import Store

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
FLAG = "new-checkout"
ROLLOUT = {"fallthrough": {"rollout": {"variant": "on", "percent": 50, "rest": "off"}}}
CONFIG = FlagConfig.model_validate(
    {"environment": "production", "version": 1, "flags": [{"key": FLAG, **ROLLOUT}]}
)
CONVERSION = metric_spec("checkout_conversion", "conversion")
DEFINITION = Metric.model_validate({"kind": "conversion", "queries": {"event": "checkout"}})
NO_DROP = parse_criterion("checkout_conversion: no drop")
WINDOWS, USERS_PER_WINDOW = 4, 10_000


def shop_window(index: int, canary_rate: float, control_rate: float) -> dict[str, Any]:
    """One SDK window: every user is served a page under the flag; a share of them check
    out, the share depending on the arm they were served."""
    client = RolloutClient(None, "production", offline_config=CONFIG)
    chance = random.Random(index)
    for n in range(USERS_PER_WINDOW):
        user = {"targeting_key": f"user-{index}-{n}"}
        with client.request_scope():
            served_new = client.bool_value(FLAG, user)
        if chance.random() < (canary_rate if served_new else control_rate):
            client.track("checkout", user, value=40.0)
    end = T0 + 10 * index + 5  # mid-step: each window lands in its own step
    window = TelemetryWindow(end - 10, end, client.telemetry_snapshot())
    return telemetry_body(window, "production", f"web-{index}")


async def judged(api: httpx.AsyncClient, store: Store, canary: float, control: float) -> Any:
    response = await api.put(f"/api/v1/environments/production/flags/{FLAG}", json=ROLLOUT)
    assert response.status_code in (200, 201), response.text
    for index in range(WINDOWS):
        response = await api.post("/api/v1/telemetry", json=shop_window(index, canary, control))
        assert response.status_code == 202, response.text
    series = BuiltinMetricSource(store).fetch(
        "checkout_conversion",
        CONVERSION,
        DEFINITION,
        ArmSelector("production", FLAG),
        start=T0,
        end=T0 + 10 * WINDOWS,
        step=10,
    )
    assert isinstance(series, MetricSeries)
    assert len(series.intervals) == WINDOWS
    return series, judge(NO_DROP, CONVERSION, series.intervals, role="rollback")


async def test_a_drop_from_10_to_7_percent_fails_no_drop(
    api: httpx.AsyncClient, store: Store
) -> None:
    series, result = await judged(api, store, canary=0.07, control=0.10)

    canary = sum(i.canary.conversions for i in series.intervals)
    exposures = sum(i.canary.requests for i in series.intervals)
    control = sum(i.control.conversions for i in series.intervals)
    control_exposures = sum(i.control.requests for i in series.intervals)
    assert 0.06 < canary / exposures < 0.08
    assert 0.09 < control / control_exposures < 0.11
    assert result.verdict is Verdict.FAIL, result.reason


async def test_an_equal_rate_does_not_fail(api: httpx.AsyncClient, store: Store) -> None:
    _, result = await judged(api, store, canary=0.10, control=0.10)

    assert result.verdict is not Verdict.FAIL, result.reason
