"""Failing subjects: a subject whose requests fail again and again in one telemetry window counts
once per arm, so one client retrying in a loop cannot look like a regression."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rollout.flags import FlagConfig
from rollout.sdk import RolloutASGIMiddleware, RolloutClient, RolloutWSGIMiddleware
from rollout.sdk.telemetry import MAX_ERROR_SUBJECTS, OutcomeRecorder, telemetry_body

CONFIG = FlagConfig.model_validate(
    {
        "environment": "test",
        "version": 1,
        "flags": [
            {"key": "theme", "variants": {"dark": "dark"}, "fallthrough": {"variant": "dark"}}
        ],
    }
)


def _counts(recorder: OutcomeRecorder) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (a.flag, a.variant): (a.requests, a.errors, a.error_subjects) for a in recorder.cut().arms
    }


def test_a_subject_failing_again_and_again_counts_once_per_arm_and_window() -> None:
    recorder = OutcomeRecorder()
    for _ in range(30):
        recorder.record("f", "on", 5.0, True, "client-7")
    recorder.record("f", "on", 5.0, True, "user-1")
    recorder.record("f", "on", 5.0, False, "user-2")  # a success names no failing subject
    recorder.record("f", "off", 5.0, True, "client-7")  # another arm counts it again
    assert _counts(recorder) == {("f", "on"): (32, 31, 2), ("f", "off"): (1, 1, 1)}
    recorder.record("f", "on", 5.0, True, "client-7")  # and so does the next window
    assert _counts(recorder) == {("f", "on"): (1, 1, 1)}


def test_failures_without_a_subject_each_count_as_one() -> None:
    recorder = OutcomeRecorder()
    for _ in range(3):
        recorder.record("f", "on", 5.0, True)
    recorder.record("f", "on", 5.0, True, "user-1")
    assert _counts(recorder) == {("f", "on"): (4, 4, 4)}


def test_beyond_the_bound_each_failure_of_a_new_subject_counts_on_its_own() -> None:
    recorder = OutcomeRecorder()
    for i in range(MAX_ERROR_SUBJECTS):
        recorder.record("f", "on", 1.0, True, f"user-{i}")
    recorder.record("f", "on", 1.0, True, "user-0")  # remembered: still once
    for _ in range(2):
        recorder.record("f", "on", 1.0, True, "late-user")  # not remembered: twice
    total = MAX_ERROR_SUBJECTS + 3
    assert _counts(recorder) == {("f", "on"): (total, total, MAX_ERROR_SUBJECTS + 2)}


def test_the_wire_body_carries_error_subjects_on_each_arm() -> None:
    recorder = OutcomeRecorder(lambda: 100.0)
    recorder.record("f", "on", 5.0, True, "u")
    recorder.record("f", "on", 5.0, True, "u")
    (arm,) = telemetry_body(recorder.cut(), "production", "i-1")["arms"]
    assert (arm["errors"], arm["error_subjects"]) == (2, 1)


def test_client_record_passes_the_subject_on() -> None:
    client = RolloutClient(None, "test", offline_config=CONFIG)
    for _ in range(4):
        client.record("theme", "dark", 3.0, error=True, subject="client-7")
    (arm,) = client.telemetry_snapshot()
    assert (arm.errors, arm.error_subjects) == (4, 1)


def test_a_scope_takes_its_subject_from_the_first_context_with_a_targeting_key() -> None:
    client = RolloutClient(None, "test", offline_config=CONFIG)
    for user in ("u1", "u1", "u2"):
        with client.request_scope() as request:
            client.string_value("theme", {}, "")  # no key: not the subject
            client.string_value("theme", {"targeting_key": user}, "")
            client.string_value("theme", {"targeting_key": "someone-else"}, "")
            request.error = True
    with client.request_scope() as request:
        client.string_value("theme", None, "")
        request.subject = "u1"  # set by the code handling the request
        request.error = True
    (arm,) = client.telemetry_snapshot()
    assert (arm.requests, arm.errors, arm.error_subjects) == (4, 4, 2)


def _failing_asgi(client: RolloutClient) -> Starlette:
    async def failing(request: Request) -> Response:
        context = {"targeting_key": request.query_params["user"]} if request.query_params else {}
        client.string_value("theme", context, "")
        return PlainTextResponse("oops", status_code=503)

    return Starlette(routes=[Route("/failing", failing)])


@pytest.fixture
def client() -> RolloutClient:
    return RolloutClient(None, "test", offline_config=CONFIG)


def test_asgi_middleware_counts_each_failing_user_once(client: RolloutClient) -> None:
    app = RolloutASGIMiddleware(_failing_asgi(client), client)

    async def traffic() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            for params in [{"user": "retrier"}] * 5 + [{"user": "other"}, {}]:
                assert (await http.get("/failing", params=params)).status_code == 503

    asyncio.run(traffic())
    (arm,) = client.telemetry_snapshot()
    assert (arm.errors, arm.error_subjects) == (7, 3)  # retrier, other, and one unnamed


StartResponse = Callable[..., Any]


def test_wsgi_middleware_counts_each_failing_user_once(client: RolloutClient) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        user = environ.get("QUERY_STRING", "").removeprefix("user=")
        client.string_value("theme", {"targeting_key": user}, "")
        start_response("500 Internal Server Error", [])
        return [b"oops"]

    http = httpx.Client(
        transport=httpx.WSGITransport(app=RolloutWSGIMiddleware(app, client)),
        base_url="http://app",
    )
    for user in ["retrier"] * 4 + ["other"]:
        assert http.get("/", params={"user": user}).status_code == 500
    (arm,) = client.telemetry_snapshot()
    assert (arm.errors, arm.error_subjects) == (5, 2)
