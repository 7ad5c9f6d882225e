"""Outcome telemetry batches from SDKs, and monitoring baselines.

On PostgreSQL, storing telemetry sends ``NOTIFY rollout_telemetry, '<environment>'`` (once per
environment in the batches) inside the insert's transaction, so other processes hear of it only
once it is committed: a standalone controller listens (:meth:`TelemetryMixin.listen_for_telemetry`)
and judges rollback triggers on the batch at once rather than at its next interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select

from rollout.errors import NotFound
from rollout.store._db import StoreBase, locked_row, utc
from rollout.store._json import json_value
from rollout.store.listen import ListenerThread, libpq_conninfo
from rollout.store.models import Baseline, Telemetry
from rollout.store.records import BaselineRecord, EventCount, TelemetryBatch, TelemetryRecord

TELEMETRY_CHANNEL = "rollout_telemetry"
TELEMETRY_LISTENER_NAME = "rollout-telemetry-listener"
"""``application_name`` of the LISTEN connections (to find them in ``pg_stat_activity``)."""


def _check(batch: TelemetryBatch) -> None:
    where = f"telemetry for {batch.flag_key}/{batch.variant}"
    if not 0 <= batch.errors <= batch.requests:
        raise ValueError(
            f"{where}: need 0 <= errors <= requests, "
            f"got errors={batch.errors}, requests={batch.requests}"
        )
    if batch.error_subjects is not None and not 0 <= batch.error_subjects <= batch.errors:
        raise ValueError(
            f"{where}: need 0 <= error_subjects <= errors, "
            f"got error_subjects={batch.error_subjects}, errors={batch.errors}"
        )
    if batch.window_start > batch.window_end:
        raise ValueError(f"{where}: window ends first")
    names = [event.name for event in batch.events]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: an event name appears more than once")
    for event in batch.events:
        if not event.name or event.count < 0:
            raise ValueError(f"{where}: event {event.name!r} needs a name and a count >= 0")


def _events_json(events: Sequence[EventCount]) -> list[dict[str, Any]] | None:
    if not events:
        return None
    return [
        {"name": e.name, "count": e.count, "value_sum": e.value_sum}
        if e.value_sum is not None
        else {"name": e.name, "count": e.count}
        for e in events
    ]


def _events(stored: Any) -> tuple[EventCount, ...]:
    return tuple(
        EventCount(item["name"], item["count"], item.get("value_sum")) for item in stored or ()
    )


def _telemetry_record(row: Telemetry) -> TelemetryRecord:
    return TelemetryRecord(
        environment=row.environment,
        flag_key=row.flag_key,
        variant=row.variant,
        window_start=row.window_start,
        window_end=row.window_end,
        requests=row.requests,
        errors=row.errors,
        error_subjects=row.error_subjects,
        latency_sketch=row.latency_sketch,
        sdk_instance=row.sdk_instance,
        events=_events(row.events),
        id=row.id,
        received_at=row.received_at,
    )


def _baseline_record(row: Baseline) -> BaselineRecord:
    return BaselineRecord(
        scope=row.scope,
        metric=row.metric,
        value=row.value,
        window_seconds=row.window_seconds,
        measured_at=row.measured_at,
    )


class TelemetryMixin(StoreBase):
    """Telemetry intake and queries; baselines."""

    def add_telemetry(self, batches: Sequence[TelemetryBatch]) -> int:
        """Store the batches in one transaction, stamped with the time received; returns how
        many. ``ValueError`` (and nothing stored) if any batch has ``errors > requests``,
        ``error_subjects > errors``, negative counts, a window that ends before it starts, or an
        event without a name or named twice."""
        for batch in batches:
            _check(batch)
        if not batches:
            return 0
        received = self._now()
        rows = [
            {
                "environment": b.environment,
                "flag_key": b.flag_key,
                "variant": b.variant,
                "window_start": utc(b.window_start),
                "window_end": utc(b.window_end),
                "requests": b.requests,
                "errors": b.errors,
                "error_subjects": b.error_subjects,
                "latency_sketch": json_value(b.latency_sketch, "latency_sketch"),
                "sdk_instance": b.sdk_instance,
                "events": json_value(_events_json(b.events), "events"),
                "received_at": received,
            }
            for b in batches
        ]
        with self._write() as session:
            session.execute(insert(Telemetry), rows)
            if session.get_bind().dialect.name == "postgresql":
                for environment in sorted({b.environment for b in batches}):
                    session.execute(select(func.pg_notify(TELEMETRY_CHANNEL, environment)))
        return len(rows)

    def listen_for_telemetry(
        self,
        on_telemetry: Callable[[str], None],
        on_connect: Callable[[], None] | None = None,
    ) -> ListenerThread | None:
        """On PostgreSQL, start a thread that calls ``on_telemetry(environment)`` whenever any
        process stores telemetry in this database, and ``on_connect()`` after each
        (re)connection of its link (what was stored while it was down went unannounced);
        ``stop()`` it when done. ``None`` on SQLite: one process stores and judges telemetry,
        and the server tells its own controller directly."""
        if self.backend != "postgresql":
            return None
        return ListenerThread(
            libpq_conninfo(self._engine.url),
            TELEMETRY_CHANNEL,
            on_telemetry,
            on_connect,
            application_name=TELEMETRY_LISTENER_NAME,
            what="telemetry wake-up",
        ).start()

    def query_telemetry(
        self,
        environment: str,
        flag_key: str,
        since: datetime,
        until: datetime,
        *,
        variant: str | None = None,
    ) -> list[TelemetryRecord]:
        """Batches of one flag (one arm when ``variant`` is given) whose window ended in
        ``[since, until)``, oldest first. Half-open, so consecutive queries never count a batch
        twice: ``[12:00, 12:01)`` then ``[12:01, 12:02)``."""
        query = select(Telemetry).where(
            Telemetry.environment == environment,
            Telemetry.flag_key == flag_key,
            Telemetry.window_end >= utc(since),
            Telemetry.window_end < utc(until),
        )
        if variant is not None:
            query = query.where(Telemetry.variant == variant)
        query = query.order_by(Telemetry.window_end, Telemetry.id)
        with self._read() as session:
            return [_telemetry_record(row) for row in session.scalars(query)]

    def delete_telemetry_before(self, cutoff: datetime) -> int:
        """Drop batches whose window ended before ``cutoff`` (retention); returns how many."""
        statement = delete(Telemetry).where(Telemetry.window_end < utc(cutoff))
        with self._write() as session:
            result = cast(CursorResult[Any], session.execute(statement))
            return result.rowcount

    def put_baseline(
        self,
        scope: str,
        metric: str,
        value: float,
        window_seconds: float,
        measured_at: datetime | None = None,
    ) -> BaselineRecord:
        """Set the baseline of ``metric`` for ``scope`` (a plan name or rollout id), replacing
        any earlier one. ``measured_at`` defaults to now."""
        when = self._now(measured_at)
        value, window_seconds = float(value), float(window_seconds)
        with self._write() as session:
            row = locked_row(
                session,
                Baseline,
                (Baseline.scope == scope) & (Baseline.metric == metric),
                {
                    "scope": scope,
                    "metric": metric,
                    "value": value,
                    "window_seconds": window_seconds,
                    "measured_at": when,
                },
            )
            row.value, row.window_seconds, row.measured_at = value, window_seconds, when
            return _baseline_record(row)

    def get_baseline(self, scope: str, metric: str) -> BaselineRecord:
        """The baseline; ``NotFound`` if none was measured."""
        query = select(Baseline).where(Baseline.scope == scope, Baseline.metric == metric)
        with self._read() as session:
            row = session.scalars(query).one_or_none()
            if row is None:
                raise NotFound(f"no baseline of {metric!r} for {scope!r}")
            return _baseline_record(row)

    def list_baselines(self, scope: str) -> list[BaselineRecord]:
        """Every baseline of ``scope``, by metric."""
        query = select(Baseline).where(Baseline.scope == scope).order_by(Baseline.metric)
        with self._read() as session:
            return [_baseline_record(row) for row in session.scalars(query)]
