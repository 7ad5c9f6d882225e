"""Server fixtures: a SQLite store per test, the app with its lifespan running under an httpx
client (async tests run on asyncio through anyio's pytest plugin), and PostgreSQL isolation
(one throwaway database per session, a fresh schema per test)."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from rollout.server.app import create_app
from rollout.store import Store, open_store

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    """Redis on 127.0.0.1:6379; an optional fan-out, so its absence skips (even under CI)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        pytest.skip("Redis is not available on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store file with the schema applied, made once; tests get copies."""
    path = tmp_path_factory.mktemp("template") / "rollout.db"
    open_store(f"sqlite:///{path}").close()  # closing checkpoints the WAL into the file
    return path


@pytest.fixture
def db_file(tmp_path: Path, migrated_sqlite: Path) -> str:
    """URL of a fresh SQLite store of this test (a copy: migrating each one is slow)."""
    path = tmp_path / "rollout.db"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(db_file: str) -> Iterator[Store]:
    with open_store(db_file) as opened:
        yield opened


@pytest.fixture
def app(store: Store) -> FastAPI:
    return create_app(store, auth=False)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app in-process, lifespan (fan-out) running."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rollout.test"
        ) as client,
    ):
        yield client


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test server for this session; yields its URL."""
    name = f"rollout_server_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(postgres_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema of the session's database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(pg_database), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(pg_database)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(_conninfo(pg_database), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
