"""Rollouts: creation, state saves under optimistic concurrency, and controller leases.

A state save is one transaction: the new status and state, ``revision + 1`` and the events that
explain the step. It succeeds only if the stored revision is still the one the caller read;
otherwise ``Conflict`` (someone else saved first), and nothing is written.

Leases let several controllers share one database: a controller owns a rollout until
``lease_expires_at``; acquiring is a single ``UPDATE ... WHERE lease is free or expired or
already mine``, which the database runs row by row under a lock, so of two racing controllers
exactly one gets each rollout. Terminal rollouts are not leased, unless the caller asks for
those whose state was saved with ``pending_work`` (an ended rollout whose last actions, such as
its final announcements, a controller has yet to carry out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, or_, select, update
from sqlalchemy.orm import Session

from rollout.errors import Conflict, LeaseLost, NotFound, StoreError
from rollout.store._db import StoreBase, new_id
from rollout.store._json import json_object
from rollout.store.events import append_events
from rollout.store.models import Rollout
from rollout.store.records import TERMINAL_STATUSES, NewEvent, RolloutRecord, RolloutStatus

ROLLOUT_ID_PREFIX = "ro_"


def _status(value: str) -> RolloutStatus:
    try:
        return RolloutStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in RolloutStatus)
        raise StoreError(f"unknown rollout status {value!r} (known: {known})") from None


def _record(row: Rollout) -> RolloutRecord:
    return RolloutRecord(
        id=row.id,
        name=row.name,
        version=row.version,
        status=_status(row.status),
        plan_yaml=row.plan_yaml,
        plan_json=row.plan_json,
        state_json=row.state_json,
        revision=row.revision,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        pending_work=row.pending_work,
    )


def require_rollout(session: Session, rollout_id: str) -> Rollout:
    row = session.get(Rollout, rollout_id)
    if row is None:
        raise NotFound(f"no rollout {rollout_id!r}")
    return row


def _leasable(owner: str, now: datetime, include_pending_terminal: bool) -> ColumnElement[bool]:
    active: ColumnElement[bool] = Rollout.status.not_in([s.value for s in TERMINAL_STATUSES])
    if include_pending_terminal:
        active = or_(active, Rollout.pending_work.is_(True))
    return and_(
        active,
        or_(
            Rollout.lease_expires_at.is_(None),
            Rollout.lease_expires_at < now,
            Rollout.lease_owner == owner,
        ),
    )


def _check_ttl(ttl_seconds: float) -> timedelta:
    if not ttl_seconds > 0:
        raise ValueError(f"a lease lasts a positive number of seconds, not {ttl_seconds}")
    return timedelta(seconds=ttl_seconds)


class RolloutsMixin(StoreBase):
    """Rollout rows and their leases."""

    def create_rollout(
        self,
        *,
        name: str,
        version: str,
        plan_yaml: str,
        plan_json: Mapping[str, Any],
        created_by: str,
        state_json: Mapping[str, Any] | None = None,
        status: RolloutStatus | str = RolloutStatus.PENDING,
    ) -> RolloutRecord:
        """Store a new rollout at revision 1 and open its audit chain with a
        ``rollout.created`` event. ``plan_yaml`` is kept as given; ``plan_json`` is the
        validated plan snapshot; ``state_json`` the engine's initial state (default ``{}``)."""
        now = self._now()
        row = Rollout(
            id=new_id(ROLLOUT_ID_PREFIX),
            name=name,
            version=version,
            status=_status(str(status)).value,
            plan_yaml=plan_yaml,
            plan_json=json_object(plan_json, "plan_json"),
            state_json=json_object(state_json or {}, "state_json"),
            revision=1,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        created = NewEvent(
            kind="rollout.created",
            message=f"{created_by} created rollout {name} of version {version}",
            data={"name": name, "version": version, "status": row.status},
            actor=created_by,
        )
        with self._write() as session:
            session.add(row)
            session.flush()
            append_events(session, row.id, [created], now)
            return _record(row)

    def get_rollout(self, rollout_id: str) -> RolloutRecord:
        """The rollout; ``NotFound`` if there is none with that id."""
        with self._read() as session:
            return _record(require_rollout(session, rollout_id))

    def list_rollouts(
        self,
        status: RolloutStatus | str | None = None,
        *,
        name: str | None = None,
        active_only: bool = False,
        limit: int | None = None,
    ) -> list[RolloutRecord]:
        """Rollouts, newest first, filtered by status, by plan name, or to the non-terminal."""
        query = select(Rollout).order_by(Rollout.created_at.desc(), Rollout.id.desc())
        if status is not None:
            query = query.where(Rollout.status == _status(str(status)).value)
        if name is not None:
            query = query.where(Rollout.name == name)
        if active_only:
            query = query.where(Rollout.status.not_in([s.value for s in TERMINAL_STATUSES]))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return [_record(row) for row in session.scalars(query)]

    def save_rollout_state(
        self,
        rollout_id: str,
        expected_revision: int,
        status: RolloutStatus | str,
        state_json: Mapping[str, Any],
        events: Sequence[NewEvent] = (),
        *,
        lease_owner: str | None = None,
        pending_work: bool = False,
    ) -> RolloutRecord:
        """Save the engine's new state and its events atomically; returns the new record
        (``revision == expected_revision + 1``). ``pending_work`` says the state holds actions
        still to be carried out (see :meth:`acquire_lease`).

        Raises ``Conflict`` when the stored revision is not ``expected_revision``, ``NotFound``
        for an unknown rollout and, when ``lease_owner`` is given, ``LeaseLost`` unless that
        owner holds an unexpired lease. Nothing is written when it raises.
        """
        status_value = _status(str(status)).value
        now = self._now()
        conditions = [Rollout.id == rollout_id, Rollout.revision == expected_revision]
        if lease_owner is not None:
            conditions += [Rollout.lease_owner == lease_owner, Rollout.lease_expires_at >= now]
        statement = (
            update(Rollout)
            .where(*conditions)
            .values(
                status=status_value,
                state_json=json_object(state_json, "state_json"),
                revision=Rollout.revision + 1,
                updated_at=now,
                pending_work=pending_work,
            )
            .returning(Rollout)
            .execution_options(populate_existing=True)
        )
        with self._write() as session:
            row = session.scalars(statement).one_or_none()
            if row is None:
                current = require_rollout(session, rollout_id)
                if lease_owner is not None and (
                    current.lease_owner != lease_owner
                    or current.lease_expires_at is None
                    or current.lease_expires_at < now
                ):
                    raise LeaseLost(
                        f"{lease_owner} no longer holds the lease on rollout {rollout_id}"
                    )
                raise Conflict(
                    f"rollout {rollout_id} is at revision {current.revision}, "
                    f"not {expected_revision}: someone else saved it first"
                )
            append_events(session, rollout_id, events, now)
            return _record(row)

    def acquire_lease(
        self,
        rollout_id: str | None,
        owner: str,
        ttl_seconds: float,
        now: datetime | None = None,
        *,
        limit: int | None = None,
        include_pending_terminal: bool = False,
    ) -> list[str]:
        """Lease one rollout, or with ``rollout_id=None`` every free non-terminal rollout, to
        ``owner`` until ``now + ttl_seconds``; returns the ids ``owner`` now holds, sorted.
        ``include_pending_terminal`` adds the ended rollouts saved with ``pending_work`` (a
        controller died before carrying out their last actions).

        A lease is free when there is none, it has expired (``lease_expires_at < now``) or it
        is ``owner``'s own (re-acquiring extends it). ``limit`` caps how many rollouts ``owner``
        holds after the call: its own leases are kept first, then the oldest free rollouts fill
        the rest, skipping rows another controller is taking at that moment.
        Example: A acquires at 12:00:00 for 30 s; B asking at 12:00:20 gets ``[]``; B asking at
        12:00:31 gets the rollout, and A's next save with ``lease_owner="A"`` raises LeaseLost.
        """
        when = self._now(now)
        ttl = _check_ttl(ttl_seconds)
        condition = _leasable(owner, when, include_pending_terminal)
        if rollout_id is not None:
            condition = and_(condition, Rollout.id == rollout_id)
        if limit is not None:
            # Pick the candidates first; SKIP LOCKED lets other controllers pick different ones.
            own_first = case((Rollout.lease_owner == owner, 0), else_=1)
            candidates = (
                select(Rollout.id)
                .where(condition)
                .order_by(own_first, Rollout.created_at, Rollout.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            condition = and_(condition, Rollout.id.in_(candidates.scalar_subquery()))
        statement = (
            update(Rollout)
            .where(condition)
            .values(lease_owner=owner, lease_expires_at=when + ttl)
            .returning(Rollout.id)
        )
        with self._write() as session:
            return sorted(session.scalars(statement))

    def renew_lease(
        self, rollout_id: str, owner: str, ttl_seconds: float, now: datetime | None = None
    ) -> datetime:
        """Extend ``owner``'s unexpired lease to ``now + ttl_seconds``; returns the new expiry.

        Raises ``LeaseLost`` when ``owner`` does not hold it (expired, taken or released) and
        ``NotFound`` for an unknown rollout.
        """
        when = self._now(now)
        expires = when + _check_ttl(ttl_seconds)
        statement = (
            update(Rollout)
            .where(
                Rollout.id == rollout_id,
                Rollout.lease_owner == owner,
                Rollout.lease_expires_at >= when,
            )
            .values(lease_expires_at=expires)
            .returning(Rollout.id)
        )
        with self._write() as session:
            if session.scalars(statement).one_or_none() is None:
                require_rollout(session, rollout_id)
                raise LeaseLost(f"{owner} no longer holds the lease on rollout {rollout_id}")
        return expires

    def release_lease(self, rollout_id: str, owner: str) -> bool:
        """Give up ``owner``'s lease at once; False when ``owner`` did not hold it."""
        statement = (
            update(Rollout)
            .where(Rollout.id == rollout_id, Rollout.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .returning(Rollout.id)
        )
        with self._write() as session:
            return session.scalars(statement).one_or_none() is not None
