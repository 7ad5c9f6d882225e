"""The client against the real server: SSE updates, reconnects after a restart, the disk cache
with the server down, the polling fallback, dead-link detection, telemetry into the store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sdk_server import ServerStack
from sdk_support import Changes, boolean_flag

from rollout.analysis.sketch import LatencySketch
from rollout.sdk import ConfigCache, ConfigSource, RolloutClient, SyncMode

ENV = "production"
WAIT = 10.0  # upper bound of every wait; the waits end as soon as the awaited event happens
USER = {"targeting_key": "user-1"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ServerStack]:
    stack = ServerStack(tmp_path)
    yield stack
    stack.close()


@pytest.fixture
def clients() -> Iterator[list[RolloutClient]]:
    made: list[RolloutClient] = []
    yield made
    for client in made:
        client.close()


def _client(made: list[RolloutClient], url: str, cache: Path, **options: Any) -> RolloutClient:
    client = RolloutClient(url, ENV, cache_dir=cache, **options)
    made.append(client)
    return client


def _wait_until(condition: Any, what: str) -> None:
    """Bounded wait for a state the client reaches on its own thread."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_the_stream_delivers_the_config_and_every_change(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start()
    stack.put_flag(ENV, boolean_flag("checkout", 0))
    client = _client(clients, stack.url, tmp_path / "cache")
    changes = Changes(client)
    assert client.wait_until_ready(WAIT)
    assert (client.source, client.mode) == (ConfigSource.SERVER, SyncMode.STREAMING)
    assert client.bool_value("checkout", USER, True) is False

    version = stack.put_flag(ENV, boolean_flag("checkout", 100))
    change = changes.wait_for(lambda c: c.version == version, WAIT)
    assert change.flags_changed == {"checkout"}
    assert change.source == ConfigSource.SERVER
    assert client.bool_value("checkout", USER, False) is True
    detail = client.evaluate("checkout", USER, False)
    assert (detail.variant, detail.reason) == ("on", "SPLIT")

    # The last good config is on disk for the next start.
    cached = ConfigCache(tmp_path / "cache", stack.url, ENV).load()
    assert cached is not None and cached.config.version == version
    # One stream, no polling.
    assert len(stack.seen("/stream")) == 1
    assert stack.seen("/config") == []


def test_the_stream_reconnects_after_a_server_restart(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start()
    first = stack.put_flag(ENV, boolean_flag("checkout", 0))
    client = _client(clients, stack.url, tmp_path / "cache", failures_before_polling=1000)
    changes = Changes(client)
    assert client.wait_until_ready(WAIT)

    stack.stop()
    _wait_until(lambda: client.mode is not SyncMode.STREAMING, "the client to notice the stop")
    stack.start()  # same port, same store
    _wait_until(lambda: client.mode is SyncMode.STREAMING, "the client to reconnect")
    version = stack.put_flag(ENV, boolean_flag("checkout", 100))
    changes.wait_for(lambda c: c.version == version, WAIT)
    assert client.bool_value("checkout", USER, False) is True
    assert client.mode is SyncMode.STREAMING
    assert stack.seen("/config") == []  # all by stream
    # The reconnect told the server what the client already had.
    reconnects = [s for s in stack.seen("/stream") if "last-event-id" in s.headers]
    assert reconnects and reconnects[0].headers["last-event-id"] == str(first)


def test_the_disk_cache_is_served_while_the_server_is_down_at_start(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    stack.start()
    version = stack.put_flag(ENV, boolean_flag("checkout", 100))
    with RolloutClient(stack.url, ENV, cache_dir=cache) as warm:
        assert warm.wait_until_ready(WAIT)
    stack.stop()

    client = _client(clients, stack.url, cache)  # the application restarts; no server
    changes = Changes(client)
    assert client.wait_until_ready(WAIT)
    assert client.source == ConfigSource.CACHE
    assert client.version == version
    detail = client.evaluate("checkout", USER, False)
    assert (detail.value, detail.variant, detail.reason) == (True, "on", "SPLIT")
    assert client.last_error and "unreachable" in client.last_error

    # The server comes back with a change: the client switches to it.
    stack.start()
    newer = stack.put_flag(ENV, boolean_flag("checkout", 0))
    changes.wait_for(lambda c: c.version == newer and c.source == ConfigSource.SERVER, WAIT)
    assert client.source == ConfigSource.SERVER
    assert client.bool_value("checkout", USER, True) is False
    assert client.last_error is None


def test_without_server_or_cache_every_evaluation_serves_the_default(
    clients: list[RolloutClient], tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = _client(clients, f"http://127.0.0.1:{port}", tmp_path / "cache")
    _wait_until(lambda: client.last_error is not None, "the first failed attempt")
    assert not client.wait_until_ready(0)
    detail = client.evaluate("checkout", USER, True)
    assert (detail.value, detail.reason, detail.error_code) == (
        True,
        "ERROR",
        "PROVIDER_NOT_READY",
    )
    assert client.source == ConfigSource.NONE


def test_polling_takes_over_when_the_stream_keeps_failing(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start(refuse_streams=True)
    stack.put_flag(ENV, boolean_flag("checkout", 0))
    client = _client(
        clients, stack.url, tmp_path / "cache", failures_before_polling=2, poll_interval=0.1
    )
    changes = Changes(client)
    assert client.wait_until_ready(WAIT)
    assert client.mode is SyncMode.POLLING
    assert client.source == ConfigSource.SERVER
    assert [s.status for s in stack.seen("/stream")] == [503, 503]

    version = stack.put_flag(ENV, boolean_flag("checkout", 100))
    changes.wait_for(lambda c: c.version == version, WAIT)
    assert client.bool_value("checkout", USER, False) is True
    _assert_polls_are_conditional(stack, version)


def _assert_polls_are_conditional(stack: ServerStack, version: int) -> None:
    _wait_until(
        lambda: any(
            s.status == 304 and s.headers.get("if-none-match") == f'"{version}"'
            for s in stack.seen("/config")
        ),
        "a conditional poll answered 304",
    )
    first = stack.seen("/config")[0]
    assert "if-none-match" not in first.headers and first.status == 200


def test_streaming_off_polls_with_etags(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start()
    version = stack.put_flag(ENV, boolean_flag("checkout", 100))
    client = _client(clients, stack.url, tmp_path / "cache", streaming=False, poll_interval=0.1)
    assert client.wait_until_ready(WAIT)
    assert client.mode is SyncMode.POLLING
    _assert_polls_are_conditional(stack, version)
    assert stack.seen("/stream") == []


def test_a_silent_link_is_detected_and_reopened(
    clients: list[RolloutClient], tmp_path: Path
) -> None:
    """A stream that stays open but carries nothing (a dead proxy, a half-open TCP link): the
    client gives up after ``stream_read_timeout`` and connects again."""
    connections: list[socket.socket] = []
    second = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while len(connections) < 2:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            connections.append(conn)  # ... and never a byte more
        second.set()

    threading.Thread(target=serve, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        client = _client(
            clients, f"http://127.0.0.1:{port}", tmp_path / "cache", stream_read_timeout=0.3
        )
        assert second.wait(WAIT)
        assert client.last_error is not None and "no data" in client.last_error
    finally:
        listener.close()
        for conn in connections:
            conn.close()


def test_keep_alives_hold_an_idle_stream_open(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start(keepalive_seconds=0.05)
    stack.put_flag(ENV, boolean_flag("checkout", 0))
    client = _client(clients, stack.url, tmp_path / "cache", stream_read_timeout=0.5)
    assert client.wait_until_ready(WAIT)
    time.sleep(1.5)  # three read timeouts' worth of idle time, bridged by keep-alives
    assert len(stack.seen("/stream")) == 1
    assert client.mode is SyncMode.STREAMING and client.last_error is None


def test_telemetry_reaches_the_store_through_the_server(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start()
    stack.put_flag(ENV, boolean_flag("checkout", 100))
    client = _client(clients, stack.url, tmp_path / "cache", flush_interval=3600)
    assert client.wait_until_ready(WAIT)
    since = datetime.now(UTC) - timedelta(minutes=1)
    for failed in (False, False, True):
        with client.request_scope() as request:
            client.bool_value("checkout", USER, False)
            request.error = failed
    client.record("checkout", "off", 5.0)
    assert client.flush(WAIT)
    rows = stack.store.query_telemetry(
        ENV, "checkout", since, datetime.now(UTC) + timedelta(minutes=1)
    )
    by_variant = {row.variant: row for row in rows}
    assert set(by_variant) == {"on", "off"}
    on = by_variant["on"]
    assert (on.requests, on.errors, on.sdk_instance) == (3, 1, client.instance_id)
    assert LatencySketch.from_dict(on.latency_sketch).count == 3
    assert by_variant["off"].requests == 1
    assert client.telemetry_stats.sent_batches == 1


def test_telemetry_is_flushed_periodically_and_at_close(stack: ServerStack, tmp_path: Path) -> None:
    stack.start()
    stack.put_flag(ENV, boolean_flag("checkout", 100))
    client = RolloutClient(stack.url, ENV, cache_dir=tmp_path / "cache", flush_interval=0.2)
    try:
        assert client.wait_until_ready(WAIT)
        client.record("checkout", "on", 12.0)
        _wait_until(lambda: client.telemetry_stats.sent_batches == 1, "the periodic flush")
        client.record("checkout", "on", 13.0, error=True)
    finally:
        client.close()
    rows = stack.store.query_telemetry(
        ENV,
        "checkout",
        datetime.now(UTC) - timedelta(minutes=1),
        datetime.now(UTC) + timedelta(minutes=1),
    )
    assert sum(r.requests for r in rows) == 2
    assert sum(r.errors for r in rows) == 1


def test_a_failed_request_is_sent_within_the_error_flush_interval(
    stack: ServerStack, tmp_path: Path
) -> None:
    """Errors reach the judge within about a second, not at the end of an hour-long window."""
    stack.start()
    stack.put_flag(ENV, boolean_flag("checkout", 100))
    client = RolloutClient(
        stack.url,
        ENV,
        cache_dir=tmp_path / "cache",
        flush_interval=3600,
        error_flush_interval=0.2,
    )
    try:
        assert client.wait_until_ready(WAIT)
        client.record("checkout", "on", 12.0)
        client.record("checkout", "on", 30.0, error=True)
        _wait_until(lambda: client.telemetry_stats.sent_batches == 1, "the early flush")
        rows = stack.store.query_telemetry(
            ENV,
            "checkout",
            datetime.now(UTC) - timedelta(minutes=1),
            datetime.now(UTC) + timedelta(minutes=1),
        )
        # One batch: the healthy request waited for the failure, it was not sent on its own.
        assert [(r.requests, r.errors) for r in rows] == [(2, 1)]
    finally:
        client.close()


def test_telemetry_waits_out_an_outage_and_arrives_later(
    stack: ServerStack, clients: list[RolloutClient], tmp_path: Path
) -> None:
    stack.start()
    stack.put_flag(ENV, boolean_flag("checkout", 100))
    client = _client(clients, stack.url, tmp_path / "cache", flush_interval=3600)
    assert client.wait_until_ready(WAIT)
    stack.stop()
    client.record("checkout", "on", 12.0)
    assert client.flush(WAIT) is False
    stats = client.telemetry_stats
    assert (stats.failed_attempts, stats.pending_batches) == (1, 1)
    stack.start()
    assert client.flush(WAIT) is True
    assert client.telemetry_stats.sent_batches == 1


def test_a_listener_may_close_its_client(stack: ServerStack, tmp_path: Path) -> None:
    stack.start()
    stack.put_flag(ENV, boolean_flag("checkout", 0))
    client = RolloutClient(stack.url, ENV, cache_dir=tmp_path / "cache")
    client.add_listener(lambda change: client.close())
    assert client.wait_until_ready(WAIT)
    _wait_until(lambda: client.mode is SyncMode.CLOSED, "the listener to close the client")
    thread = f"rollout-sdk-{client.instance_id}"
    _wait_until(lambda: all(t.name != thread for t in threading.enumerate()), "its thread to end")
    assert client.bool_value("checkout", USER, True) is False  # the last config still serves
