"""On PostgreSQL, stored telemetry is announced (NOTIFY rollout_telemetry) with its commit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from rollout.errors import StoreError
from rollout.store import TelemetryBatch, open_store
from rollout.store.listen import libpq_conninfo
from rollout.store.telemetry import TELEMETRY_CHANNEL

END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def batch(environment: str, variant: str = "on") -> TelemetryBatch:
    return TelemetryBatch(
        environment=environment,
        flag_key="checkout",
        variant=variant,
        window_start=END - timedelta(seconds=1),
        window_end=END,
        requests=3,
        errors=1,
        latency_sketch=None,
        sdk_instance="web-1",
    )


@pytest.mark.postgres
def test_each_environment_of_a_committed_insert_is_announced_once(pg_store_url: str) -> None:
    with (
        psycopg.connect(libpq_conninfo(pg_store_url), autocommit=True) as listener,
        open_store(pg_store_url) as store,
    ):
        listener.execute(f"LISTEN {TELEMETRY_CHANNEL}")
        # The database refuses the second batch (an environment name longer than the column):
        # the whole insert rolls back, and nothing of it is announced.
        refused = replace(batch("refused"), environment="x" * 101)
        with pytest.raises(StoreError):
            store.add_telemetry([batch("refused"), refused])
        store.add_telemetry([batch("staging"), batch("production"), batch("staging", "off")])
        store.add_telemetry([batch("production")])

        received = [n.payload for n in listener.notifies(timeout=10, stop_after=3)]

    assert received == ["production", "staging", "production"]
