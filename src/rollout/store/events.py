"""The audit trail: append-only events in hash chains, one chain per rollout plus a global one.

Each event's ``hash`` is ``sha256(canonical_json(event fields + prev_hash))``, where
``prev_hash`` is the hash of the event before it in the same chain (64 zeros for the first).
Editing any stored field breaks that event's hash; deleting an event leaves a gap in ``seq``;
deleting the last events, or rewriting one together with its hash, no longer matches the chain
head (``event_chains``: last seq and hash), which every append updates. ``verify_chain``
re-checks all of it and names the first bad event. The head's hash (``ChainReport.last_hash``)
may be copied somewhere else to catch even a wholesale rewrite.

Appends lock the chain head row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the write
transaction already holds the database's write lock), so concurrent writers get consecutive
seqs, never the same one, and a rolled-back transaction leaves no gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rollout.errors import NotFound
from rollout.store._db import StoreBase, locked_row
from rollout.store._json import canonical_json, json_object
from rollout.store.models import Event, EventChain, Rollout
from rollout.store.records import GLOBAL_CHAIN, ChainReport, EventRecord, JSONObject, NewEvent

ZERO_HASH = "0" * 64


def chain_of(rollout_id: str | None) -> str:
    return rollout_id if rollout_id is not None else GLOBAL_CHAIN


def event_hash(
    *,
    chain: str,
    rollout_id: str | None,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    message: str,
    data: JSONObject,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the event's canonical JSON, ``prev_hash`` included.

    ``at`` enters as UTC ISO-8601 with microseconds, e.g. ``2025-03-01T12:00:00.000000+00:00``.
    """
    body = {
        "chain": chain,
        "rollout_id": rollout_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "kind": kind,
        "message": message,
        "data": data,
        "prev_hash": prev_hash,
    }
    return sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _hashed_fields(row: Event) -> dict[str, Any]:
    """The fields of ``row`` that its hash covers, named as :func:`event_hash` and
    :class:`EventRecord` name them."""
    return {
        "chain": row.chain,
        "rollout_id": row.rollout_id,
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "kind": row.kind,
        "message": row.message,
        "data": row.data_json,
        "prev_hash": row.prev_hash,
    }


def _stored_hash(row: Event) -> str:
    return event_hash(**_hashed_fields(row))


def to_event_record(row: Event) -> EventRecord:
    return EventRecord(id=row.id, hash=row.hash, **_hashed_fields(row))


def append_events(
    session: Session, rollout_id: str | None, events: Sequence[NewEvent], at: datetime
) -> list[EventRecord]:
    """Append ``events`` in order to the chain of ``rollout_id`` (None: the global chain),
    inside the caller's transaction. The caller has checked that the rollout exists."""
    if not events:
        return []
    chain = chain_of(rollout_id)
    head = locked_row(
        session,
        EventChain,
        EventChain.chain == chain,
        {"chain": chain, "last_seq": 0, "last_hash": ZERO_HASH},
    )
    rows = []
    for new in events:
        row = Event(
            chain=chain,
            rollout_id=rollout_id,
            seq=head.last_seq + 1,
            at=at,
            actor=new.actor,
            kind=new.kind,
            message=new.message,
            data_json=json_object(new.data, f"data of event {new.kind}"),
            prev_hash=head.last_hash,
        )
        row.hash = _stored_hash(row)
        session.add(row)
        rows.append(row)
        head.last_seq, head.last_hash = row.seq, row.hash
    session.flush()
    return [to_event_record(row) for row in rows]


def _verify(session: Session, chain: str, rollout_id: str | None) -> ChainReport:
    head = session.get(EventChain, chain)
    query = select(Event).where(Event.chain == chain).order_by(Event.seq)
    expected, prev_hash, checked = 1, ZERO_HASH, 0

    def bad(seq: int, problem: str) -> ChainReport:
        return ChainReport(chain, rollout_id, False, checked, seq, problem, prev_hash)

    for row in session.scalars(query.execution_options(yield_per=500)):
        if row.seq != expected:
            return bad(expected, f"event {expected} is missing (the next stored one is {row.seq})")
        if row.prev_hash != prev_hash:
            return bad(
                row.seq - 1,
                f"event {row.seq} does not link to the stored event {row.seq - 1}: "
                f"one of them was rewritten",
            )
        if _stored_hash(row) != row.hash:
            return bad(row.seq, "its content does not match its hash: it was edited")
        expected, prev_hash, checked = expected + 1, row.hash, checked + 1
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, ZERO_HASH)
    if head_seq > checked:
        return bad(checked + 1, f"events {checked + 1} to {head_seq} are missing from the end")
    if head_seq < checked:
        return bad(head_seq + 1, "events after the chain's recorded end were inserted")
    if head_hash != prev_hash:
        return bad(checked, "the last event does not match the chain's recorded hash")
    return ChainReport(chain, rollout_id, True, checked, last_hash=prev_hash)


class EventsMixin(StoreBase):
    """Appending, listing and verifying audit events."""

    def append_event(self, rollout_id: str | None, event: NewEvent) -> EventRecord:
        """Append one event to the rollout's chain, or to the global chain when None.

        Raises ``NotFound`` for an unknown rollout.
        """
        with self._write() as session:
            if rollout_id is not None and session.get(Rollout, rollout_id) is None:
                raise NotFound(f"no rollout {rollout_id!r}")
            return append_events(session, rollout_id, [event], self._now())[0]

    def list_events(
        self, rollout_id: str | None, after_seq: int | None = None, limit: int | None = None
    ) -> list[EventRecord]:
        """Events of one chain in seq order, those after ``after_seq`` only when given
        (so a reader can resume where it stopped), at most ``limit`` of them."""
        query = select(Event).where(Event.chain == chain_of(rollout_id)).order_by(Event.seq)
        if after_seq is not None:
            query = query.where(Event.seq > after_seq)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return [to_event_record(row) for row in session.scalars(query)]

    def verify_chain(self, rollout_id: str | None) -> ChainReport:
        """Re-check the hash chain of a rollout (None: the global chain); see the module doc."""
        with self._read() as session:
            return _verify(session, chain_of(rollout_id), rollout_id)

    def verify_all_chains(self) -> list[ChainReport]:
        """``verify_chain`` for every chain that has a head, the global one first."""
        with self._read() as session:
            chains = sorted(
                session.scalars(select(EventChain.chain)), key=lambda c: (c != GLOBAL_CHAIN, c)
            )
            return [
                _verify(session, chain, None if chain == GLOBAL_CHAIN else chain)
                for chain in chains
            ]
