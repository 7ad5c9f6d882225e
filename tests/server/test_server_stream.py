"""The SSE stream with a real uvicorn server on a loopback port and a real HTTP client reading
it: the initial config, every new version, Last-Event-ID, keep-alives, shutdown; and fan-out
between two servers sharing one SQLite file (periodic check) or Redis pub/sub."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sse_client import END, SseReader

from rollout.server.app import create_app
from rollout.server.feeds import RedisFeed
from rollout.server.flag_service import FlagService
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store

ENV = "production"


def flag(percent: float) -> dict[str, Any]:
    return {"fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}}}


def stream_url(base: str, environment: str = ENV) -> str:
    return f"{base}/api/v1/environments/{environment}/stream"


def put(base: str, key: str, percent: float) -> None:
    response = httpx.put(
        f"{base}/api/v1/environments/{ENV}/flags/{key}",
        json=flag(percent),
        headers={"X-Rollout-Actor": "ann"},
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def server(store: Store) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(store, keepalive_seconds=60, auth=False)) as running:
        yield running


def test_a_client_gets_the_current_config_then_every_new_version(
    server: BackgroundServer,
) -> None:
    put(server.url, "a", 5)
    reader = SseReader(stream_url(server.url))
    assert reader.status == 200
    assert reader.content_type.startswith("text/event-stream")
    assert reader.next().retry == 1000
    first = reader.next_config()
    assert first.id == "1"
    assert first.config().version == 1

    put(server.url, "a", 25)
    put(server.url, "b", 50)
    second = reader.config_with_version(2)
    a = second.flag("a")
    assert a is not None and a.fallthrough.weights()[0] == ("on", 25_000)
    third = reader.next_config()
    assert (third.id, [f.key for f in third.config().flags]) == ("3", ["a", "b"])


def test_an_unconfigured_environment_streams_version_0(server: BackgroundServer) -> None:
    reader = SseReader(stream_url(server.url, "staging"))
    block = reader.next_config()
    assert (block.id, block.config().flags) == ("0", ())


def test_last_event_id_at_the_current_version_skips_the_initial_config(
    server: BackgroundServer,
) -> None:
    put(server.url, "a", 5)
    reader = SseReader(stream_url(server.url), headers={"Last-Event-ID": "1"})
    assert reader.next().retry == 1000
    put(server.url, "a", 10)
    block = reader.next_config()
    assert block.id == "2"  # not 1: the client said it had that


def test_last_event_id_behind_gets_the_current_config_at_once(server: BackgroundServer) -> None:
    put(server.url, "a", 5)
    put(server.url, "a", 10)
    reader = SseReader(stream_url(server.url), headers={"Last-Event-ID": "1"})
    assert reader.next_config().id == "2"


def test_an_idle_stream_sends_keep_alive_comments(store: Store) -> None:
    with BackgroundServer(create_app(store, keepalive_seconds=0.2, auth=False)) as server:
        reader = SseReader(stream_url(server.url))
        reader.next_config()
        assert reader.next(timeout=5).comment == "keep-alive"
        assert reader.next(timeout=5).comment == "keep-alive"


def test_a_bad_environment_is_refused_before_streaming(server: BackgroundServer) -> None:
    response = httpx.get(stream_url(server.url, "bad env"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "environment"]


def test_stopping_the_server_ends_open_streams_promptly(store: Store) -> None:
    server = BackgroundServer(create_app(store, keepalive_seconds=60, auth=False)).start()
    readers = [SseReader(stream_url(server.url)) for _ in range(3)]
    for reader in readers:
        reader.next_config()
    server.stop(timeout=4)  # well under uvicorn's grace period: streams did not hold it up
    for reader in readers:
        assert reader.next(timeout=5) is END
        reader.wait_closed()


def test_a_client_that_hangs_up_is_forgotten(server: BackgroundServer) -> None:
    with httpx.stream("GET", stream_url(server.url), timeout=10) as response:
        lines = response.iter_lines()  # held: a dropped iterator would close the stream
        assert next(lines) == "retry: 1000"
        assert "rollout_sse_clients 1.0" in httpx.get(f"{server.url}/metrics").text
    # Bounded wait for the server to notice the closed connection (no fixed sleep).
    deadline = time.monotonic() + 10
    while "rollout_sse_clients 0.0" not in httpx.get(f"{server.url}/metrics").text:
        assert time.monotonic() < deadline, "the server still counts the client"
        time.sleep(0.02)


def test_sse_clients_are_counted_in_metrics(server: BackgroundServer) -> None:
    readers = [SseReader(stream_url(server.url)) for _ in range(2)]
    for reader in readers:
        reader.next_config()
    text = httpx.get(f"{server.url}/metrics").text
    assert "rollout_sse_clients 2.0" in text


def test_a_change_written_to_the_database_directly_reaches_clients(
    db_file: str, store: Store
) -> None:
    """``rollout flags`` without --server writes the shared SQLite file; the server's periodic
    version check picks the change up."""
    app = create_app(store, poll_seconds=0.2, keepalive_seconds=60, auth=False)
    with BackgroundServer(app) as server, open_store(db_file) as other:
        reader = SseReader(stream_url(server.url))
        reader.next_config()
        FlagService(other).put_flag(ENV, "cli-flag", flag(5), actor="cli")
        config = reader.config_with_version(1, timeout=10)
        assert [f.key for f in config.flags] == ["cli-flag"]


def test_two_replicas_on_one_sqlite_file_relay_changes_by_polling(
    db_file: str, store: Store
) -> None:
    with (
        open_store(db_file) as store_b,
        BackgroundServer(create_app(store, poll_seconds=0.2, auth=False)) as a,
        BackgroundServer(create_app(store_b, poll_seconds=0.2, auth=False)) as b,
    ):
        reader = SseReader(stream_url(b.url))
        reader.next_config()
        put(a.url, "a", 5)
        assert reader.config_with_version(1).flag("a") is not None


def test_two_replicas_relay_changes_through_redis(
    db_file: str, store: Store, redis_url: str
) -> None:
    # poll_seconds=0: only Redis can carry the change from A to B.
    with (
        open_store(db_file) as store_b,
        BackgroundServer(
            create_app(store, feed=RedisFeed(redis_url), poll_seconds=0, auth=False)
        ) as a,
        BackgroundServer(
            create_app(store_b, feed=RedisFeed(redis_url), poll_seconds=0, auth=False)
        ) as b,
    ):
        reader = SseReader(stream_url(b.url))
        reader.next_config()
        put(a.url, "a", 5)
        assert reader.config_with_version(1).flag("a") is not None
        put(a.url, "a", 50)
        assert reader.config_with_version(2).flag("a") is not None
