"""Telemetry windows, the wire body, and the sender's retries and bounded queue (against an
in-process HTTP transport; the real server is exercised in test_sdk_streaming.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from rollout import __version__
from rollout.analysis.sketch import LatencySketch
from rollout.sdk.telemetry import OutcomeRecorder, TelemetrySender


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_cut_returns_the_window_and_starts_a_new_one() -> None:
    clock = FakeClock(1000.0)
    recorder = OutcomeRecorder(clock)
    recorder.record("f", "on", 10.0, False)
    recorder.record("f", "on", 30.0, True)
    recorder.record("f", "off", 5.0, False)
    clock.now = 1010.0
    window = recorder.cut()
    assert (window.window_start, window.window_end) == (1000.0, 1010.0)
    arms = {(a.flag, a.variant): a for a in window.arms}
    assert (arms["f", "on"].requests, arms["f", "on"].errors) == (2, 1)
    assert arms["f", "on"].latency.quantile(1.0) == pytest.approx(30.0, rel=0.01)
    assert (arms["f", "off"].requests, arms["f", "off"].errors) == (1, 0)
    clock.now = 1020.0
    empty = recorder.cut()
    assert (empty.window_start, empty.window_end, empty.arms) == (1010.0, 1020.0, ())


@pytest.mark.parametrize("latency", [float("nan"), float("inf"), -0.5])
def test_impossible_latencies_are_refused(latency: float) -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        OutcomeRecorder().record("f", "on", latency, False)


def _window(recorder: OutcomeRecorder, requests: int = 1) -> None:
    for _ in range(requests):
        recorder.record("f", "on", 12.0, False)


def _run(sender: TelemetrySender, handler: Callable[[httpx.Request], httpx.Response]) -> bool:
    async def go() -> bool:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="http://flags"
        ) as http:
            return await sender.send_pending(http)

    return asyncio.run(go())


def test_the_body_follows_the_protocol() -> None:
    recorder = OutcomeRecorder(FakeClock(50.0))
    _window(recorder, 3)
    sender = TelemetrySender("production", "instance-1", max_pending=4)
    sender.enqueue(recorder.cut())
    bodies: list[dict[str, object]] = []

    def accept(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/v1/telemetry")
        bodies.append(json.loads(request.content))
        return httpx.Response(202, json={"accepted": 1})

    assert _run(sender, accept) is True
    (body,) = bodies
    assert body["sdk"] == {
        "name": "rollout-python",
        "version": __version__,
        "instance": "instance-1",
    }
    assert body["environment"] == "production"
    assert body["window_start"] == body["window_end"] == 50.0
    (arm,) = body["arms"]  # type: ignore[misc]
    assert {k: arm[k] for k in ("flag", "variant", "requests", "errors")} == {
        "flag": "f",
        "variant": "on",
        "requests": 3,
        "errors": 0,
    }
    assert LatencySketch.from_dict(arm["latency"]).count == 3
    assert sender.stats().sent_batches == 1
    assert sender.pending == 0


def test_an_empty_window_is_not_sent() -> None:
    sender = TelemetrySender("production", "i", max_pending=4)
    sender.enqueue(OutcomeRecorder().cut())
    assert sender.pending == 0


def test_failures_keep_batches_queued_in_order_until_the_server_is_back() -> None:
    recorder = OutcomeRecorder()
    sender = TelemetrySender("production", "i", max_pending=10)
    for n in (1, 2, 3):
        _window(recorder, n)
        sender.enqueue(recorder.cut())

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert _run(sender, down) is False
    assert _run(sender, lambda r: httpx.Response(503)) is False
    assert _run(sender, lambda r: httpx.Response(429)) is False
    stats = sender.stats()
    assert (stats.failed_attempts, stats.pending_batches, stats.sent_batches) == (3, 3, 0)
    seen: list[int] = []

    def accept(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["arms"][0]["requests"])
        return httpx.Response(202, json={"accepted": 1})

    assert _run(sender, accept) is True
    assert seen == [1, 2, 3]  # oldest first, each once
    assert sender.stats().sent_batches == 3


def test_a_batch_the_server_refuses_is_dropped_not_retried() -> None:
    recorder = OutcomeRecorder()
    sender = TelemetrySender("production", "i", max_pending=10)
    for _ in range(2):
        _window(recorder)
        sender.enqueue(recorder.cut())
    answers = iter([httpx.Response(422, json={"detail": "bad"}), httpx.Response(202)])
    assert _run(sender, lambda r: next(answers)) is True
    stats = sender.stats()
    assert (stats.rejected_batches, stats.sent_batches, stats.pending_batches) == (1, 1, 0)


def test_a_full_queue_drops_the_oldest_batch_and_counts_it() -> None:
    recorder = OutcomeRecorder()
    sender = TelemetrySender("production", "i", max_pending=2)
    for n in (1, 2, 3, 4):
        _window(recorder, n)
        sender.enqueue(recorder.cut())
    assert sender.stats().dropped_batches == 2
    seen: list[int] = []

    def accept(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["arms"][0]["requests"])
        return httpx.Response(202)

    _run(sender, accept)
    assert seen == [3, 4]


def test_concurrent_rounds_never_send_a_batch_twice() -> None:
    recorder = OutcomeRecorder()
    sender = TelemetrySender("production", "i", max_pending=10)
    for n in (1, 2):
        _window(recorder, n)
        sender.enqueue(recorder.cut())
    seen: list[int] = []

    async def slow_accept(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the other round run while this post is in flight
        seen.append(json.loads(request.content)["arms"][0]["requests"])
        return httpx.Response(202)

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(slow_accept), base_url="http://flags"
        ) as http:
            await asyncio.gather(sender.send_pending(http), sender.send_pending(http))

    asyncio.run(go())
    assert seen == [1, 2]
