"""A standalone controller on PostgreSQL is woken by telemetry that any process stores, so its
rollback triggers are judged as the data lands rather than at its next interval."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from rollout.engine.controller import (
    BackgroundController,
    Controller,
    TickReport,
    wake_on_telemetry,
)
from rollout.store import Store, TelemetryBatch, open_store
from rollout.store.listen import ListenerThread, libpq_conninfo
from rollout.store.telemetry import TELEMETRY_LISTENER_NAME

HOUR = 3600.0  # the controller's own interval: only a wake-up can start a round in a test


class RoundCounter(Controller):
    """A controller whose rounds can be waited for by number."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, owner="standalone")
        self.rounds = 0
        self._counted = threading.Condition()

    def run_once(self, now: float | None = None) -> list[TickReport]:
        reports = super().run_once(now)
        with self._counted:
            self.rounds += 1
            self._counted.notify_all()
        return reports

    def wait_for_round(self, number: int, timeout: float = 30.0) -> bool:
        with self._counted:
            return self._counted.wait_for(lambda: self.rounds >= number, timeout)


def failed_request() -> TelemetryBatch:
    end = datetime.now(UTC)
    return TelemetryBatch(
        environment="production",
        flag_key="checkout",
        variant="on",
        window_start=end - timedelta(seconds=1),
        window_end=end,
        requests=1,
        errors=1,
        latency_sketch=None,
        sdk_instance="web-1",
    )


@contextmanager
def standalone_controller(pg_url: str) -> Iterator[tuple[RoundCounter, ListenerThread]]:
    """A controller looping every hour in a thread, woken through LISTEN, as `rollout
    controller` runs it; yields once it has done its first round and the catch-up round that
    follows its link's first connection, so that any later round was started by a wake-up."""
    with open_store(pg_url) as store:
        controller = RoundCounter(store)
        listener = wake_on_telemetry(controller)
        assert listener is not None, "a PostgreSQL store must be listened to"
        thread = threading.Thread(
            target=lambda: controller.run_forever(HOUR, handle_signals=False, min_gap=0.05)
        )
        try:
            assert listener.wait_connected(timeout=30), "the listener never connected"
            thread.start()
            assert controller.wait_for_round(2), "the first rounds never ran"
            yield controller, listener
        finally:
            listener.stop()
            controller.stop()
            if thread.ident is not None:
                thread.join(30)
    assert not thread.is_alive()


@pytest.mark.postgres
def test_telemetry_stored_by_another_process_starts_a_round(pg_url: str) -> None:
    with standalone_controller(pg_url) as (controller, _listener), open_store(pg_url) as server:
        server.add_telemetry([failed_request()])
        assert controller.wait_for_round(3), "the stored batch did not wake the controller"


@pytest.mark.postgres
def test_a_controller_inside_a_server_hears_of_telemetry_another_replica_stored(
    pg_url: str,
) -> None:
    with open_store(pg_url) as store, open_store(pg_url) as other_replica:
        controller = RoundCounter(store)
        background = BackgroundController(controller, HOUR)
        background.start()
        try:
            # The first round, then the catch-up round of the link's first connection.
            assert controller.wait_for_round(2), "the first rounds never ran"
            other_replica.add_telemetry([failed_request()])
            assert controller.wait_for_round(3), "another replica's batch did not wake it"
        finally:
            background.stop(timeout=30)


def _terminate_listener(pg_url: str) -> None:
    with psycopg.connect(libpq_conninfo(pg_url), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (TELEMETRY_LISTENER_NAME,),
        ).fetchall()
    assert killed == [(True,)]


@pytest.mark.postgres
def test_the_listener_reconnects_after_its_connection_is_killed(pg_url: str) -> None:
    with standalone_controller(pg_url) as (controller, listener), open_store(pg_url) as server:
        _terminate_listener(pg_url)
        assert listener.wait_connected(2), "the listener did not reconnect"
        # What landed while the link was down went unannounced: reconnecting starts a round.
        assert controller.wait_for_round(3), "no catch-up round after reconnecting"
        server.add_telemetry([failed_request()])
        assert controller.wait_for_round(4), "the reconnected listener did not wake it"


def test_a_sqlite_store_has_nothing_to_listen_to(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'rollout.db'}") as store:
        assert wake_on_telemetry(Controller(store, owner="alone")) is None
