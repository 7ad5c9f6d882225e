"""The broadcaster on its own: newest-only delivery, slow clients dropped without holding up
others, shutdown ending every stream; and the small parsers of the fan-out and error paths."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.flags import FlagConfig
from rollout.server.broadcast import (
    Broadcaster,
    CloseReason,
    Subscription,
    SubscriptionClosed,
)
from rollout.server.feeds import change_payload, make_feed, parse_change
from rollout.server.flag_service import ConfigDocument
from rollout.server.problems import format_loc, parse_field


def doc(version: int, environment: str = "production") -> ConfigDocument:
    config = FlagConfig(environment=environment, version=version)
    return ConfigDocument(environment, version, config, config.to_json())


async def drain(subscription: Subscription) -> list[int]:
    versions = []
    while (item := await subscription.next(0.01)) is not None:
        versions.append(item.version)
    return versions


@settings(max_examples=40)  # each example runs an event loop
@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40))
def test_each_subscriber_gets_every_new_maximum_once_in_order(published: list[int]) -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        hub = Broadcaster(queue_size=64)
        first, second = hub.subscribe("production"), hub.subscribe("production")
        for version in published:
            hub.publish(doc(version))
        return await drain(first), await drain(second), hub.latest_version("production")

    first, second, latest = asyncio.run(scenario())
    maxima: list[int] = []
    for version in published:
        if not maxima or version > maxima[-1]:
            maxima.append(version)
    assert first == second == maxima
    assert latest == (maxima[-1] if maxima else -1)


def test_environments_do_not_see_each_others_versions() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        hub = Broadcaster()
        production, staging = hub.subscribe("production"), hub.subscribe("staging")
        hub.publish(doc(3, "production"))
        hub.publish(doc(1, "staging"))
        return await drain(production), await drain(staging)

    assert asyncio.run(scenario()) == ([3], [1])


def test_a_slow_subscriber_is_dropped_and_the_others_keep_everything() -> None:
    async def scenario() -> None:
        dropped = []
        hub = Broadcaster(queue_size=2, on_drop=dropped.append)
        slow, fast = hub.subscribe("production"), hub.subscribe("production")
        received = []
        for version in range(1, 6):
            hub.publish(doc(version))
            received.append((await fast.next(1)).version)  # type: ignore[union-attr]
        assert received == [1, 2, 3, 4, 5]
        assert dropped == [slow] and slow.reason is CloseReason.TOO_SLOW
        with pytest.raises(SubscriptionClosed) as info:
            await slow.next(1)  # a backlog is not drained: reconnect for the newest instead
        assert info.value.reason is CloseReason.TOO_SLOW
        assert (hub.dropped, hub.subscriber_count("production")) == (1, 1)

    asyncio.run(scenario())


def test_close_wakes_waiting_subscribers_and_refuses_new_ones() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        waiting = hub.subscribe("production")
        task = asyncio.create_task(waiting.next(None))
        await asyncio.sleep(0)  # let it block on the empty queue
        hub.close()
        with pytest.raises(SubscriptionClosed):
            await asyncio.wait_for(task, 1)
        late = hub.subscribe("production")
        assert late.closed and late.reason is CloseReason.SHUTDOWN
        assert hub.subscriber_count() == 0

    asyncio.run(scenario())


def test_a_subscriber_that_leaves_is_forgotten() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        subscription = hub.subscribe("production")
        assert hub.environments() == ["production"]
        subscription.close()
        assert (hub.environments(), hub.publish(doc(1))) == ([], 0)

    asyncio.run(scenario())


def test_idle_subscribers_time_out_with_none() -> None:
    async def scenario() -> None:
        subscription = Broadcaster().subscribe("production")
        assert await subscription.next(0.01) is None

    asyncio.run(scenario())


@settings(max_examples=40)  # each example runs an event loop
@given(st.lists(st.lists(st.integers(min_value=0, max_value=50), max_size=5), max_size=10))
def test_a_stream_reader_gets_the_newest_version_of_each_burst(bursts: list[list[int]]) -> None:
    """``newest()`` after each burst of publishes: the newest version published so far if it
    is new to the reader, never an older one, never one twice."""

    async def scenario() -> list[int | None]:
        hub = Broadcaster(queue_size=8)
        reader = hub.subscribe("production")
        taken: list[int | None] = []
        for burst in bursts:
            delivered = sum(hub.publish(doc(version)) for version in burst)
            if delivered:
                newest = await asyncio.wait_for(reader.newest(), 5)
                taken.append(None if newest is None else newest.version)
        return taken

    expected, top = [], -1
    for burst in bursts:
        fresh = [v for v in burst if v > top]
        if fresh:
            top = max(fresh)
            expected.append(top)
    assert asyncio.run(scenario()) == expected


def test_a_reader_that_keeps_up_is_never_dropped_however_many_versions_go_by() -> None:
    async def scenario() -> None:
        hub = Broadcaster(queue_size=2)
        reader = hub.subscribe("production")
        for version in range(1, 50):
            hub.publish(doc(version))
            hub.publish(doc(version))  # a duplicate costs nothing
            newest = await reader.newest()
            assert newest is not None and newest.version == version
        assert (hub.dropped, reader.closed) == (0, False)

    asyncio.run(scenario())


def test_close_wakes_a_waiting_stream_reader() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        reader = hub.subscribe("production", keepalive_seconds=60)
        task = asyncio.create_task(reader.newest())
        await asyncio.sleep(0)  # let it wait
        hub.close()
        with pytest.raises(SubscriptionClosed) as info:
            await asyncio.wait_for(task, 1)
        assert info.value.reason is CloseReason.SHUTDOWN

    asyncio.run(scenario())


def test_keep_alives_come_after_three_quarters_of_the_interval_of_silence_at_the_earliest() -> None:
    interval = 0.08

    async def scenario() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        hub = Broadcaster()
        idle = hub.subscribe("production", keepalive_seconds=interval)
        gaps: list[float] = []
        last = loop.time()
        for _ in range(3):
            assert await asyncio.wait_for(idle.newest(), 5) is None  # a keep-alive
            gaps.append(loop.time() - last)
            last = loop.time()
        # A reader sent a version every half interval: any keep-alive it hears still comes
        # after that much silence at the earliest.
        busy = hub.subscribe("production", keepalive_seconds=interval)
        busy_gaps: list[float] = []
        last = loop.time()
        for version in range(1, 6):
            loop.call_later(interval / 2, hub.publish, doc(version))
            newest = await asyncio.wait_for(busy.newest(), 5)
            if newest is None:
                busy_gaps.append(loop.time() - last)
            last = loop.time()
        hub.close()
        return gaps, busy_gaps

    gaps, busy_gaps = asyncio.run(scenario())
    # A late timer only lengthens a gap, so the lower bound holds on any machine.
    assert all(gap >= interval * 0.75 - 0.005 for gap in gaps + busy_gaps), (gaps, busy_gaps)


def test_a_keep_alive_interval_must_be_positive() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="positive"):
            Broadcaster().subscribe("production", keepalive_seconds=0)

    asyncio.run(scenario())


def test_the_heartbeat_stops_when_its_last_reader_leaves() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        readers = [hub.subscribe("production", keepalive_seconds=0.01) for _ in range(3)]
        timers = len(asyncio.get_running_loop()._scheduled)  # type: ignore[attr-defined]
        assert timers == 1  # one timer for every reader of the interval
        for reader in readers:
            reader.close()
        assert not [
            t
            for t in asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
            if not t.cancelled()
        ]

    asyncio.run(scenario())


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,30}", fullmatch=True), st.integers(0, 10**9))
def test_announcements_round_trip(environment: str, version: int) -> None:
    assert parse_change(change_payload(environment, version)) == (environment, version)
    assert parse_change(f"{environment}:{version}".encode()) == (environment, version)


@pytest.mark.parametrize("payload", ["", "{}", '{"environment": "p"}', "production", "p:x", "[1]"])
def test_malformed_announcements_are_ignored(payload: str) -> None:
    assert parse_change(payload) is None


@given(
    st.lists(
        st.one_of(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.integers(0, 99)),
        min_size=1,
        max_size=6,
    ).filter(lambda parts: isinstance(parts[0], str))
)
def test_field_paths_round_trip(loc: list[str | int]) -> None:
    assert parse_field(format_loc(loc)) == tuple(loc)


def test_make_feed_picks_the_fan_out() -> None:
    assert make_feed("sqlite:///x.db", "").name == "in-process"
    assert make_feed("postgresql://u@h/db", "").name == "postgresql"
    assert make_feed("postgresql://u@h/db", "none").name == "in-process"
    assert make_feed("sqlite:///x.db", "redis://127.0.0.1:6379/0").name == "redis"
    with pytest.raises(ValueError, match="ROLLOUT_FANOUT"):
        make_feed("sqlite:///x.db", "kafka://broker")
