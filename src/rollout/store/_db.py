"""Connections: which database, how to talk to it, and how its errors become ours.

``ROLLOUT_DATABASE_URL`` picks the database; without it the store is the SQLite file
``.rollout/rollout.db`` under the current directory. ``postgres://`` and ``postgresql://`` URLs
are read as ``postgresql+psycopg://`` (psycopg 3 is the driver Rollout ships with).

SQLite is opened in WAL mode (readers never block the writer), with foreign keys enforced and a
busy timeout, and write transactions start with ``BEGIN IMMEDIATE``: a transaction that reads
and then writes (the audit chain does) takes the write lock up front instead of failing halfway
when another process wrote first.
"""

from __future__ import annotations

import json
import os
import secrets
from base64 import b32encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, create_engine, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from rollout.errors import Conflict, StoreError

DATABASE_URL_ENV = "ROLLOUT_DATABASE_URL"
DEFAULT_SQLITE_PATH = Path(".rollout") / "rollout.db"
SQLITE_BUSY_TIMEOUT_S = 30.0
# Execution option carried by the write engine; the SQLite begin hook reads it.
_WRITE_OPTION = "rollout_write"

Clock = Callable[[], datetime]
M = TypeVar("M")


def system_clock() -> datetime:
    return datetime.now(UTC)


def resolve_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$ROLLOUT_DATABASE_URL``, else the default file.

    The default SQLite path is made absolute, so a later ``chdir`` does not move the database.
    """
    chosen = url or os.environ.get(DATABASE_URL_ENV) or None
    if chosen is None:
        path = (Path.cwd() / DEFAULT_SQLITE_PATH).resolve()
        return f"sqlite:///{path}"
    for prefix in ("postgres://", "postgresql://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix) :]
    return chosen


def _dumps(value: Any) -> str:
    # NaN and Infinity are not JSON; PostgreSQL would refuse them, so SQLite must too.
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str | None = None) -> Engine:
    """A SQLAlchemy engine for ``url`` (resolved as in :func:`resolve_url`).

    Raises ``StoreError`` for a malformed URL, a backend other than SQLite or PostgreSQL, or a
    driver that is not installed.
    """
    text = resolve_url(url)
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {text!r}") from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend == "postgresql":
            return create_engine(parsed, pool_pre_ping=True, json_serializer=_dumps)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"no database driver for {parsed.drivername!r}: {exc}") from exc
    raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    if not in_memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        json_serializer=_dumps,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # An in-memory database lives and dies with its connection: share the one.
        **({"poolclass": StaticPool} if in_memory else {}),
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Stop the sqlite3 module from issuing its own BEGIN; _sqlite_on_begin does it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough in WAL mode, and faster
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def write_engine(engine: Engine) -> Engine:
    """The same engine (same pool), flagged so SQLite write transactions begin IMMEDIATE."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _reason(exc: SQLAlchemyError) -> str:
    """The first line of the driver's own message (SQLAlchemy's adds SQL and a help link)."""
    detail = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip()
    return detail.splitlines()[0] if detail else type(exc).__name__


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn SQLAlchemy's exceptions into the store's: a broken uniqueness or integrity rule is a
    ``Conflict`` (someone else wrote first); anything else is a ``StoreError``."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"the database refused the change: {_reason(exc)}") from exc
    except OperationalError as exc:
        raise StoreError(f"the database is unavailable or busy: {_reason(exc)}") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {_reason(exc)}") from exc


def locked_row(
    session: Session, model: type[M], where: ColumnElement[bool], values: dict[str, Any]
) -> M:
    """The row of ``model`` matching ``where``, locked until the transaction ends (``SELECT ...
    FOR UPDATE``; SQLite's write transaction holds the whole database already). When there is
    none it is inserted from ``values`` first; a concurrent inserter is tolerated (``ON
    CONFLICT DO NOTHING``), so of two first writers both end up with the one row, in turn."""
    query = select(model).where(where).with_for_update()
    row = session.scalars(query).one_or_none()
    if row is not None:
        return row
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())
    return session.scalars(query.execution_options(populate_existing=True)).one()


def utc(value: datetime) -> datetime:
    """``value`` converted to UTC; a naive datetime is refused (its zone would be a guess)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware times")
    return value.astimezone(UTC)


def new_id(prefix: str) -> str:
    """A short readable random id: ``prefix`` + 10 lowercase base32 characters (50 bits)."""
    return prefix + b32encode(secrets.token_bytes(7)).decode("ascii")[:10].lower()


class StoreBase:
    """Engine, clock and transaction scopes shared by every part of the store."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._writer = write_engine(engine)
        # Reads see one snapshot throughout (a config and its version, a chain and its head).
        # SQLite's read transactions already do; PostgreSQL needs REPEATABLE READ for it.
        self._reader = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._clock = clock or system_clock

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _now(self, given: datetime | None = None) -> datetime:
        """``given``, or else the clock's reading, in UTC."""
        return utc(self._clock() if given is None else given)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only transaction on one consistent snapshot; it never blocks writers."""
        with translated_errors(), Session(self._reader) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A read-write transaction, committed when the block ends without an exception."""
        with (
            translated_errors(),
            Session(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
