"""ConfigSync against scripted answers: what it sends, and what it does with bad answers
(the real server never sends these, so an in-process transport plays it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from sdk_support import boolean_flag, config_dict

from rollout.errors import ProviderError
from rollout.sdk.snapshot import load_config
from rollout.sdk.sync import ConfigSync, SyncMode, SyncSettings

GOOD = json.dumps(config_dict(7, boolean_flag("f", 50)))


class Sink:
    def __init__(self, version: int | None = None) -> None:
        self.version = version
        self.applied: list[int] = []
        self.failures: list[str] = []
        self.modes: list[SyncMode] = []

    def server_version(self) -> int | None:
        return self.version

    def apply(self, text: str) -> None:
        config, _ = load_config(text)  # FlagError for a bad config, as in the client
        self.version = config.version
        self.applied.append(config.version)

    def failed(self, message: str) -> None:
        self.failures.append(message)

    def mode_changed(self, mode: SyncMode) -> None:
        self.modes.append(mode)


def _sync(
    handler: Callable[[httpx.Request], httpx.Response], sink: Sink, **settings: object
) -> tuple[ConfigSync, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://flags")
    return ConfigSync(http, SyncSettings("prod", **settings), sink), http  # type: ignore[arg-type]


def _events(*pairs: tuple[int, str]) -> bytes:
    return b"".join(f"id: {v}\nevent: config\ndata: {d}\n\n".encode() for v, d in pairs)


def test_the_stream_request_carries_the_installed_version() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=b"retry: 250\n\n"
        )

    sink = Sink(version=6)
    sync, http = _sync(answer, sink)
    with pytest.raises(ProviderError, match="closed the stream"):
        asyncio.run(sync.stream_once())
    asyncio.run(http.aclose())
    (request,) = seen
    assert request.url.path == "/api/v1/environments/prod/stream"
    assert request.headers["last-event-id"] == "6"
    assert request.headers["accept"] == "text/event-stream"
    assert sink.modes == [SyncMode.STREAMING]


def test_an_invalid_config_event_is_reported_and_the_next_good_one_applied() -> None:
    body = _events((7, "{not json"), (8, GOOD.replace('"version": 7', '"version": 8')))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    sink = Sink()
    sync, _ = _sync(answer, sink)
    with pytest.raises(ProviderError):
        asyncio.run(sync.stream_once())
    assert sink.applied == [8]
    assert len(sink.failures) == 1 and "invalid config" in sink.failures[0]


@pytest.mark.parametrize(
    ("status", "content_type", "message"),
    [(503, "text/plain", "HTTP 503"), (200, "application/json", "not an event stream")],
)
def test_answers_that_are_not_a_stream_fail_the_attempt(
    status: int, content_type: str, message: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, content=GOOD)

    sink = Sink()
    sync, _ = _sync(answer, sink)
    with pytest.raises(ProviderError, match=message):
        asyncio.run(sync.stream_once())
    assert sink.applied == []


def test_a_poll_is_conditional_and_a_304_changes_nothing() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304)

    sink = Sink(version=7)
    sync, _ = _sync(answer, sink)
    asyncio.run(sync.poll_once())
    assert seen[0].headers["if-none-match"] == '"7"'
    assert seen[0].url.path == "/api/v1/environments/prod/config"
    assert sink.applied == [] and sink.failures == []


def test_a_poll_with_a_bad_config_keeps_the_installed_one() -> None:
    sink = Sink(version=3)
    sync, _ = _sync(lambda request: httpx.Response(200, text='{"version": -1}'), sink)
    asyncio.run(sync.poll_once())
    assert sink.version == 3 and sink.applied == []
    assert "invalid config" in sink.failures[0]


def test_environments_are_percent_encoded_in_paths() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(304)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://flags")
    asyncio.run(ConfigSync(http, SyncSettings("eu/prod 1"), Sink(version=1)).poll_once())
    assert seen == ["/api/v1/environments/eu%2Fprod%201/config"]
