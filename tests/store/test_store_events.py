"""The audit trail: gapless per-chain seqs, and a hash chain that exposes tampering."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update

from rollout.errors import Conflict, NotFound
from rollout.store import GLOBAL_CHAIN, NewEvent, Store, event_hash, open_store
from rollout.store._db import make_engine
from rollout.store.models import Event


@pytest.fixture
def raw(store_url: str) -> Iterator[Engine]:
    """Direct access to the tables, the way someone tampering with the database would have."""
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _tamper(raw: Engine, rollout_id: str, seq: int, **values: Any) -> None:
    with raw.begin() as connection:
        connection.execute(
            update(Event).where(Event.chain == rollout_id, Event.seq == seq).values(**values)
        )


def _rehash(store: Store, rollout_id: str, seq: int, **changes: Any) -> str:
    """The hash a careful forger would compute for event ``seq`` after ``changes``."""
    event = next(e for e in store.list_events(rollout_id) if e.seq == seq)
    fields = {
        "chain": event.chain,
        "rollout_id": event.rollout_id,
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "kind": event.kind,
        "message": event.message,
        "data": event.data,
        "prev_hash": event.prev_hash,
    }
    return event_hash(**(fields | changes))


@pytest.fixture
def five_events(store: Store, new_rollout: Callable[..., str]) -> str:
    """A rollout whose chain holds events 1 (created) to 5."""
    rollout_id = new_rollout()
    for n in range(2, 6):
        store.append_event(rollout_id, NewEvent("note", f"event {n}", {"n": n}))
    return rollout_id


def test_every_kind_of_write_extends_one_gapless_chain(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    store.save_rollout_state(rollout_id, 1, "gating", {}, [NewEvent("state", "gating")])
    with pytest.raises(Conflict):  # a refused save must not leave a hole
        store.save_rollout_state(rollout_id, 1, "ramping", {}, [NewEvent("state", "lost")])
    action = store.record_action_intent(rollout_id, "ramp", 1, "flag.set", {"percent": 5})
    store.record_action_done(action.key, {"applied": 5})
    store.add_approval(rollout_id, "production", "bob", "approve")

    events = store.list_events(rollout_id)
    assert [(e.seq, e.kind) for e in events] == [
        (1, "rollout.created"),
        (2, "state"),
        (3, "action.intent"),
        (4, "action.done"),
        (5, "approval"),
    ]
    assert store.verify_chain(rollout_id).ok


def test_each_event_hashes_its_content_and_links_to_the_one_before(
    store: Store, five_events: str
) -> None:
    events = store.list_events(five_events)

    assert events[0].prev_hash == "0" * 64
    for before, event in pairwise(events):
        assert event.prev_hash == before.hash
    for event in events:
        assert event.hash == _rehash(store, five_events, event.seq)


def test_events_of_no_rollout_form_the_global_chain(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    store.put_flag("production", "new-checkout", {"enabled": True}, actor="ann")
    store.append_event(None, NewEvent("maintenance", "database vacuumed", actor="ops"))

    global_events = store.list_events(None)
    assert [(e.chain, e.seq, e.kind) for e in global_events] == [
        (GLOBAL_CHAIN, 1, "flag.changed"),
        (GLOBAL_CHAIN, 2, "maintenance"),
    ]
    assert all(e.rollout_id is None for e in global_events)
    assert [e.seq for e in store.list_events(rollout_id)] == [1]
    assert store.verify_chain(None).ok


def test_appending_to_an_unknown_rollout_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.append_event("ro_missing", NewEvent("note", "hello"))


def test_listing_resumes_after_a_seq(store: Store, five_events: str) -> None:
    assert [e.seq for e in store.list_events(five_events, after_seq=2)] == [3, 4, 5]
    assert [e.seq for e in store.list_events(five_events, after_seq=2, limit=2)] == [3, 4]
    assert store.list_events(five_events, after_seq=5) == []


def test_an_intact_chain_verifies(store: Store, five_events: str) -> None:
    report = store.verify_chain(five_events)

    assert (report.ok, report.checked, report.first_bad_seq) == (True, 5, None)
    assert report.last_hash == store.list_events(five_events)[-1].hash
    assert str(report) == f"chain {five_events}: 5 events, intact"


def test_an_edited_event_is_found(store: Store, five_events: str, raw: Engine) -> None:
    _tamper(raw, five_events, 3, data_json={"n": 300})

    report = store.verify_chain(five_events)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)
    assert "edited" in report.problem


def test_an_edited_event_with_a_recomputed_hash_is_found(
    store: Store, five_events: str, raw: Engine
) -> None:
    forged = _rehash(store, five_events, 3, message="nothing happened")
    _tamper(raw, five_events, 3, message="nothing happened", hash=forged)

    report = store.verify_chain(five_events)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "rewritten" in report.problem


def test_a_deleted_event_is_found(store: Store, five_events: str, raw: Engine) -> None:
    with raw.begin() as connection:
        connection.execute(delete(Event).where(Event.chain == five_events, Event.seq == 2))

    report = store.verify_chain(five_events)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "event 2 is missing" in report.problem


def test_a_deleted_last_event_is_found(store: Store, five_events: str, raw: Engine) -> None:
    with raw.begin() as connection:
        connection.execute(delete(Event).where(Event.chain == five_events, Event.seq == 5))

    report = store.verify_chain(five_events)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "missing from the end" in report.problem


def test_a_rewritten_last_event_is_found(store: Store, five_events: str, raw: Engine) -> None:
    forged = _rehash(store, five_events, 5, data={"n": 0})
    _tamper(raw, five_events, 5, data_json={"n": 0}, hash=forged)

    report = store.verify_chain(five_events)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "recorded hash" in report.problem


def test_verify_all_reports_each_chain(
    store: Store, five_events: str, new_rollout: Callable[..., str], raw: Engine
) -> None:
    other = new_rollout("other")
    store.append_event(None, NewEvent("note", "global"))
    _tamper(raw, other, 1, actor="mallory")

    reports = {r.chain: r.ok for r in store.verify_all_chains()}
    assert reports == {GLOBAL_CHAIN: True, five_events: True, other: False}


def test_concurrent_appenders_get_consecutive_seqs_and_an_intact_chain(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    writers, each = 4, 10
    start = threading.Barrier(writers)

    def write(writer: int) -> None:
        start.wait(timeout=10)
        for n in range(each):
            store.append_event(rollout_id, NewEvent("note", f"{writer}.{n}"))
            store.append_event(None, NewEvent("note", f"{writer}.{n}"))

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))

    assert [e.seq for e in store.list_events(rollout_id)] == list(range(1, writers * each + 2))
    assert [e.seq for e in store.list_events(None)] == list(range(1, writers * each + 1))
    assert all(report.ok for report in store.verify_all_chains())


def test_verifying_while_others_append_sees_one_consistent_chain(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    done = threading.Event()

    def append() -> None:
        try:
            for n in range(40):
                store.append_event(rollout_id, NewEvent("note", f"{n}"))
        finally:
            done.set()

    appender = threading.Thread(target=append)
    appender.start()
    reports = []
    while not done.is_set():
        reports.append(store.verify_chain(rollout_id))
    appender.join()

    assert [r for r in reports if not r.ok] == []
    assert store.verify_chain(rollout_id).checked == 41


def _append_many(url: str, rollout_id: str, start: Any, count: int) -> None:
    with open_store(url) as store:
        start.wait(timeout=30)
        for n in range(count):
            store.append_event(rollout_id, NewEvent("note", f"{n}"))


def test_processes_appending_at_once_keep_the_chain_intact(
    store: Store, new_rollout: Callable[..., str], store_url: str
) -> None:
    rollout_id = new_rollout()
    store.close()  # no pooled connection may be inherited by the forked children
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    workers = [
        context.Process(target=_append_many, args=(store_url, rollout_id, start, 15))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert [worker.exitcode for worker in workers] == [0, 0]
    with open_store(store_url) as reopened:
        assert [e.seq for e in reopened.list_events(rollout_id)] == list(range(1, 32))
        assert reopened.verify_chain(rollout_id).ok
