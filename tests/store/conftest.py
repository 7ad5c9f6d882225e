"""Store fixtures: every store test runs on SQLite (a file in tmp_path) and on PostgreSQL.

PostgreSQL isolation: one database ``rollout_test_<random>`` per session (dropped at the end)
and, inside it, a fresh schema per test, selected through the connection's ``search_path``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url
from store_fakes import FakeClock

from rollout.store import Store, open_store


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


@pytest.fixture
def pg_schema_url(pg_database: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema of the test database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = _admin_conninfo(pg_database)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(pg_database)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'rollout.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(db_url, clock=clock) as opened:
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
