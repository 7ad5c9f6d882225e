"""Synthetic shoppers against the real shop app under uvicorn: real visits, tallied per
checkout release, stopping by themselves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from rollout.demo.behaviour import Quality
from rollout.demo.shop import CURRENT_RELEASE, FLAG, ShopSettings, create_shop
from rollout.demo.traffic import TrafficGenerator, TrafficSettings, user_id
from rollout.flags import FlagConfig
from rollout.plan.model import FlagSpec
from rollout.providers.traffic.flag import flag_from_spec
from rollout.sdk import RolloutClient
from rollout.server.run import bind, url_of


@pytest.fixture
def shop_url() -> Iterator[str]:
    """The shop at 50 % on a free loopback port (flags from an offline config)."""
    config = FlagConfig.model_validate(
        {
            "environment": "production",
            "version": 1,
            "flags": [flag_from_spec(FlagSpec(key=FLAG), 50.0).model_dump(mode="json")],
            "segments": [],
        }
    )
    client = RolloutClient(None, "production", offline_config=config)
    settings = ShopSettings(release="9.9.9", quality=Quality.BAD, server_url="http://unused")
    server = uvicorn.Server(
        uvicorn.Config(create_shop(settings, client), log_level="warning", lifespan="on")
    )
    sock = bind("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the shop did not start"
        time.sleep(0.01)
    yield url_of(sock)
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_shoppers_visit_until_their_time_is_up(shop_url: str) -> None:
    traffic = TrafficGenerator(
        shop_url, TrafficSettings(rate=150.0, users=40, seed=3), duration=1.5
    ).start()
    summary = traffic.wait(timeout=30)
    assert summary.ended_at is not None  # it stopped by itself
    assert summary.visits > 10 and summary.transport_errors == 0
    assert summary.requests > summary.visits  # each visit is several requests
    assert summary.users <= {user_id(n) for n in range(40)}
    new, current = summary.of("9.9.9"), summary.of(CURRENT_RELEASE)
    assert new.requests and current.requests  # both checkouts served, by shopper
    assert not new.users & current.users  # a shopper stays on one side of the flag
    assert new.first_seen is not None and new.last_seen is not None
    assert new.first_seen <= new.last_seen
    assert new.errors <= new.requests and current.orders + new.orders > 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TrafficSettings(rate=0, users=1)
    with pytest.raises(ValueError, match="users must be >= 1"):
        TrafficSettings(rate=1, users=0)
