"""What SDKs call, through httpx against the ASGI app: the config with ETag / 304, telemetry
intake (rows in the store, 422 naming the field, counted), health, metrics and OpenAPI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rollout.analysis.sketch import LatencySketch
from rollout.flags import FlagConfig
from rollout.store import Store

pytestmark = pytest.mark.anyio

CONFIG = "/api/v1/environments/production/config"
T0 = 1_760_000_000.0  # 2025-10-09T08:53:20Z


def flag(percent: float) -> dict[str, Any]:
    return {"fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}}}


async def test_an_environment_nobody_configured_is_version_0(api: httpx.AsyncClient) -> None:
    response = await api.get(CONFIG)
    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    assert response.headers["content-type"] == "application/json"
    assert FlagConfig.model_validate_json(response.text) == FlagConfig(
        environment="production", version=0
    )


async def test_config_carries_every_flag_and_its_version_as_etag(
    api: httpx.AsyncClient,
) -> None:
    await api.put("/api/v1/environments/production/flags/a", json=flag(5))
    await api.put("/api/v1/environments/production/flags/b", json=flag(50))
    await api.post("/api/v1/environments/production/flags/a/rollout", json={"percent": 10})
    response = await api.get(CONFIG)
    config = FlagConfig.model_validate_json(response.text)
    assert response.headers["etag"] == f'"{config.version}"' == '"3"'
    a = config.flag("a")
    assert a is not None and a.fallthrough.weights() == (("on", 10_000), ("off", 90_000))
    assert config.to_json() == response.text  # exactly the model's JSON


async def test_if_none_match_with_the_current_version_is_a_304(api: httpx.AsyncClient) -> None:
    await api.put("/api/v1/environments/production/flags/a", json=flag(5))
    unchanged = await api.get(CONFIG, headers={"If-None-Match": '"1"'})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged.headers["etag"] == '"1"'
    await api.post("/api/v1/environments/production/flags/a/kill")
    changed = await api.get(CONFIG, headers={"If-None-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    weak = await api.get(CONFIG, headers={"If-None-Match": 'W/"7", W/"2"'})
    assert weak.status_code == 304


def batch(**changes: Any) -> dict[str, Any]:
    sketch = LatencySketch()
    for ms in (12.0, 15.0, 80.0):
        sketch.add(ms)
    body: dict[str, Any] = {
        "sdk": {"name": "rollout-python", "version": "0.1.0", "instance": "i-1"},
        "environment": "production",
        "window_start": T0,
        "window_end": T0 + 10,
        "arms": [
            {"flag": "a", "variant": "on", "requests": 3, "errors": 1, "latency": sketch.to_dict()},
            {"flag": "a", "variant": "off", "requests": 7, "errors": 0, "latency": None},
        ],
    }
    body.update(changes)
    return body


async def test_telemetry_rows_arrive_in_the_store(api: httpx.AsyncClient, store: Store) -> None:
    response = await api.post("/api/v1/telemetry", json=batch())
    assert (response.status_code, response.json()) == (202, {"accepted": 2})
    since = datetime.fromtimestamp(T0, UTC)
    until = datetime.fromtimestamp(T0 + 11, UTC)
    rows = store.query_telemetry("production", "a", since, until)
    by_arm = {row.variant: row for row in rows}
    assert set(by_arm) == {"on", "off"}
    on = by_arm["on"]
    assert (on.requests, on.errors, on.sdk_instance) == (3, 1, "i-1")
    assert (on.window_start, on.window_end) == (since, datetime.fromtimestamp(T0 + 10, UTC))
    assert LatencySketch.from_dict(on.latency_sketch).count == 3
    assert by_arm["off"].latency_sketch is None


async def test_tracked_events_arrive_with_their_arm(api: httpx.AsyncClient, store: Store) -> None:
    arms = batch()["arms"]
    arms[0]["events"] = [{"name": "checkout", "count": 2, "value_sum": 80.5}]
    arms[1]["events"] = [{"name": "checkout", "count": 1}, {"name": "signup", "count": 4}]
    response = await api.post("/api/v1/telemetry", json=batch(arms=arms))
    assert response.status_code == 202, response.text
    since, until = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 11, UTC)
    by_arm = {row.variant: row for row in store.query_telemetry("production", "a", since, until)}
    assert [(e.name, e.count, e.value_sum) for e in by_arm["on"].events] == [("checkout", 2, 80.5)]
    assert [(e.name, e.count, e.value_sum) for e in by_arm["off"].events] == [
        ("checkout", 1, None),
        ("signup", 4, None),
    ]


async def test_error_subjects_arrive_with_their_arm(api: httpx.AsyncClient, store: Store) -> None:
    arms = batch()["arms"]
    arms[0].update(requests=40, errors=30, error_subjects=1)  # one client retrying
    response = await api.post("/api/v1/telemetry", json=batch(arms=arms))
    assert response.status_code == 202, response.text
    since, until = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 11, UTC)
    by_arm = {row.variant: row for row in store.query_telemetry("production", "a", since, until)}
    assert (by_arm["on"].errors, by_arm["on"].error_subjects) == (30, 1)
    assert by_arm["off"].error_subjects is None  # left out, as older SDKs do


def _with_subjects(errors: int, subjects: Any) -> dict[str, Any]:
    return {"arms": [{"flag": "a", "variant": "on", "requests": 5, "errors": errors,
                      "error_subjects": subjects}]}  # fmt: skip


def _with_events(*events: dict[str, Any]) -> dict[str, Any]:
    return {"arms": [{"flag": "a", "variant": "on", "requests": 1, "errors": 0,
                      "events": list(events)}]}  # fmt: skip


def _arms_naming(count: int) -> dict[str, Any]:
    arms = [
        {"flag": "a", "variant": f"v{i}", "requests": 1, "errors": 0,
         "events": [{"name": f"event-{i}", "count": 1}]}
        for i in range(count)
    ]  # fmt: skip
    return {"arms": arms}


async def test_a_hundred_event_names_per_batch_are_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/telemetry", json=batch(**_arms_naming(100)))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"arms": [{"flag": "a", "variant": "on", "requests": 2, "errors": 3}]},
         ["body", "arms", 0, "errors"]),
        ({"arms": [{"flag": "a", "variant": "on", "requests": -1, "errors": 0}]},
         ["body", "arms", 0, "requests"]),
        ({"arms": [{"flag": "a", "variant": "on", "requests": 1.5, "errors": 0}]},
         ["body", "arms", 0, "requests"]),
        ({"arms": [{"flag": "a", "variant": "on", "requests": 1, "errors": 0,
                    "latency": {"v": 1, "a": 0.01, "z": 0, "o": 0, "c": [-4]}}]},
         ["body", "arms", 0, "latency"]),
        ({"window_end": T0 - 1}, ["body", "window_end"]),
        ({"window_start": float("inf")}, ["body", "window_start"]),
        ({"environment": "no spaces"}, ["body", "environment"]),
        ({"sdk": {"name": "x", "version": "1"}}, ["body", "sdk", "instance"]),
        (_with_events({"name": "checkout", "count": -1}),
         ["body", "arms", 0, "events", 0, "count"]),
        (_with_events({"name": "checkout", "count": 1.5}),
         ["body", "arms", 0, "events", 0, "count"]),
        (_with_events({"name": "", "count": 1}), ["body", "arms", 0, "events", 0, "name"]),
        (_with_events({"name": "x" * 201, "count": 1}),
         ["body", "arms", 0, "events", 0, "name"]),
        (_with_events({"name": "checkout", "count": 1, "value_sum": float("nan")}),
         ["body", "arms", 0, "events", 0, "value_sum"]),
        (_with_events({"name": "checkout", "count": 1}, {"name": "checkout", "count": 2}),
         ["body", "arms", 0, "events"]),
        (_arms_naming(101), ["body", "arms"]),
        (_with_subjects(1, 2), ["body", "arms", 0, "error_subjects"]),
        (_with_subjects(1, -1), ["body", "arms", 0, "error_subjects"]),
        (_with_subjects(1, 0.5), ["body", "arms", 0, "error_subjects"]),
    ],
    ids=["errors>requests", "negative", "fraction", "bad-sketch", "window", "infinite",
         "environment", "instance", "negative-count", "fraction-count", "empty-name", "long-name",
         "nan-sum", "name-twice", "too-many-names", "subjects>errors", "negative-subjects",
         "fraction-subjects"],
)  # fmt: skip
async def test_a_bad_telemetry_batch_is_a_422_naming_the_field(
    api: httpx.AsyncClient, store: Store, changes: dict[str, Any], loc: list[str | int]
) -> None:
    body = batch(**changes)
    content = json.dumps(body)  # the standard library writes Infinity, as a bad SDK might
    response = await api.post(
        "/api/v1/telemetry", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert loc in [item["loc"] for item in response.json()["detail"]]
    since, until = datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(T0 + 100, UTC)
    assert store.query_telemetry("production", "a", since, until) == []


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


async def test_metrics_count_telemetry_rows(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/telemetry", json=batch())
    await api.post("/api/v1/telemetry", json=batch(arms=batch()["arms"][:1]))
    text = (await api.get("/metrics")).text
    assert metric(text, "rollout_telemetry_rows_total") == 3
    assert metric(text, "rollout_telemetry_batches_total") == 2
    assert metric(text, "rollout_sse_clients") == 0


async def test_healthz(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_openapi_documents_every_route_with_models_and_errors(
    api: httpx.AsyncClient,
) -> None:
    spec = (await api.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    expected = {
        ("GET", "/api/v1/environments/{environment}/config"),
        ("GET", "/api/v1/environments/{environment}/stream"),
        ("POST", "/api/v1/telemetry"),
        ("GET", "/api/v1/environments/{environment}/flags"),
        ("PUT", "/api/v1/environments/{environment}/flags/{key}"),
        ("DELETE", "/api/v1/environments/{environment}/flags/{key}"),
        ("POST", "/api/v1/environments/{environment}/flags/{key}/rollout"),
        ("POST", "/api/v1/environments/{environment}/flags/{key}/kill"),
        ("POST", "/api/v1/environments/{environment}/flags/{key}/revive"),
        ("GET", "/api/v1/environments/{environment}/flags/{key}/history"),
        ("PUT", "/api/v1/environments/{environment}/segments/{key}"),
        ("GET", "/healthz"),
    }
    assert expected <= set(operations)
    for op in operations.values():
        assert op.get("summary"), op
    put = operations[("PUT", "/api/v1/environments/{environment}/flags/{key}")]
    body_schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/FlagDefinition"}
    assert set(put["responses"]) >= {"200", "409", "412", "422"}
    assert put["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrorBody"
    }
    config = operations[("GET", "/api/v1/environments/{environment}/config")]
    assert set(config["responses"]) >= {"200", "304"}
    schemas = spec["components"]["schemas"]
    assert {"FlagConfig", "FlagOut", "History", "TelemetryBatchIn", "ErrorBody"} <= set(schemas)
