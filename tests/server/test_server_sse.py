"""The config stream's response on its own, driven through ASGI by hand: what it sends and in
which order, the newest version only, keep-alives, and how it ends (client gone, dropped,
server stopping); and the event bytes shared by every stream."""

from __future__ import annotations

import asyncio
import doctest
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rollout.flags import FlagConfig
from rollout.server import _sse, broadcast
from rollout.server._sse import KEEPALIVE, ConfigStream, EventFrames, config_event, retry_block
from rollout.server.broadcast import Broadcaster, CloseReason
from rollout.server.flag_service import ConfigDocument

ENV = "production"


def doc(version: int, environment: str = ENV) -> ConfigDocument:
    config = FlagConfig(environment=environment, version=version)
    return ConfigDocument(environment, version, config, config.to_json())


class Client:
    """The ASGI side of one stream: records what is sent, disconnects on demand."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self._gone = asyncio.Event()
        self._asked = 0

    async def receive(self) -> dict[str, Any]:
        self._asked += 1
        if self._asked == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.arrived.set()

    def leave(self) -> None:
        self._gone.set()

    @property
    def chunks(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]

    @property
    def ended(self) -> bool:
        return bool(self.messages) and self.messages[-1].get("more_body") is False

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait (bounded) until ``predicate`` holds after some message arrived."""

        async def loop() -> None:
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(loop(), 5)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def start(
    hub: Broadcaster, *, keepalive: float | None = None, head: bytes = b"retry: 1000\n\n"
) -> tuple[Client, asyncio.Task[None], broadcast.Subscription]:
    subscription = hub.subscribe(ENV, keepalive_seconds=keepalive)
    stream = ConfigStream(subscription, head=head, sent=1, headers={"Cache-Control": "no-cache"})
    client = Client()
    scope = {"type": "http", "asgi": {"spec_version": "2.3"}}
    task = asyncio.create_task(stream(scope, client.receive, client.send))  # type: ignore[arg-type]
    return client, task, subscription


def test_the_stream_starts_with_the_head_then_sends_each_newer_version() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        client, task, _ = start(hub)
        await client.wait_for(lambda: len(client.chunks) == 1)
        start_message = client.messages[0]
        assert start_message["status"] == 200
        assert (b"content-type", b"text/event-stream; charset=utf-8") in start_message["headers"]
        assert not any(name == b"content-length" for name, _ in start_message["headers"])
        assert client.chunks == [b"retry: 1000\n\n"]

        hub.publish(doc(1))  # the version the head already carried: not sent again
        second = doc(2)
        hub.publish(second)
        await client.wait_for(lambda: len(client.chunks) == 2)
        assert client.chunks[1] == config_event(second)
        assert client.chunks[1].startswith(b"id: 2\nevent: config\ndata: {")
        hub.close()
        await asyncio.wait_for(task, 5)
        assert client.ended and len(client.chunks) == 3

    run(scenario)


def test_a_burst_of_versions_reaches_a_busy_stream_as_the_newest_only() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        client, task, _ = start(hub)
        await client.wait_for(lambda: len(client.chunks) == 1)
        for version in range(2, 7):  # no await in between: the stream cannot run
            hub.publish(doc(version))
        await client.wait_for(lambda: len(client.chunks) == 2)
        hub.close()
        await asyncio.wait_for(task, 5)
        ids = [c.split(b"\n")[0] for c in client.chunks[1:] if c]
        assert ids == [b"id: 6"]

    run(scenario)


def test_a_client_that_disconnects_is_forgotten_and_its_response_ends() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        client, task, subscription = start(hub)
        await client.wait_for(lambda: len(client.chunks) == 1)
        assert hub.subscriber_count(ENV) == 1
        client.leave()
        await asyncio.wait_for(task, 5)
        assert subscription.reason is CloseReason.CLIENT_LEFT
        assert hub.subscriber_count(ENV) == 0
        assert hub.publish(doc(2)) == 0

    run(scenario)


def test_an_idle_stream_gets_keep_alives() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        client, task, _ = start(hub, keepalive=0.02)
        await client.wait_for(lambda: client.chunks.count(KEEPALIVE) >= 2)
        hub.close()
        await asyncio.wait_for(task, 5)
        assert client.chunks[0] == b"retry: 1000\n\n" and client.ended

    run(scenario)


def test_a_stream_born_after_shutdown_sends_its_head_and_ends() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        hub.close()
        client, task, subscription = start(hub, keepalive=5)
        await asyncio.wait_for(task, 5)
        assert client.chunks == [b"retry: 1000\n\n", b""]
        assert subscription.reason is CloseReason.SHUTDOWN

    run(scenario)


def test_a_cancelled_response_closes_its_subscription() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        client, task, subscription = start(hub, keepalive=5)
        await client.wait_for(lambda: len(client.chunks) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert subscription.closed and hub.subscriber_count() == 0

    run(scenario)


def test_one_version_is_encoded_once_for_every_stream() -> None:
    frames = EventFrames()
    document = doc(3)
    first = frames.frame(document)
    assert frames.frame(document) is first  # the same bytes object, not an equal copy
    assert first == config_event(document)


def test_another_apps_document_of_the_same_version_is_not_mixed_up() -> None:
    frames = EventFrames()
    mine = doc(3)
    config = FlagConfig(environment=ENV, version=3, flags=[])
    other = ConfigDocument(ENV, 3, config, '{"other":true}')
    frames.frame(mine)
    assert b'{"other":true}' in frames.frame(other)
    assert frames.frame(mine) == config_event(mine)


def test_an_older_version_does_not_displace_the_newest() -> None:
    frames = EventFrames()
    newest, older = doc(5), doc(4)
    kept = frames.frame(newest)
    frames.frame(older)
    assert frames.frame(newest) is kept


def test_the_retry_block() -> None:
    assert retry_block(1500) == b"retry: 1500\n\n"


@pytest.mark.parametrize("module", [_sse, broadcast])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]
