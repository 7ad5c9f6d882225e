"""Flags and segments per environment, their history, and the environment's config version.

Every change (put or delete) is one transaction that writes the new definition, a history row
(full definition, who, when, leaf-by-leaf diff), bumps the environment's ``config_version`` by
one and appends a ``flag.changed`` / ``segment.changed`` event to the global audit chain. The
environment row is locked first, so changes in one environment are serialised and the config
version never skips or repeats. Putting a definition equal to the stored one changes nothing
(a re-applied ramp after a crash does not pollute the history).

On PostgreSQL the change also sends ``NOTIFY rollout_config`` with
``{"environment": ..., "version": ...}``, delivered at commit, so every replica can push the
new config to its SSE clients.

Versions: a flag's ``version`` counts its changes, 1 for the first put; ``expected_version``
makes a put or delete conditional (``0`` = "must not exist yet"), raising ``Conflict`` on a
mismatch, which is how two editors cannot overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rollout.errors import Conflict, FlagError, NotFound
from rollout.store._db import StoreBase, locked_row
from rollout.store._json import canonical_json, json_diff, json_object
from rollout.store.events import append_events
from rollout.store.models import (
    DefinitionRow,
    Environment,
    Flag,
    FlagHistory,
    HistoryRow,
    Segment,
    SegmentHistory,
)
from rollout.store.records import (
    ChangeKind,
    ConfigSnapshot,
    DefinitionChange,
    FlagRecord,
    NewEvent,
    SegmentRecord,
    VersionedDefinition,
)

CONFIG_CHANNEL = "rollout_config"
MAX_ENVIRONMENT_LENGTH = 100
MAX_KEY_LENGTH = 200

R = TypeVar("R", bound=VersionedDefinition)


class FlagAccess(Protocol):
    """Reading and writing one flag, as the store offers it (see :class:`FlagsMixin`); the flag
    service, its HTTP client and the flag traffic router's store offer the same two calls."""

    def get_flag(self, environment: str, key: str) -> FlagRecord: ...

    def put_flag(
        self,
        environment: str,
        key: str,
        definition: Mapping[str, Any],
        actor: str,
        expected_version: int | None = None,
    ) -> FlagRecord: ...


@dataclass(frozen=True)
class _Kind(Generic[R]):
    name: Literal["flag", "segment"]
    table: type[DefinitionRow]
    history: type[HistoryRow]
    record: type[R]

    def to_record(self, row: DefinitionRow) -> R:
        return self.record(
            environment=row.environment,
            key=row.key,
            definition=row.definition_json,
            version=row.version,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )


FLAG = _Kind("flag", Flag, FlagHistory, FlagRecord)
SEGMENT = _Kind("segment", Segment, SegmentHistory, SegmentRecord)
_CHANGES: dict[str, ChangeKind] = {"created": "created", "updated": "updated", "deleted": "deleted"}


def _check_names(environment: str, key: str) -> None:
    for field, value, longest in (
        ("environment", environment, MAX_ENVIRONMENT_LENGTH),
        ("key", key, MAX_KEY_LENGTH),
    ):
        if not value or not value.strip():
            raise FlagError("must not be empty", field)
        if len(value) > longest:
            raise FlagError(f"is {len(value)} characters long, at most {longest} fit", field)


def _as_change(kind: _Kind[Any], row: HistoryRow) -> DefinitionChange:
    return DefinitionChange(
        kind=kind.name,
        environment=row.environment,
        key=row.key,
        version=row.version,
        change=_CHANGES[row.change],
        definition=row.definition_json,
        diff=tuple(row.diff_json),
        actor=row.actor,
        at=row.at,
    )


class FlagsMixin(StoreBase):
    """Flags, segments and per-environment config versions."""

    # -- flags ---------------------------------------------------------------------------

    def get_flag(self, environment: str, key: str) -> FlagRecord:
        """The flag's current definition; ``NotFound`` if it does not exist there."""
        return self._get(FLAG, environment, key)

    def list_flags(self, environment: str) -> list[FlagRecord]:
        """Every flag of the environment, by key."""
        return self._list(FLAG, environment)

    def put_flag(
        self,
        environment: str,
        key: str,
        definition: Mapping[str, Any],
        actor: str,
        expected_version: int | None = None,
    ) -> FlagRecord:
        """Create or replace a flag's definition; returns it with its new ``version``."""
        return self._put(
            FLAG, environment, key, definition, actor=actor, expected_version=expected_version
        )

    def delete_flag(
        self, environment: str, key: str, actor: str, expected_version: int | None = None
    ) -> DefinitionChange:
        """Delete a flag (``NotFound`` if absent); returns the history entry of the delete."""
        return self._delete(FLAG, environment, key, actor, expected_version)

    def flag_history(self, environment: str, key: str) -> list[DefinitionChange]:
        """Every version of the flag, oldest first, deletes included."""
        return self._history(FLAG, environment, key)

    # -- segments ------------------------------------------------------------------------

    def get_segment(self, environment: str, key: str) -> SegmentRecord:
        return self._get(SEGMENT, environment, key)

    def list_segments(self, environment: str) -> list[SegmentRecord]:
        return self._list(SEGMENT, environment)

    def put_segment(
        self,
        environment: str,
        key: str,
        definition: Mapping[str, Any],
        actor: str,
        expected_version: int | None = None,
    ) -> SegmentRecord:
        return self._put(
            SEGMENT, environment, key, definition, actor=actor, expected_version=expected_version
        )

    def delete_segment(
        self, environment: str, key: str, actor: str, expected_version: int | None = None
    ) -> DefinitionChange:
        return self._delete(SEGMENT, environment, key, actor, expected_version)

    def segment_history(self, environment: str, key: str) -> list[DefinitionChange]:
        return self._history(SEGMENT, environment, key)

    # -- whole environments ----------------------------------------------------------------

    def config_version(self, environment: str) -> int:
        """The environment's config version (0 if nothing was ever configured there)."""
        with self._read() as session:
            return _config_version(session, environment)

    def get_config(self, environment: str) -> ConfigSnapshot:
        """All flags and segments of the environment with the version they form together."""
        with self._read() as session:
            return ConfigSnapshot(
                environment=environment,
                version=_config_version(session, environment),
                flags=tuple(_rows(session, FLAG, environment)),
                segments=tuple(_rows(session, SEGMENT, environment)),
            )

    def list_environments(self) -> list[str]:
        """Environments that have ever had a flag or segment, by name."""
        with self._read() as session:
            return list(session.scalars(select(Environment.name).order_by(Environment.name)))

    # -- shared by flags and segments -------------------------------------------------------

    def _get(self, kind: _Kind[R], environment: str, key: str) -> R:
        with self._read() as session:
            return kind.to_record(_existing(session, kind, environment, key))

    def _list(self, kind: _Kind[R], environment: str) -> list[R]:
        with self._read() as session:
            return _rows(session, kind, environment)

    def _history(self, kind: _Kind[Any], environment: str, key: str) -> list[DefinitionChange]:
        query = (
            select(kind.history)
            .where(kind.history.environment == environment, kind.history.key == key)
            .order_by(kind.history.version)
        )
        with self._read() as session:
            return [_as_change(kind, row) for row in session.scalars(query)]

    def _put(
        self,
        kind: _Kind[R],
        environment: str,
        key: str,
        definition: Mapping[str, Any],
        *,
        actor: str,
        expected_version: int | None,
    ) -> R:
        _check_names(environment, key)
        new = json_object(definition, f"definition of {kind.name} {key}")
        now = self._now()
        with self._write() as session:
            env = _locked_environment(session, environment, now)
            row = _current(session, kind, environment, key)
            _check_expected(kind, key, row, expected_version)
            if row is not None and canonical_json(row.definition_json) == canonical_json(new):
                return kind.to_record(row)
            before = None if row is None else row.definition_json
            version = _last_version(session, kind, environment, key) + 1
            if row is None:
                row = kind.table(environment=environment, key=key)
                session.add(row)
            row.definition_json, row.version = new, version
            row.updated_at, row.updated_by = now, actor
            self._record_change(
                session, kind, env, key, version, before=before, after=new, actor=actor, at=now
            )
            return kind.to_record(row)

    def _delete(
        self,
        kind: _Kind[Any],
        environment: str,
        key: str,
        actor: str,
        expected_version: int | None,
    ) -> DefinitionChange:
        now = self._now()
        with self._write() as session:
            env = _locked_environment(session, environment, now)
            row = _existing(session, kind, environment, key)
            _check_expected(kind, key, row, expected_version)
            version, before = row.version + 1, row.definition_json
            session.delete(row)
            history = self._record_change(
                session, kind, env, key, version, before=before, after=None, actor=actor, at=now
            )
            return _as_change(kind, history)

    def _record_change(
        self,
        session: Session,
        kind: _Kind[Any],
        env: Environment,
        key: str,
        version: int,
        *,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        actor: str,
        at: datetime,
    ) -> HistoryRow:
        """History row, config version bump, audit event and notification of one change from
        ``before`` to ``after`` (None: the definition did not exist then)."""
        change: ChangeKind = (
            "deleted" if after is None else "created" if before is None else "updated"
        )
        diff = json_diff({} if before is None else before, {} if after is None else after)
        env.config_version += 1
        env.updated_at = at
        history = kind.history(
            environment=env.name,
            key=key,
            version=version,
            change=change,
            definition_json=after,
            diff_json=diff,
            actor=actor,
            at=at,
        )
        session.add(history)
        session.flush()
        event = NewEvent(
            kind=f"{kind.name}.changed",
            message=f"{actor} {change} {kind.name} {key} in {env.name} (version {version})",
            data={
                "environment": env.name,
                "key": key,
                "version": version,
                "change": change,
                "diff": diff,
                "config_version": env.config_version,
            },
            actor=actor,
        )
        append_events(session, None, [event], at)
        if session.get_bind().dialect.name == "postgresql":
            payload = canonical_json({"environment": env.name, "version": env.config_version})
            session.execute(select(func.pg_notify(CONFIG_CHANNEL, payload)))
        return history


def _current(
    session: Session, kind: _Kind[Any], environment: str, key: str
) -> DefinitionRow | None:
    query = select(kind.table).where(kind.table.environment == environment, kind.table.key == key)
    return session.scalars(query).one_or_none()


def _existing(session: Session, kind: _Kind[Any], environment: str, key: str) -> DefinitionRow:
    row = _current(session, kind, environment, key)
    if row is None:
        raise NotFound(f"no {kind.name} {key!r} in {environment!r}")
    return row


def _rows(session: Session, kind: _Kind[R], environment: str) -> list[R]:
    query = select(kind.table).where(kind.table.environment == environment)
    return [kind.to_record(row) for row in session.scalars(query.order_by(kind.table.key))]


def _last_version(session: Session, kind: _Kind[Any], environment: str, key: str) -> int:
    # From the history, not the live row: a deleted flag's number keeps counting on re-create.
    query = select(func.max(kind.history.version)).where(
        kind.history.environment == environment, kind.history.key == key
    )
    return session.scalar(query) or 0


def _check_expected(
    kind: _Kind[Any], key: str, row: DefinitionRow | None, expected_version: int | None
) -> None:
    current = 0 if row is None else row.version
    if expected_version is not None and expected_version != current:
        actual = "does not exist" if row is None else f"is at version {current}"
        raise Conflict(
            f"{kind.name} {key} {actual}, not version {expected_version}: "
            "someone else changed it first"
        )


def _config_version(session: Session, environment: str) -> int:
    env = session.get(Environment, environment)
    return 0 if env is None else env.config_version


def _locked_environment(session: Session, environment: str, now: datetime) -> Environment:
    """The environment row, created on first use, locked for the rest of the transaction."""
    return locked_row(
        session,
        Environment,
        Environment.name == environment,
        {"name": environment, "config_version": 0, "updated_at": now},
    )
