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
