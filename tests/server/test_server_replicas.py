"""Several replicas on one PostgreSQL: a change made through one reaches the SSE clients of
the others through LISTEN/NOTIFY (mandatory under CI=true), and the listener survives losing
its connection."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import httpx
import psycopg
import pytest
from server_process import ServerProcess
from sqlalchemy.engine import make_url
from sse_client import SseReader

from rollout.server.app import create_app
from rollout.server.feeds import LISTENER_NAME, PostgresFeed
from rollout.server.flag_service import FlagService
from rollout.server.run import BackgroundServer
from rollout.store import open_store

pytestmark = pytest.mark.postgres

ENV = "production"


def flag(percent: float) -> dict[str, Any]:
    return {"fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}}}


def stream(url: str) -> SseReader:
    reader = SseReader(f"{url}/api/v1/environments/{ENV}/stream")
    assert reader.next_config().id == "0"
    return reader


def percent_of(reader: SseReader, version: int, key: str = "checkout") -> float:
    found = reader.config_with_version(version, timeout=15).flag(key)
    assert found is not None and found.fallthrough.rollout is not None
    return found.fallthrough.rollout.percent


def test_a_change_through_replica_a_reaches_clients_of_replica_b(pg_url: str) -> None:
    # --poll-interval 0: no periodic check, so only NOTIFY can carry changes across.
    with ExitStack() as running:
        spawned = [ServerProcess(pg_url, "--poll-interval", "0", "--no-auth") for _ in range(2)]
        for process in spawned:  # both start at once; each is stopped whatever happens
            running.callback(process.stop)
        a, b = (process.wait_serving() for process in spawned)
        on_a, on_b = stream(a.url), stream(b.url)

        response = httpx.put(
            f"{a.url}/api/v1/environments/{ENV}/flags/checkout",
            json=flag(5),
            headers={"X-Rollout-Actor": "ann"},
        )
        assert response.status_code == 200
        assert percent_of(on_b, 1) == 5
        assert percent_of(on_a, 1) == 5

        ramp = httpx.post(
            f"{b.url}/api/v1/environments/{ENV}/flags/checkout/rollout", json={"percent": 25}
        )
        assert ramp.status_code == 200
        assert percent_of(on_a, 2) == 25

        # A write straight to the database (``rollout flags`` without --server) notifies too.
        with open_store(pg_url) as store:
            FlagService(store).set_rollout(ENV, "checkout", 50, actor="cli")
        assert percent_of(on_a, 3) == percent_of(on_b, 3) == 50


def _listener_pids(pg_url: str) -> set[int]:
    conninfo = make_url(pg_url).set(drivername="postgresql", query={})
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (LISTENER_NAME,)
        ).fetchall()
    return {pid for (pid,) in rows}


def _wait_for_listener(pg_url: str, other_than: set[int], timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = _listener_pids(pg_url) - other_than
        if fresh:
            return fresh.pop()
        time.sleep(0.05)
    raise AssertionError("no LISTEN connection appeared")


def test_the_listener_reconnects_and_catches_up(pg_url: str) -> None:
    before = _listener_pids(pg_url)  # other tests' replicas may share the database
    with open_store(pg_url) as store, open_store(pg_url) as writer:
        app = create_app(store, feed=PostgresFeed(pg_url), poll_seconds=0, auth=False)
        with BackgroundServer(app) as server:
            reader = stream(server.url)
            listener = _wait_for_listener(pg_url, before)
            with psycopg.connect(
                make_url(pg_url)
                .set(drivername="postgresql", query={})
                .render_as_string(hide_password=False),
                autocommit=True,
            ) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (listener,))
            # Changed while the listener may be down: the reconnect's catch-up delivers it.
            FlagService(writer).put_flag(ENV, "checkout", flag(10), actor="cli")
            assert percent_of(reader, 1) == 10
            _wait_for_listener(pg_url, before | {listener})
            FlagService(writer).set_rollout(ENV, "checkout", 20, actor="cli")
            assert percent_of(reader, 2) == 20
