"""Telemetry batches, monitoring baselines and API tokens."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest
from store_fakes import FakeClock

from rollout.errors import NotFound
from rollout.store import (
    GLOBAL_CHAIN,
    EventCount,
    Store,
    TelemetryBatch,
    TelemetryRecord,
    hash_token,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SKETCH = {"kind": "ddsketch", "gamma": 1.02, "bins": {"310": 7, "312": 3}}


def batch(minute: int, variant: str = "on", requests: int = 100, errors: int = 1) -> TelemetryBatch:
    """A 10-second batch that ends ``minute`` minutes after T0."""
    end = T0 + timedelta(minutes=minute)
    return TelemetryBatch(
        environment="production",
        flag_key="new-checkout",
        variant=variant,
        window_start=end - timedelta(seconds=10),
        window_end=end,
        requests=requests,
        errors=errors,
        latency_sketch=SKETCH,
        sdk_instance="web-1",
    )


def test_telemetry_reads_back_as_sent(store: Store, clock: FakeClock) -> None:
    sent = batch(1, requests=250, errors=3)
    assert store.add_telemetry([sent]) == 1

    [got] = store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1))

    assert got == TelemetryRecord(**asdict(sent), id=got.id, received_at=clock.now)


def test_tracked_events_read_back_as_sent(store: Store, clock: FakeClock) -> None:
    events = (EventCount("checkout", 12, 480.5), EventCount("signup", 3))
    sent = replace(batch(1), events=events)
    store.add_telemetry([sent, batch(2)])

    first, second = store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1))

    assert first.events == events
    assert second.events == ()  # a batch that tracked nothing


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ((EventCount("checkout", -1),), "needs a name and a count >= 0"),
        ((EventCount("", 1),), "needs a name and a count >= 0"),
        ((EventCount("checkout", 1), EventCount("checkout", 2)), "more than once"),
    ],
    ids=["negative", "unnamed", "twice"],
)
def test_impossible_events_are_refused_and_nothing_is_stored(
    store: Store, events: tuple[EventCount, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        store.add_telemetry([batch(1), replace(batch(2), events=events)])
    assert store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1)) == []


def test_error_subjects_read_back_as_sent_and_are_null_when_not_sent(store: Store) -> None:
    store.add_telemetry([replace(batch(1, errors=30), error_subjects=2), batch(2)])

    first, second = store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1))

    assert (first.errors, first.error_subjects) == (30, 2)
    assert second.error_subjects is None  # an SDK that does not report them


@pytest.mark.parametrize("subjects", [-1, 2])
def test_more_error_subjects_than_errors_are_refused_and_nothing_is_stored(
    store: Store, subjects: int
) -> None:
    bad = replace(batch(2, errors=1), error_subjects=subjects)
    with pytest.raises(ValueError, match="need 0 <= error_subjects <= errors"):
        store.add_telemetry([batch(1), bad])
    assert store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1)) == []


def test_query_is_half_open_on_window_end_and_ordered(store: Store) -> None:
    store.add_telemetry([batch(3), batch(1), batch(2), batch(2, variant="off")])

    found = store.query_telemetry(
        "production", "new-checkout", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    )
    assert [(b.window_end - T0, b.variant) for b in found] == [
        (timedelta(minutes=1), "on"),
        (timedelta(minutes=2), "on"),
        (timedelta(minutes=2), "off"),
    ]
    only_off = store.query_telemetry(
        "production", "new-checkout", T0, T0 + timedelta(hours=1), variant="off"
    )
    assert [b.variant for b in only_off] == ["off"]
    assert store.query_telemetry("staging", "new-checkout", T0, T0 + timedelta(hours=1)) == []


@pytest.mark.parametrize(
    "bad",
    [
        batch(1, requests=5, errors=6),
        batch(1, requests=-1, errors=0),
        replace(batch(1), window_start=T0 + timedelta(hours=1)),
    ],
)
def test_impossible_batches_are_refused_and_nothing_is_stored(
    store: Store, bad: TelemetryBatch
) -> None:
    with pytest.raises(ValueError, match="telemetry for new-checkout/on"):
        store.add_telemetry([batch(2), bad])
    assert store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1)) == []


def test_old_telemetry_can_be_dropped(store: Store) -> None:
    store.add_telemetry([batch(1), batch(2), batch(3)])

    assert store.delete_telemetry_before(T0 + timedelta(minutes=2)) == 1
    left = store.query_telemetry("production", "new-checkout", T0, T0 + timedelta(hours=1))
    assert [b.window_end for b in left] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)]


def test_a_baseline_is_replaced_by_a_newer_measurement(store: Store, clock: FakeClock) -> None:
    store.put_baseline("checkout", "error_rate", 0.004, window_seconds=3600)
    later = clock.advance(86_400)
    newer = store.put_baseline("checkout", "error_rate", 0.005, window_seconds=7200)
    store.put_baseline("checkout", "latency_p99", 0.280, window_seconds=3600, measured_at=T0)

    assert store.get_baseline("checkout", "error_rate") == newer
    assert (newer.value, newer.window_seconds, newer.measured_at) == (0.005, 7200.0, later)
    assert [b.metric for b in store.list_baselines("checkout")] == ["error_rate", "latency_p99"]
    with pytest.raises(NotFound):
        store.get_baseline("checkout", "cpu")


def test_tokens_are_found_by_the_hash_of_their_secret_until_revoked(
    store: Store, clock: FakeClock
) -> None:
    issued = store.create_token("ci", "operator", actor="ann")
    assert issued.secret.startswith("rot_") and len(issued.secret) == 47
    assert issued.record.token_hash == hash_token(issued.secret) != issued.secret

    assert store.get_token_by_hash(hash_token(issued.secret)) == issued.record
    with pytest.raises(NotFound):
        store.get_token_by_hash(hash_token(issued.secret + "x"))

    clock.advance(10)
    revoked = store.revoke_token(issued.record.id, actor="ann")
    assert (revoked.revoked_at, revoked.active) == (clock.now, False)
    clock.advance(10)
    assert store.revoke_token(issued.record.id).revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        store.get_token_by_hash(issued.record.token_hash)
    assert store.get_token_by_hash(issued.record.token_hash, include_revoked=True) == revoked


def test_tokens_are_listed_and_their_lifecycle_audited(store: Store, clock: FakeClock) -> None:
    first = store.create_token("ci", "operator").record
    clock.advance(1)
    second = store.create_token("dashboard", "viewer").record
    store.revoke_token(first.id)

    assert [t.id for t in store.list_tokens()] == [first.id, second.id]
    assert [t.id for t in store.list_tokens(include_revoked=False)] == [second.id]
    events = store.list_events(None)
    assert [(e.chain, e.kind) for e in events] == [
        (GLOBAL_CHAIN, "token.created"),
        (GLOBAL_CHAIN, "token.created"),
        (GLOBAL_CHAIN, "token.revoked"),
    ]
    assert all("secret" not in e.data and "token_hash" not in e.data for e in events)
    with pytest.raises(NotFound):
        store.revoke_token("tok_missing")
