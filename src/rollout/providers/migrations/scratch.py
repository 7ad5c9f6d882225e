"""Scratch databases: created fresh for one check and dropped after it, whatever happens.

Rollout never migrates back and forth on a database that holds anything. :func:`scratch_database`
takes a *server* URL and yields the URL of a new, empty database:

- SQLite: a new file in a temporary directory (the file the URL names is never touched);
- a database server (PostgreSQL, MySQL, ...): ``CREATE DATABASE rollout_scratch_<12 hex>`` on
  the server the URL points to, connecting as its user; dropped afterwards (on PostgreSQL 13+
  with ``FORCE``, so a connection the project's ``env.py`` left open cannot keep it alive).

The server URL is the plan's ``scratch_database_url`` when given, else its ``database_url``
(the user then needs the right to create databases there).
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from rollout.errors import MigrationError
from rollout.providers.migrations._errors import explain
from rollout.providers.migrations.urls import display, is_sqlite, parse

SCRATCH_PREFIX = "rollout_scratch_"


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Yield the (expanded) URL of a new empty database beside ``server_url``; drop it on exit.

    ``MigrationError`` when the database cannot be created, saying where and why.
    """
    parsed = parse(server_url)
    if is_sqlite(parsed):
        with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as folder:
            yield parsed.set(database=str(Path(folder) / "scratch.db")).render_as_string(
                hide_password=False
            )
        return
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    _create(parsed, name)
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(parsed, name)


def _admin(url: URL, statement: str) -> None:
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _quoted(url: URL, name: str) -> str:
    dialect = create_engine(url, poolclass=NullPool).dialect
    return str(dialect.identifier_preparer.quote_identifier(name))


def _create(url: URL, name: str) -> None:
    try:
        _admin(url, f"CREATE DATABASE {_quoted(url, name)}")
    except SQLAlchemyError as exc:
        raise MigrationError(
            f"cannot create a scratch database on {display(url)}: {explain(exc)} "
            "(set migrations.scratch_database_url to a server where this user may create "
            "databases)"
        ) from exc


def _drop(url: URL, name: str) -> None:
    force = ""
    if url.get_backend_name() == "postgresql":
        force = " WITH (FORCE)"  # PostgreSQL 13+; older servers get the plain form below
    try:
        _admin(url, f"DROP DATABASE IF EXISTS {_quoted(url, name)}{force}")
    except SQLAlchemyError as exc:
        if not force:
            raise MigrationError(
                f"cannot drop the scratch database {name} on {display(url)}: {explain(exc)}"
            ) from exc
        try:
            _admin(url, f"DROP DATABASE IF EXISTS {_quoted(url, name)}")
        except SQLAlchemyError as again:
            raise MigrationError(
                f"cannot drop the scratch database {name} on {display(url)}: {explain(again)}"
            ) from again
