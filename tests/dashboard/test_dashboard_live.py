"""Live pages over a real server: each stream sends freshly rendered regions when what its
page shows changes, and only then."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from dashboard_sse import LiveStream
from dashboard_world import FakeClock, make_app, write_world

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.server.run import GRACE_SECONDS, BackgroundServer
from rollout.store import Store


@pytest.fixture
def server(store: Store, clock: FakeClock) -> Iterator[BackgroundServer]:
    app = make_app(store, clock)
    app.state.dashboard.poll_seconds = 0.05
    with BackgroundServer(app) as running:
        yield running


def since(page: str) -> str:
    found = re.search(r'data-live="[^"]*since=([^"&]+)', page)
    assert found is not None
    return found.group(1)


def test_a_rollout_page_gets_its_regions_again_when_the_rollout_changes(
    server: BackgroundServer, store: Store, awaiting: str, controller: Controller
) -> None:
    page = httpx.get(f"{server.url}/rollouts/{awaiting}").text
    stream = LiveStream(f"{server.url}/rollouts/{awaiting}/live?since={since(page)}")
    try:
        assert stream.status == 200
        send_verb(store, awaiting, "approve", "bob")  # an event, no state save yet
        approved = stream.wait_for(lambda e: e.event == "update")
        assert set(approved.regions) == {"live-head", "live-actions", "live-body"}
        assert "bob approved production" in approved.regions["live-body"]
        controller.run_once()
        moved = stream.wait_for(lambda e: "observing" in e.regions["live-head"])
        assert "Pause" in moved.regions["live-actions"]
        assert approved.id != moved.id
    finally:
        stream.close()


def test_a_reconnecting_page_gets_what_it_missed_at_once(
    server: BackgroundServer, observing: str
) -> None:
    stream = LiveStream(f"{server.url}/rollouts/{observing}/live", headers={"Last-Event-ID": "1.1"})
    try:
        caught_up = stream.wait_for(lambda e: e.event == "update")
        assert "observing" in caught_up.regions["live-head"]
    finally:
        stream.close()


def test_the_list_shows_a_new_rollout_by_itself(
    server: BackgroundServer, store: Store, awaiting: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = httpx.get(f"{server.url}/").text
    stream = LiveStream(f"{server.url}/live?since={since(page)}")
    try:
        folder = tmp_path_factory.mktemp("other")
        other = start_rollout(store, write_world(folder, name="search"), None, "carol")
        update = stream.wait_for(lambda e: other.id in e.regions["live-list"])
        assert awaiting in update.regions["live-list"]
    finally:
        stream.close()


def test_the_flags_table_follows_flag_changes(
    server: BackgroundServer, store: Store, observing: str
) -> None:
    page = httpx.get(f"{server.url}/flags?env=production").text
    stream = LiveStream(f"{server.url}/flags/live?env=production&since={since(page)}")
    try:
        app_service = server.app.state.rollout.service
        app_service.set_rollout("production", "new-checkout", 33, "dana")
        update = stream.wait_for(lambda e: "33% get on" in e.regions["live-flags"])
        assert update.id == str(store.config_version("production"))
    finally:
        stream.close()


def test_a_stopping_server_ends_the_live_pages_streams_at_once(
    store: Store, clock: FakeClock, observing: str
) -> None:
    app = make_app(store, clock)
    app.state.dashboard.poll_seconds = 0.05
    server = BackgroundServer(app).start()
    streams = [
        LiveStream(f"{server.url}/rollouts/{observing}/live"),
        LiveStream(f"{server.url}/live"),
        LiveStream(f"{server.url}/flags/live?env=production"),
    ]
    for stream in streams:
        stream.wait_for(lambda e: e.event == "update")  # connected and caught up
    started = time.monotonic()
    server.stop()
    for stream in streams:
        stream.wait_end()
    # Without the streams ending, the server would wait out its grace time for them.
    assert time.monotonic() - started < GRACE_SECONDS


def test_streams_of_unknown_things_are_404(server: BackgroundServer) -> None:
    assert httpx.get(f"{server.url}/rollouts/ro_nothing/live").status_code == 404
    assert httpx.get(f"{server.url}/flags/live?env=no%20such").status_code == 404
