"""Store fixtures: every store test runs on SQLite (a file in tmp_path) and on PostgreSQL.

PostgreSQL isolation: one database ``rollout_test_<random>`` per session (dropped at the end).
Migration tests get a fresh empty schema each (selected through the connection's
``search_path``); the other tests share one migrated schema whose tables are emptied first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from store_fakes import FakeClock

from rollout.store import Store, open_store, upgrade_database
from rollout.store.models import Base


def _admin_conninfo(sqlalchemy_url: str, database: str | None = None) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database(postgres_url: str) -> Iterator[str]:
    """A throwaway database on the test server; yields its SQLAlchemy URL."""
    name = f"rollout_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_conninfo(postgres_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _fresh_schema(database_url: str) -> Iterator[str]:
    """A new, empty schema in the test database; yields a URL whose connections see only it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = _admin_conninfo(database_url)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(database_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema_url(pg_database: str) -> Iterator[str]:
    """An empty PostgreSQL schema of its own for one test."""
    with _fresh_schema(pg_database) as url:
        yield url


@pytest.fixture(scope="session")
def pg_store_url(pg_database: str) -> Iterator[str]:
    """One schema migrated once per session; each store test starts from its emptied tables."""
    with _fresh_schema(pg_database) as url:
        upgrade_database(url)
        yield url


def _empty_tables(url: str) -> None:
    # DELETE, children first: on tables this small it is many times faster than TRUNCATE.
    with psycopg.connect(_admin_conninfo(url)) as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(f"DELETE FROM {table.name}")


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database the store has never touched, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rollout.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest schema with no rows, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rollout.db'}"
    url: str = request.getfixturevalue("pg_store_url")
    _empty_tables(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(store_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def new_rollout(store: Store) -> Callable[..., str]:
    """Makes a pending rollout with a small plan and returns its id."""

    def make(name: str = "checkout", version: str = "2.4.0") -> str:
        record = store.create_rollout(
            name=name,
            version=version,
            plan_yaml=f"name: {name}\n",
            plan_json={"name": name, "stages": [{"percent": 5}, {"percent": 100}]},
            created_by="ann",
        )
        return record.id

    return make
