"""SQLAlchemy ORM tables. Private to the store: nothing outside it sees these classes.

A change here needs a migration in ``migrations/versions`` too; a test compares the migrated
schema with these models and fails on any drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator

from rollout.store.records import ActionStatus, ApprovalDecision, RolloutStatus

# Deterministic constraint names, so later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only turns an INTEGER PRIMARY KEY into an auto-incrementing rowid, not a BIGINT one.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC (SQLAlchemy's fixed-width text, which also sorts and compares correctly) and given its
    UTC zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: type[Any]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(none_as_null=True),
    }


class Rollout(Base):
    __tablename__ = "rollouts"
    __table_args__ = (
        CheckConstraint(_one_of("status", RolloutStatus), name="status"),
        CheckConstraint("revision >= 1", name="revision"),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    plan_yaml: Mapped[str] = mapped_column(Text)
    plan_json: Mapped[dict[str, Any]]
    state_json: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    # Saved with the state: the runner still has actions of this state to carry out (an ended
    # rollout's last announcements), so a controller must lease it even though it has ended.
    pending_work: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class EventChain(Base):
    """The head of each audit chain: appenders lock this row, so seq and prev_hash are assigned
    one at a time, and a deleted last event is still noticed (the head remembers it)."""

    __tablename__ = "event_chains"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("chain", "seq"), Index(None, "rollout_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(40), ForeignKey("event_chains.chain"))
    rollout_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("rollouts.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data_json: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Action(Base):
    __tablename__ = "actions"
    __table_args__ = (
        CheckConstraint(_one_of("status", ActionStatus), name="status"),
        Index(None, "rollout_id"),
    )

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    rollout_id: Mapped[str] = mapped_column(String(40), ForeignKey("rollouts.id"))
    step: Mapped[str] = mapped_column(String(300))
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    payload_json: Mapped[dict[str, Any]]
    result_json: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("rollout_id", "environment", "approver"),
        CheckConstraint(_one_of("decision", ApprovalDecision), name="decision"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rollout_id: Mapped[str] = mapped_column(String(40), ForeignKey("rollouts.id"))
    environment: Mapped[str] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class Environment(Base):
    """One row per environment that has flags or segments; ``config_version`` is its ETag."""

    __tablename__ = "environments"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    config_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class DefinitionRow(Base):
    """Columns shared by flags and segments (each gets its own table)."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), ForeignKey("environments.name"))
    key: Mapped[str] = mapped_column(String(200))
    definition_json: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class HistoryRow(Base):
    """Columns shared by flag and segment history: every version, who, when, what changed."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), ForeignKey("environments.name"))
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    definition_json: Mapped[dict[str, Any] | None]
    diff_json: Mapped[list[Any]] = mapped_column(JSON(none_as_null=True))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class Flag(DefinitionRow):
    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("environment", "key"),)


class FlagHistory(HistoryRow):
    __tablename__ = "flag_history"
    __table_args__ = (UniqueConstraint("environment", "key", "version"),)


class Segment(DefinitionRow):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("environment", "key"),)


class SegmentHistory(HistoryRow):
    __tablename__ = "segment_history"
    __table_args__ = (UniqueConstraint("environment", "key", "version"),)


class Telemetry(Base):
    __tablename__ = "telemetry"
    __table_args__ = (
        Index(None, "environment", "flag_key", "variant", "window_end"),
        Index(None, "received_at"),
        CheckConstraint("requests >= 0 AND errors >= 0 AND errors <= requests", name="counts"),
        CheckConstraint("window_start <= window_end", name="window"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100))
    flag_key: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(200))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    requests: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    # Distinct failing subjects (plus failures without one); NULL from SDKs that do not say.
    error_subjects: Mapped[int | None] = mapped_column(BigInteger)
    latency_sketch: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    sdk_instance: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
    # [{"name": ..., "count": ..., "value_sum": ...}], NULL when the batch tracked no event.
    events: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))


class Baseline(Base):
    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("scope", "metric"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(200))
    value: Mapped[float] = mapped_column(Float)
    window_seconds: Mapped[float] = mapped_column(Float)
    measured_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
